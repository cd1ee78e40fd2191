"""The rule registry: rule type name -> rule class, from the ``backlog_watch.rules`` entry points.

A rule type is a ``RuleBase`` subclass (rules/base.py documents the protocol): a pydantic model with
``type: Literal["name"]`` and its own keys, a pure ``measure(snapshot, now)``, and ``headline``/``terms``
that say an alert in its own words. The bundled types (threshold, aging, sla, spike, trend, flatline,
forecast, fifo) are registered in pyproject.toml exactly as a third party registers one::

    [project.entry-points."backlog_watch.rules"]
    backlog_size = "my_package.rules:BacklogSizeRule"

``Rule`` is the type of one rule block in the config: validated by the class its ``type`` names, found
in the registry when the block is validated, so an installed plugin needs no change here.
"""

from __future__ import annotations

from difflib import get_close_matches
from typing import Annotated, Any

from pydantic import BeforeValidator, SerializeAsAny, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from backlog_watch.plugins import entry_points
from backlog_watch.rules.base import RuleBase

__all__ = ["ENTRY_POINT_GROUP", "Rule", "RuleBase", "available_rules", "rule_class"]

ENTRY_POINT_GROUP = "backlog_watch.rules"


def available_rules() -> dict[str, type[RuleBase]]:
    """Every rule type installed under the ``backlog_watch.rules`` entry-point group, by type name."""
    found: dict[str, type[RuleBase]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        loaded = ep.load()
        if not (isinstance(loaded, type) and issubclass(loaded, RuleBase)):
            raise TypeError(f'entry point {ENTRY_POINT_GROUP} "{ep.name}" = {ep.value} is not a RuleBase subclass')
        found[ep.name] = loaded
    return found


def rule_class(kind: object) -> type[RuleBase] | None:
    """The class that validates a rule block of this ``type``, or None when no installed one has it."""
    return available_rules().get(kind) if isinstance(kind, str) else None


def _rule_block(value: Any) -> Any:
    """Validate a rule block with its registered class; an unknown ``type`` says which ones exist."""
    if not isinstance(value, dict):
        return value  # an instance passes through; anything else gets RuleBase's own error
    cls = rule_class(value.get("type"))
    if cls is not None:
        return cls.model_validate(value)
    if "type" not in value:
        raise _located("missing", value)
    raise _located(_unknown_type(value["type"], available_rules()), value["type"])


def _unknown_type(kind: object, known: dict[str, type[RuleBase]]) -> PydanticCustomError:
    choices = sorted(known)
    close = get_close_matches(kind, choices, n=1, cutoff=0.6) if isinstance(kind, str) else []
    hint = f' (did you mean "{close[0]}"?)' if close else f" (choose from: {', '.join(choices)})"
    if isinstance(kind, str):
        return PydanticCustomError("rule_type", "unknown rule type {kind}{hint}", {"kind": f'"{kind}"', "hint": hint})
    what = {True: "true", False: "false", None: "nothing"}.get(kind) if isinstance(kind, (bool, type(None))) else None
    if what is None:
        what = "a list" if isinstance(kind, list) else "a mapping" if isinstance(kind, dict) else str(kind)
    return PydanticCustomError("rule_type", "expected a rule type, got {kind}{hint}", {"kind": what, "hint": hint})


def _located(error: Any, value: Any) -> ValidationError:
    details = InitErrorDetails(type=error, loc=("type",), input=value)
    return ValidationError.from_exception_data("rule", [details])


Rule = SerializeAsAny[Annotated[RuleBase, BeforeValidator(_rule_block)]]
"""One rule block of the config, validated by the registered class its ``type`` names."""
