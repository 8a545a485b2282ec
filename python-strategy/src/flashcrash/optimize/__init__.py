"""Optimisation of the strategy's configuration with Optuna: search spaces over the config keys
(`space.py`), objectives one a file (`objectives/`), trial configs and best-value overlays
(`overlay.py`), studies, storage and worker processes (`study.py`), walk-forward evaluation
(`walkforward.py`) and the `flashcrash optimize` command (`commands.py`)."""
