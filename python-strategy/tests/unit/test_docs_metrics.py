"""The metric names the docs promise are the ones served: every strategy metric is named in README.md
(a counter with its `_total`), and every engine metric in monitoring/README.md."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from flashcrash.monitoring.metrics import PREFIX, StrategyMetrics

REPO = Path(__file__).resolve().parents[3]


def _named(text: str, name: str) -> bool:
    return re.search(r"`" + re.escape(name) + r"(`|\{)", text) is not None


def test_every_strategy_metric_is_in_the_readme() -> None:
    text = (REPO / "README.md").read_text()
    metrics = StrategyMetrics("POLUSDT", Decimal(1000))
    missing = [
        mf.name
        for mf in metrics.registry.collect()
        if not any(_named(text, n) for n in (mf.name[len(PREFIX) :], mf.name[len(PREFIX) :] + "_total"))
    ]
    assert missing == []


def test_every_engine_metric_is_in_the_monitoring_readme() -> None:
    text = (REPO / "monitoring" / "README.md").read_text()
    sources = sorted((REPO / "rust-engine" / "crates").glob("*/src/**/*.rs"))
    names = {
        m.group(1) for f in sources for m in re.finditer(r'"(flashcrash_engine_[a-z0-9_]+)"', f.read_text())
    }
    assert len(names) >= 20, names  # the engine's and the feed's registrations were found
    assert sorted(n for n in names if not _named(text, n)) == []
