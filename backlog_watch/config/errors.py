"""From a YAML file to plain data, and from any mistake in it to ``file:line: key.path: message``.

The round-trip loader of ruamel.yaml keeps the line of every key and item, so a pydantic error's
``loc`` can be walked back through the tree to the line the user wrote. ``${VAR}`` interpolation runs on
that tree for the same reason, and so do the checks no single model can make (unique names, references
between sections). Messages say what is wrong in the config's words, never echo a secret, and offer
"did you mean" where a close spelling exists.
"""

from __future__ import annotations

import math
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from difflib import get_close_matches
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from backlog_watch.config.limits import MAX_DEPTH, MAX_VALUES

Path_ = tuple[str | int, ...]
"""A key path in the config tree: ("rules", 3, "older_than")."""

SECRET_KEYS = frozenset(
    {"token", "api_key", "apikey", "password", "secret", "client_secret", "api_token", "hook_secret"}
)
_VARIABLE = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\})")
_SUGGESTED = re.compile(r'^unknown key ".*" \(did you mean "(.*)"\?\)$')
_MISSING = re.compile(r'^missing required key "(.*)"$')
_RULE_MATCHER = re.compile(r"^\s*rule\s*=(?!~)\s*(.+?)\s*$")
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


class YamlSyntaxError(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(problem.message)


def read_yaml(text: str) -> Any:
    """The round-trip tree (CommentedMap/CommentedSeq with line numbers); YamlSyntaxError when unreadable."""
    try:
        return YAML(typ="rt").load(text)
    except DuplicateKeyError as exc:  # its own text quotes both values, which may be secrets
        key = re.search(r'duplicate key "(.*?)" with value', str(exc.problem))
        first = exc.context_mark.line + 1 if exc.context_mark else None
        message = f'YAML syntax error: duplicate key "{key.group(1) if key else "?"}"'
        message += f" in the mapping that starts on line {first}" if first else ""
        raise YamlSyntaxError(Problem(_mark_line(exc), (), message)) from None
    except MarkedYAMLError as exc:
        message = f"YAML syntax error: {exc.problem or exc.context}"
        if exc.problem and exc.context and exc.context_mark is not None:
            message += f" ({exc.context} started on line {exc.context_mark.line + 1})"
        raise YamlSyntaxError(Problem(_mark_line(exc), (), message)) from None
    except YAMLError as exc:  # e.g. a control character; the first line names only the character
        raise YamlSyntaxError(Problem(1, (), f"YAML syntax error: {str(exc).splitlines()[0]}")) from None
    except RecursionError:  # yaml_limits.scan stops deep nesting first; this is the last line of defence
        raise YamlSyntaxError(Problem(1, (), "the YAML is nested too deeply")) from None
    except (ValueError, TypeError):  # an explicit tag the value does not fit, such as "!!int x"
        raise YamlSyntaxError(Problem(1, (), "YAML syntax error: a value does not fit its !!tag")) from None


def _mark_line(exc: MarkedYAMLError) -> int:
    mark = exc.problem_mark or exc.context_mark
    return mark.line + 1 if mark is not None else 1


@dataclass
class Source:
    """A parsed config file: its round-trip tree, the plain data made from it, and line lookups."""

    filename: str
    tree: Any
    data: Any = None
    problems: list[Problem] = field(default_factory=list)
    unresolved: set[Path_] = field(default_factory=set)
    _values: int = field(default=0, repr=False)

    def line(self, path: Path_) -> int:
        """The 1-based line of the key or item at ``path`` (or of its nearest existing parent)."""
        node, line = self.tree, (self.tree.lc.line + 1 if hasattr(self.tree, "lc") else 1)
        for step in path:
            if isinstance(node, CommentedMap) and not isinstance(step, int) and step in node:
                with suppress(KeyError):  # a key merged in with "<<:" has no line of its own here
                    line = node.lc.key(step)[0] + 1
            elif isinstance(node, CommentedSeq) and isinstance(step, int) and 0 <= step < len(node):
                line = node.lc.item(step)[0] + 1
            else:
                break
            node = node[step]
        return line

    def problem(self, path: Path_, message: str, *, line_of: Path_ | None = None) -> Problem:
        return Problem(self.line(path if line_of is None else line_of), path, message)

    def interpolate(self, env: Mapping[str, str]) -> None:
        """Build ``data``: plain dicts/lists/scalars with ``${VAR}`` resolved, problems noted by line.

        Raises YamlSyntaxError when aliases expand past MAX_VALUES or nest (or recurse) past MAX_DEPTH:
        the copy would otherwise take the time and memory a "billion laughs" asks for.
        """
        self._values = 0
        self.data = self._plain(self.tree, (), env)

    def _plain(self, node: Any, path: Path_, env: Mapping[str, str]) -> Any:
        self._values += 1
        if self._values > MAX_VALUES or len(path) > MAX_DEPTH:
            why = (
                f"nested deeper than {MAX_DEPTH} levels (a recursive alias?)"
                if len(path) > MAX_DEPTH
                else f"the YAML aliases expand to more than {MAX_VALUES} values"
            )
            raise YamlSyntaxError(self.problem(path, why))
        if isinstance(node, dict):
            return {str(k): self._plain(v, (*path, str(k)), env) for k, v in node.items()}
        if isinstance(node, list):
            return [self._plain(v, (*path, i), env) for i, v in enumerate(node)]
        if isinstance(node, str):
            return self._substitute(str(node), path, env)
        if isinstance(node, bool):
            return bool(node)
        if isinstance(node, int):
            return int(node)
        if isinstance(node, float):
            if not math.isfinite(node):
                spelt = ".nan" if math.isnan(node) else (".inf" if node > 0 else "-.inf")
                self.problems.append(self.problem(path, f"expected a finite number, got {spelt}"))
                self.unresolved.add(path)
            return float(node)
        if isinstance(node, datetime):  # ruamel's TimeStamp: hand pydantic a plain datetime
            return datetime.fromisoformat(str(node))
        return node

    def _substitute(self, text: str, path: Path_, env: Mapping[str, str]) -> str:
        if "$" not in text:
            return text

        def replace(match: re.Match[str]) -> str:
            escaped, name, default = match.groups()
            if escaped:
                return "$"
            value = env.get(name)
            if value is None or (value == "" and default is not None):
                if default is None:
                    self.problems.append(self.problem(path, f"environment variable {name} is not set"))
                    self.unresolved.add(path)
                    return ""
                return default
            return value

        if re.search(r"\$\{(?![A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\})", _VARIABLE.sub("", text)):
            self.problems.append(
                self.problem(path, "malformed ${...}: write ${NAME} or ${NAME:-default} (and $$ for a literal $)")
            )
            self.unresolved.add(path)
        return _VARIABLE.sub(replace, text)

    def secrets(self) -> list[str]:
        """Every value under a secret-looking key, so no message can echo one."""
        found: list[str] = []

        def walk(node: Any, key: str | None) -> None:
            if isinstance(node, dict):
                for k, v in node.items():
                    walk(v, k)
            elif isinstance(node, list):
                for v in node:
                    walk(v, key)
            elif isinstance(node, str) and key is not None and key.lower() in SECRET_KEYS and len(node) >= 3:
                found.append(node)

        walk(self.data, None)
        return found


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

    def __init__(self, source: Source, root: type[BaseModel], refine: Refine, kinds: Mapping[str, str]) -> None:
        self.source = source
        self.root = root
        self.refine = refine
        self.kinds = kinds  # top-level section -> what its `type` names: {"rules": "rule", ...}

    def problems(self, error: ValidationError) -> list[Problem]:
        found = [self.translate(e) for e in error.errors(include_url=False)]
        found = [p for p in found if not any(p.path[: len(u)] == u for u in self.source.unresolved)]
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


def _items(data: Mapping[str, Any], section: str) -> list[tuple[int, dict[str, Any]]]:
    items = data.get(section)
    if not isinstance(items, (list, tuple)):
        return []
    return [(i, item) for i, item in enumerate(items) if isinstance(item, dict)]


def _names(data: Mapping[str, Any], section: str, what: str, found: list[tuple[Path_, str]]) -> list[str]:
    first: dict[str, int] = {}
    for i, item in _items(data, section):
        name = item.get("name")
        if not isinstance(name, str):
            continue
        if name in first:
            found.append(
                ((section, i, "name"), f'duplicate {what} name "{name}", also used by {section}[{first[name]}]')
            )
        else:
            first[name] = i
    return list(first)


def _refs(path: Path_, value: Any, known: list[str], what: str, found: list[tuple[Path_, str]]) -> None:
    listed = (
        [(path, value)]
        if isinstance(value, str)
        else ([((*path, j), v) for j, v in enumerate(value)] if isinstance(value, (list, tuple)) else [])
    )
    for where, name in listed:
        if isinstance(name, str) and name not in known:
            hint = did_you_mean(name, known, list_all=True) or (
                " (define it under business_hours)" if what == "calendar" else f" (no {what}s configured)"
            )
            found.append((where, f'unknown {what} "{name}"{hint}'))


def reference_problems(data: Mapping[str, Any]) -> list[tuple[Path_, str]]:
    """Duplicate names, and names that point at no helpdesk, notifier or calendar."""
    found: list[tuple[Path_, str]] = []
    helpdesks = _names(data, "helpdesks", "helpdesk", found)
    notifiers = _names(data, "notifiers", "notifier", found)
    rules = _names(data, "rules", "rule", found)
    _names(data, "reports", "report", found)
    calendars = (
        [str(k) for k in data.get("business_hours") or {}] if isinstance(data.get("business_hours"), dict) else []
    )
    defaults = data.get("defaults")
    if isinstance(defaults, dict):
        _refs(("defaults", "notify"), defaults.get("notify"), notifiers, "notifier", found)
        _escalation_refs(("defaults",), defaults, notifiers, found)
    for i, notifier in _items(data, "notifiers"):
        _refs(("notifiers", i, "quiet_hours"), notifier.get("quiet_hours"), calendars, "calendar", found)
    down = data.get("helpdesk_down")
    if isinstance(down, dict):
        _refs(("helpdesk_down", "notify"), down.get("notify"), notifiers, "notifier", found)
    for i, rule in _items(data, "rules"):
        _refs(("rules", i, "notify"), rule.get("notify"), notifiers, "notifier", found)
        _escalation_refs(("rules", i), rule, notifiers, found)
        _refs(("rules", i, "business_hours"), rule.get("business_hours"), calendars, "calendar", found)
        where = rule.get("where")
        if isinstance(where, dict):
            _refs(("rules", i, "where", "helpdesk"), where.get("helpdesk"), helpdesks, "helpdesk", found)
    for i, report in _items(data, "reports"):
        _refs(("reports", i, "notify"), report.get("notify"), notifiers, "notifier", found)
    _inhibit_refs(data, [*rules, "helpdesk-down"], found)
    return found


def _inhibit_refs(data: Mapping[str, Any], rules: list[str], found: list[tuple[Path_, str]]) -> None:
    """``rule=name`` in an inhibit rule's matchers must name a rule: a typo would hide nothing, silently."""
    for i, inhibit in _items(data, "inhibit_rules"):
        for side in ("source_matchers", "target_matchers"):
            matchers = inhibit.get(side)
            for j, text in enumerate(matchers if isinstance(matchers, list) else []):
                named = _RULE_MATCHER.match(text) if isinstance(text, str) else None
                if named and named.group(1) not in rules:
                    name = named.group(1)
                    hint = did_you_mean(name, rules, list_all=True)
                    found.append((("inhibit_rules", i, side, j), f'unknown rule "{name}"{hint}'))


def _escalation_refs(at: Path_, block: Mapping[str, Any], notifiers: list[str], found: list[tuple[Path_, str]]) -> None:
    steps = block.get("escalate")
    if isinstance(steps, list):
        for j, step in enumerate(steps):
            if isinstance(step, dict):
                _refs((*at, "escalate", j, "notify"), step.get("notify"), notifiers, "notifier", found)


def extra_secrets(data: Any) -> list[str]:
    """Secrets that do not sit under a secret-looking key: webhook URLs, the store's password."""
    found = [
        n["url"]
        for _, n in _items(data, "notifiers")
        if n.get("type") == "slack_webhook" and isinstance(n.get("url"), str)
    ]
    store = data.get("store")
    if isinstance(store, str):
        try:
            password = urlsplit(store).password
        except ValueError:
            password = None
        if password:
            found.append(password)
    return found


def scrub(lines: list[str], secrets: Iterable[str]) -> list[str]:
    """Belt and braces: mask any secret value that still made it into a message."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        lines = [line.replace(secret, "**********") for line in lines]
    return lines
