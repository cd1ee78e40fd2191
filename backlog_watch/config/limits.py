"""Limits that keep a hostile or broken config file from hanging or exhausting ``check`` and ``run``.

ruamel.yaml parses nesting recursively (a 20,000-deep ``[[[...]]]`` takes half a minute to end in a
RecursionError) and takes seconds on a multi-megabyte scalar, so both are refused by a cheap scan of the
text *before* parsing, each at its line. Aliases are shared objects in the parsed tree and only blow up
when the tree is copied into plain data, so that copy (loader.Source) counts what it produces.
"""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

MAX_LINE = 65_536
"""Characters on one line: no real key, name or template comes near it."""
MAX_FILE = 4 * 1024 * 1024
"""Characters in the whole file: the contract is 8 KB."""
MAX_DEPTH = 64
"""Nesting levels (mappings, lists, flow brackets); the contract uses six."""
MAX_VALUES = 100_000
"""Values in the config once aliases are expanded: a "billion laughs" passes it within milliseconds."""
_KEY = re.compile(r"^(\s*(?:-\s+)*)([A-Za-z0-9_.-]+)(\s*:)(?:\s|$)")
_LEAD = re.compile(r"^[ ]*(?:[-?][ ]+)*")


def refused(text: str, filename: str) -> list[str]:
    """``file:line: key: message`` for what must not reach the YAML parser; empty when the text is fine."""
    return [f"{filename}:{line}: {key + ': ' if key else ''}{message}" for line, message, key in scan(text)]


def scan(text: str) -> list[tuple[int, str, str | None]]:
    """(line, message, key) for every over-long line and the first too-deep nesting, without parsing."""
    found: list[tuple[int, str, str | None]] = []
    depth_problem = _too_deep(text)
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if len(line) > MAX_LINE:
            found.append((number, f"line is {len(line)} characters long (at most {MAX_LINE})", None))
    if found:
        found = _with_keys(lines, found)
    elif len(text) > MAX_FILE:
        found.append((1, f"the file is {len(text)} characters long (a config is at most {MAX_FILE})", None))
    return found + ([depth_problem] if depth_problem else [])


def _too_deep(text: str) -> tuple[int, str, str | None] | None:
    """The first line nested deeper than MAX_DEPTH, by indentation or by flow brackets."""
    depth, quote = 0, ""
    for number, line in enumerate(text.split("\n"), start=1):
        if len(line) > MAX_LINE:
            continue  # reported as too long; scanning it character by character would take seconds
        lead = _LEAD.match(line)
        block = len(lead.group(0)) // 2 if lead else 0
        i = 0
        while i < len(line):
            char = line[i]
            if quote:
                escaped = char == "\\" if quote == '"' else line[i : i + 2] == "''"  # \" and ''
                if escaped:
                    i += 1
                elif char == quote:
                    quote = ""
            elif char in "'\"" and _starts_scalar(line, i):
                quote = char
            elif char == "#" and (i == 0 or line[i - 1] in " \t"):
                break
            elif char in "[{":
                depth += 1
            elif char in "]}":
                depth = max(0, depth - 1)
            if block + depth > MAX_DEPTH:
                return number, f"nested deeper than {MAX_DEPTH} levels", None
            i += 1
        if block > MAX_DEPTH:
            return number, f"nested deeper than {MAX_DEPTH} levels", None
    return None


def _starts_scalar(line: str, i: int) -> bool:
    """A quote opens a quoted scalar only where a value starts (not in ``it's``)."""
    j = i - 1
    while j >= 0 and line[j] in " \t":
        j -= 1
    return j < 0 or line[j] in ":-[{,?"


def _with_keys(lines: list[str], found: list[tuple[int, str, str | None]]) -> list[tuple[int, str, str | None]]:
    """Name the key of each over-long line: parse the file with those values blanked and find the line."""
    shortened = list(lines)
    for number, _, _ in found:
        match = _KEY.match(lines[number - 1][:MAX_LINE])
        shortened[number - 1] = match.group(0).rstrip() + " ~" if match else ""
    try:
        tree = YAML(typ="rt").load("\n".join(shortened))
    except Exception:  # noqa: BLE001 - a best effort: the line number alone is still the answer
        return found
    paths = _paths_by_line(tree)
    return [(number, message, paths.get(number)) for number, message, _ in found]


def _paths_by_line(tree: Any) -> dict[int, str]:
    """Each key's or item's 1-based line -> its key path, as messages spell it (rules[0].name)."""
    from backlog_watch.config.errors import format_path

    found: dict[int, str] = {}

    def walk(node: Any, path: tuple[str | int, ...], depth: int) -> None:
        if depth > MAX_DEPTH:
            return
        if isinstance(node, CommentedMap):
            for key in node:
                try:
                    line = node.lc.key(key)[0] + 1
                except (KeyError, TypeError):
                    continue
                found[line] = format_path((*path, str(key)))
                walk(node[key], (*path, str(key)), depth + 1)
        elif isinstance(node, CommentedSeq):
            for index, item in enumerate(node):
                found.setdefault(node.lc.item(index)[0] + 1, format_path((*path, index)))
                walk(item, (*path, index), depth + 1)

    walk(tree, (), 0)
    return found
