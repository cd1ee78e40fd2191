"""What a source file imports of backlog_watch: the public-surface and plugin tests read it."""

from __future__ import annotations

import ast


def backlog_watch_imports(source: str) -> list[str]:
    """The backlog_watch modules a source file imports (``import x`` and ``from x import y``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "backlog_watch":
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "backlog_watch"]
    return found
