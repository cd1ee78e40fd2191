"""From any mistake in a config to ``file:line: key.path: message``.

The loader (loader.py) keeps the line of every key and item, so a pydantic error's ``loc`` can be
walked back through the tree to the line the user wrote. Messages say what is wrong in the config's
words, never echo a secret, and offer "did you mean" where a close spelling exists. A block whose
class depends on its ``type`` (a helpdesk's connector, a notifier, a rule) is walked with the class
the registry gives for it (``Refine``), so a plugin's keys get the same messages as a bundled one's.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from difflib import get_close_matches
from typing import Any, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_core import ErrorDetails

from backlog_watch.delivery.notifiers.base import notifier_type

Path_ = tuple[str | int, ...]
"""A key path in the config tree: ("rules", 3, "older_than")."""

SECRET_KEYS = frozenset(
    {"token", "api_key", "apikey", "password", "secret", "client_secret", "api_token", "hook_secret"}
)
_SUGGESTED = re.compile(r'^unknown key ".*" \(did you mean "(.*)"\?\)$')
_MISSING = re.compile(r'^missing required key "(.*)"$')
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")
_INPUT_KINDS: Mapping[type, str] = {
    bool: "a boolean",
    int: "a number",
    float: "a number",
    list: "a list",
    dict: "a mapping",
    date: "a date",
    datetime: "a date and time",
}
_TYPE_ERRORS: Mapping[str, str] = {
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "dict_type": "expected a mapping (key: value)",
    "model_type": "expected a mapping (key: value)",
    "model_attributes_type": "expected a mapping (key: value)",
    "date_parsing": "expected a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "expected a date (YYYY-MM-DD)",
    "date_type": "expected a date (YYYY-MM-DD)",
}


def did_you_mean(word: str, candidates: Iterable[str], *, list_all: bool = False) -> str:
    """' (did you mean "x"?)' for a close spelling; with list_all, the choices when none is close."""
    choices = sorted(set(candidates))
    close = get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f' (did you mean "{close[0]}"?)'
    if list_all and choices:
        return f" (choose from: {', '.join(choices)})"
    return ""


def format_path(path: Path_) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def shown(value: Any) -> str:
    """A short, quoted rendering of a user's value for a message."""
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f'"{value}"' if len(value) <= 60 else f'"{value[:57]}..."'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return next((kind for cls, kind in _INPUT_KINDS.items() if isinstance(value, cls)), type(value).__name__)


@dataclass
class Problem:
    line: int
    path: Path_
    message: str

    def render(self, filename: str) -> str:
        where = format_path(self.path)
        return f"{filename}:{self.line}: {where + ': ' if where else ''}{self.message}"


class Located(Protocol):
    """A parsed config file as the translator needs it (loader.py's ``Source``): data, and lines."""

    data: Any
    unresolved: set[Path_]

    def problem(self, path: Path_, message: str, *, line_of: Path_ | None = None) -> Problem: ...


Refine = Callable[[type[BaseModel], Any], type[BaseModel]]
"""Picks the concrete model for a node, e.g. a helpdesk block's connector Settings by its ``type``."""


