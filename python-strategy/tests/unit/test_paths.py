"""Where the strategy's relative paths start: the repository root from a checkout, the working
folder from an installed package (the Docker image's `/app`, holding `config/` and `reports/`)."""

from __future__ import annotations

from pathlib import Path

import flashcrash.paths
from flashcrash.config import REPO_SCHEMA
from flashcrash.paths import REPO, root_for
from flashcrash.persistence.service import resolve_db_path


def test_a_checkout_resolves_against_its_repository_root(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[3]
    assert root_for(Path(flashcrash.paths.__file__), tmp_path) == root
    assert root == REPO and root / "config" / "schema.toml" == REPO_SCHEMA


def test_an_installed_package_resolves_against_the_working_folder(tmp_path: Path) -> None:
    module = tmp_path / "usr/local/lib/python3.11/site-packages/flashcrash/paths.py"
    module.parent.mkdir(parents=True)
    module.touch()
    app = tmp_path / "app"
    assert root_for(module, app) == app
    assert resolve_db_path("reports/flashcrash.db", root_for(module, app)) == app / "reports/flashcrash.db"
    # A `config/schema.toml` alone beside the code's parents is not a checkout.
    lib = module.parents[3]
    (lib / "config").mkdir()
    (lib / "config" / "schema.toml").touch()
    assert root_for(module, app) == app
    (lib / "python-strategy").mkdir()
    assert root_for(module, app) == lib
