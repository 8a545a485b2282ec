"""The folder the strategy's relative paths start from (`REPO`): `[persistence] db_path` and
`report_dir`, the default config, data and cache folders, the Optuna study, the demo's data.

Run from a source checkout (`make`, `pip install -e`), it is the repository root, the folder that
holds `python-strategy/` and `config/`, whatever the working folder. Run from an installed package
(a wheel, as in the Docker image) there is no checkout around the code, and it is the working
folder, as for the engine's relative paths: the image's `/app`, which holds `config/` and the
`reports/` volume.
"""

from __future__ import annotations

from pathlib import Path


def root_for(module_file: Path, cwd: Path) -> Path:
    """The repository root around `module_file` (this package's `paths.py`, in
    `<root>/python-strategy/src/flashcrash/`) when it is one, else `cwd`."""
    checkout = module_file.resolve().parents[3]
    if (checkout / "config" / "schema.toml").is_file() and (checkout / "python-strategy").is_dir():
        return checkout
    return cwd


REPO = root_for(Path(__file__), Path.cwd())