def _members(annotation: Any) -> list[Any]:
    """The alternatives of a type: Annotated and Optional unwrapped, unions flattened."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    return [annotation]


def _model_of(annotation: Any, node: Any, refine: Refine) -> type[BaseModel] | None:
    models = [m for m in _members(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]
    if len(models) > 1 and isinstance(node, dict):  # a union keyed on `type`
        kind = node.get("type")
        models = [
            m for m in models if "type" in m.model_fields and kind in typing.get_args(m.model_fields["type"].annotation)
        ] or models[:1]
    return refine(models[0], node) if models else None


def _field(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info
    return None


def field_names(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _child(annotation: Any, step: str | int, node: Any, refine: Refine) -> Any:
    model = _model_of(annotation, node, refine)
    if model is not None:
        info = _field(model, str(step))
        return info.annotation if info is not None else None
    for member in _members(annotation):
        args = typing.get_args(member)
        origin = typing.get_origin(member)
        if origin in (list, tuple, Sequence, set, frozenset) and args:
            return args[0]
        if origin in (dict, Mapping) and len(args) == 2:
            return args[1]
    return None


class ErrorTranslator:
    """Turns pydantic's errors on ``source.data`` (validated as ``root``) into located problems."""

    def __init__(self, source: Located, root: type[BaseModel], refine: Refine, kinds: Mapping[str, str]) -> None:
        self.source = source
        self.root = root
        self.refine = refine
        self.kinds = kinds  # top-level section -> what its `type` names: {"rules": "rule", ...}

    def problems(self, error: ValidationError) -> list[Problem]:
        found = [self.translate(e) for e in error.errors(include_url=False)]
        # An unset variable is said once, on its own line: not again by its block ("needs app_token").
        found = [p for p in found if not any(_about(p, u) for u in self.source.unresolved)]
        # A misspelt key also makes the right one missing: the "did you mean" line says both.
        misspelt = {(p.path, m.group(1)) for p in found if (m := _SUGGESTED.match(p.message))}
        return [p for p in found if not ((m := _MISSING.match(p.message)) and (p.path, m.group(1)) in misspelt)]

    def _walk(self, loc: Sequence[str | int]) -> tuple[Path_, Any, Any]:
        """The YAML path of a pydantic loc (union tags dropped), its node and its declared type."""
        path: list[str | int] = []
        node, annotation = self.source.data, self.root
        last = len(loc) - 1
        for i, step in enumerate(loc):
            if isinstance(node, dict) and step == node.get("type") and step not in node:
                continue  # the tag pydantic inserts for a discriminated union
            if (isinstance(node, dict) and step in node) or (
                isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)
            ):
                annotation = _child(annotation, step, node, self.refine)
                node = node[step]  # type: ignore[index]
                path.append(step)
            elif i == last:
                annotation = _child(annotation, step, node, self.refine)
                path.append(step)
                node = None
        return tuple(path), node, annotation

    def translate(self, error: ErrorDetails) -> Problem:
        kind = error["type"]
        path, node, annotation = self._walk(error["loc"])
        parent_path = path[:-1]
        if kind == "missing" and path:
            return self.source.problem(parent_path, f'missing required key "{path[-1]}"')
        if kind == "extra_forbidden" and path:
            model = self._model_at(parent_path)
            hint = did_you_mean(str(path[-1]), field_names(model)) if model else ""
            return self.source.problem(parent_path, f'unknown key "{path[-1]}"{hint}', line_of=path)
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            what = self.kinds.get(str(path[0]) if path else "", "")
            if kind == "union_tag_not_found" or not isinstance(node, dict) or "type" not in node:
                return self.source.problem(path, 'missing required key "type"')
            tags = _QUOTED.findall(str(error.get("ctx", {}).get("expected_tags", "")))
            tag = node["type"]
            message = (
                f"unknown {what} type {shown(tag)}"
                if isinstance(tag, str)
                else (f"expected a {what} type, got {shown(tag)}")
            )
            return self.source.problem((*path, "type"), message + did_you_mean(str(tag), tags, list_all=True))
        secret = self._is_secret(annotation, path)
        value = node if node is not None else error["input"]
        return self.source.problem(path, self._message(error, value, secret))

    def _model_at(self, path: Path_) -> type[BaseModel] | None:
        node, annotation = self.source.data, self.root
        for step in path:
            annotation = _child(annotation, step, node, self.refine)
            node = node[step]
        return _model_of(annotation, node, self.refine)

    @staticmethod
    def _is_secret(annotation: Any, path: Path_) -> bool:
        if path and str(path[-1]).lower() in SECRET_KEYS:
            return True
        return any(m is SecretStr for m in _members(annotation))

    @staticmethod
    def _message(error: ErrorDetails, value: Any, secret: bool) -> str:
        kind, ctx = error["type"], error.get("ctx", {})
        got = "" if secret else f", got {shown(value)}"
        if kind in _TYPE_ERRORS:
            return _TYPE_ERRORS[kind] + got
        if kind in ("literal_error", "enum"):
            choices = _QUOTED.findall(str(ctx.get("expected", "")))
            hint = did_you_mean(str(value), choices) if isinstance(value, str) else ""
            head = "not allowed" if secret else f"{shown(value)} is not allowed"
            return f"{head}: use one of {', '.join(choices)}{hint}"
        if kind == "too_short" and ctx.get("min_length") == 1:
            return "must not be empty"
        if kind == "string_pattern_mismatch":
            if str(error["loc"][-1]) == "name":
                return (
                    f'{shown(value)} is not a valid name: use letters, digits, "_", "." and "-", '
                    "starting with a letter or digit"
                )
            return "does not have the expected form" + got
        message = error["msg"]
        for prefix in ("Value error, ", "Assertion failed, "):
            message = message.removeprefix(prefix)
        if message.startswith("Input should"):
            message = "must" + message.removeprefix("Input should") + got
        return message


def extra_secrets(data: Any) -> list[str]:
    """Secrets that do not sit under a secret-looking key: a notifier's SecretStr keys (a webhook's URL),
    found by its registered Settings class, and the store's password."""
    found: list[str] = []
    notifiers = data.get("notifiers") if isinstance(data, Mapping) else None
    for block in notifiers if isinstance(notifiers, list) else []:
        kind = notifier_type(block.get("type")) if isinstance(block, dict) else None
        if kind is not None:
            found += [value for key in secret_fields(kind.Settings) if isinstance(value := block.get(key), str)]
    store = data.get("store") if isinstance(data, Mapping) else None
    if isinstance(store, str):
        try:
            password = urlsplit(store).password
        except ValueError:
            password = None
        if password:
            found.append(password)
    return found


def secret_fields(model: type[BaseModel]) -> list[str]:
    """The keys of a model that hold a SecretStr, as written in the config."""
    return [info.alias or name for name, info in model.model_fields.items() if SecretStr in _members(info.annotation)]


def _about(problem: Problem, unresolved: Path_) -> bool:
    """The problem is at (or under) the unresolved key, or its block's complaint names that key."""
    inside = problem.path[: len(unresolved)] == unresolved
    return inside or (problem.path == unresolved[:-1] and f"{unresolved[-1]}" in problem.message)


def scrub(lines: list[str], secrets: Iterable[str]) -> list[str]:
    """Belt and braces: mask any secret value that still made it into a message. An empty one (an unset
    variable) is no secret, and replacing "" would mask between every character."""
    for secret in sorted(set(secrets) - {""}, key=len, reverse=True):
        lines = [line.replace(secret, "**********") for line in lines]
    return lines
