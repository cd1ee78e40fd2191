"""The store is the only package that speaks SQL: no module outside backlog_watch/store imports a database
driver (sqlite3, psycopg)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import backlog_watch
from backlog_watch.store import StoreError, open_store

PACKAGE = Path(backlog_watch.__file__).parent


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_no_module_outside_the_store_imports_a_database_driver() -> None:
    modules = [p for p in PACKAGE.rglob("*.py") if (PACKAGE / "store") not in p.parents]
    assert len(modules) > 20  # the scan sees the package
    drivers = {"sqlite3", "psycopg", "psycopg_pool"}
    offenders = sorted(str(p.relative_to(PACKAGE)) for p in modules if drivers & _imports(p))
    assert offenders == []


def test_the_scan_would_see_an_import_of_sqlite3(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    import sqlite3\n    from sqlite3 import connect\n")
    assert _imports(module) == {"sqlite3"}


def test_open_store_names_the_scheme_it_cannot_open(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/bw.db")
    try:
        assert store.count_tickets() == 0
    finally:
        store.close()
    with pytest.raises(StoreError, match=r'store "mysql://\.\.\." is not supported') as caught:
        open_store("mysql://u:secret@host/db")
    assert "secret" not in str(caught.value)
