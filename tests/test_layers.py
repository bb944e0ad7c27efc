"""The architecture is enforced: import-linter's contracts in pyproject.toml (layers going
down only, workloads independent of each other, no circles between sibling modules)."""

import pathlib

from importlinter.cli import lint_imports

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_import_contracts_kept(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True) == 0
