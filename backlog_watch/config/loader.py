"""Reading a config: the YAML with the line of every key, ``${ENV}`` resolved, size limits, and
``parse_config`` / ``load_config`` that validate it and explain every mistake at once.

The round-trip loader of ruamel.yaml keeps the line of every key and item; ``${VAR}`` interpolation
runs on that tree for the same reason, and so do the checks no single model can make (unique names,
references between sections: references.py). Every problem is reported in one ConfigError as
``file:line: key.path: message`` (errors.py explains how).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from backlog_watch.config.blocks import block_class
from backlog_watch.config.errors import (
    SECRET_KEYS,
    ErrorTranslator,
    Path_,
    Problem,
    extra_secrets,
    scrub,
    shown,
)
from backlog_watch.config.limits import MAX_DEPTH, MAX_VALUES, refused
from backlog_watch.config.models import REFERENCES_CHECKED, Config
from backlog_watch.config.references import reference_problems
from backlog_watch.errors import ConfigError

__all__ = ["Source", "YamlSyntaxError", "load_config", "parse_config", "read_yaml"]

_VARIABLE = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\})")
_TYPED_SECTIONS = {"rules": "rule", "notifiers": "notifier", "helpdesks": "connector"}


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
            if value == "" and default is None:
                # docker compose hands an unset variable on as an empty one: say so here, not as a 401 later
                self.problems.append(
                    self.problem(path, f"environment variable {name} is empty (write ${{{name}:-}} if empty is meant)")
                )
                self.unresolved.add(path)
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


def _refine(model: type[BaseModel], node: Any) -> type[BaseModel]:
    """The class that validates this node: a helpdesk, notifier or rule block's registered one."""
    return (block_class(model, node.get("type")) if isinstance(node, dict) else None) or model


def parse_config(text: str, filename: str = "config.yaml", env: Mapping[str, str] | None = None) -> Config:
    """Validate config text; ``filename`` is only used in messages. Raises ConfigError with every problem."""
    too_much = refused(text, filename)
    if too_much:
        raise ConfigError(too_much)
    try:
        source = Source(filename, read_yaml(text))
        if not isinstance(source.tree, CommentedMap):
            raise ConfigError(
                [
                    f"{filename}:1: the config must be a mapping (store:, helpdesks:, notifiers:, "
                    f"rules: ...), got {shown(source.tree)}"
                ]
            )
        source.interpolate(os.environ if env is None else env)
    except YamlSyntaxError as exc:
        raise ConfigError([exc.problem.render(filename)]) from None
    # Top-level "x-..." keys hold YAML anchors to share blocks (as in docker-compose); they are not config.
    source.data = {k: v for k, v in source.data.items() if not k.startswith("x-")}
    problems = list(source.problems)
    problems += [
        source.problem(path, message)
        for path, message in reference_problems(source.data)
        if not any(path[: len(u)] == u for u in source.unresolved)
    ]
    config: Config | None = None
    try:
        config = Config.model_validate(source.data, context={REFERENCES_CHECKED: True})
    except ValidationError as exc:
        problems += ErrorTranslator(source, Config, _refine, _TYPED_SECTIONS).problems(exc)
    if problems or config is None:
        problems.sort(key=lambda problem: problem.line)
        lines = list(dict.fromkeys(problem.render(filename) for problem in problems))
        raise ConfigError(scrub(lines, source.secrets() + extra_secrets(source.data)))
    return config


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file; ``env`` (default os.environ) resolves ``${VAR}``."""
    filename = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{filename}: no such file"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{filename}: is a directory, not a config file"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{filename}: is not UTF-8 text"]) from None
    except OSError as exc:
        raise ConfigError([f"{filename}: cannot be read ({exc.strerror})"]) from None
    config = parse_config(text, filename, env)
    config._path = Path(path)
    return config
