"""Blocks whose class their ``type`` picks from a registry: helpdesks, notifiers, rules.

A helpdesk block is validated by its connector's ``Settings`` (``backlog_watch.connectors``), a
notifier block by its notifier's ``Settings`` (``backlog_watch.notifiers``), a rule block by its rule
class (``backlog_watch.rules``, see rules/__init__.py); bundled and third-party ones alike, looked up
when the block is validated. An unknown ``type`` gets "did you mean", or the list of the registered
ones. ``block_class`` gives the error translator the same class, so a plugin's keys are explained by
line like any other's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, SecretStr, SerializeAsAny, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from backlog_watch.config.errors import SECRET_KEYS, did_you_mean, shown
from backlog_watch.delivery.notifiers.base import NotifierSettings, available_notifiers, notifier_type
from backlog_watch.rules import rule_class
from backlog_watch.rules.base import RuleBase
from backlog_watch.sources.connector import available_connectors
from backlog_watch.sources.settings import HelpdeskSettings

__all__ = [
    "PLANNED_CONNECTORS",
    "HelpdeskBlock",
    "NotifierBlock",
    "PlannedHelpdeskSettings",
    "block_class",
    "helpdesk_settings_class",
    "notifier_settings_class",
]

PLANNED_CONNECTORS = ("freshdesk", "jira")
"""Helpdesk types of the contract: validated by their connector's Settings once it is installed (as it
is with this package), else accepted as planned and listed by ``Config.unsupported()``."""


class PlannedHelpdeskSettings(HelpdeskSettings):
    """A helpdesk of a type still to come: the shared keys are checked, the others kept as they are."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _hide_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: SecretStr(v) if k.lower() in SECRET_KEYS and isinstance(v, str) else v for k, v in data.items()}
        return data


def helpdesk_settings_class(kind: object) -> type[HelpdeskSettings] | None:
    """The Settings class that validates a helpdesk block of this ``type``, or None if unknown."""
    if not isinstance(kind, str):
        return None
    connectors = available_connectors()
    if kind in connectors:
        return connectors[kind].Settings
    return PlannedHelpdeskSettings if kind in PLANNED_CONNECTORS else None


def notifier_settings_class(kind: object) -> type[NotifierSettings] | None:
    """The Settings class of the registered notifier of this ``type``, or None if none is installed."""
    registered = notifier_type(kind)
    return registered.Settings if registered is not None else None


def block_class(model: type[BaseModel], kind: object) -> type[BaseModel] | None:
    """The class that validates a block declared as ``model`` whose ``type`` is ``kind`` (None: unknown)."""
    if model is HelpdeskSettings:
        return helpdesk_settings_class(kind)
    if model is NotifierSettings:
        return notifier_settings_class(kind)
    if model is RuleBase:
        return rule_class(kind)
    return None


def _registered(
    what: str, lookup: Callable[[object], type[BaseModel] | None], known: Callable[[], Iterable[str]]
) -> Callable[[Any], Any]:
    """A validator for a block whose class its ``type`` picks from a registry; an unknown type gets a
    "did you mean", or the list of the registered ones."""

    def validate(value: Any) -> Any:
        if not isinstance(value, dict):
            return value  # an instance passes through; anything else gets the base class's own error
        settings_class = lookup(value.get("type"))
        if settings_class is not None:
            return settings_class.model_validate(value)
        if "type" not in value:
            raise _located("missing", ("type",), value)
        kind = value["type"]
        raise _located(
            PydanticCustomError(
                f"{what}_type",
                f"unknown {what} type {{kind}}{{hint}}",
                {"kind": shown(kind), "hint": did_you_mean(str(kind), known(), list_all=True)},
            ),
            ("type",),
            kind,
        )

    return validate


def _located(error: Any, loc: tuple[str, ...], value: Any) -> ValidationError:
    details = InitErrorDetails(type=error, loc=loc, input=value)
    return ValidationError.from_exception_data("block", [details])


HelpdeskBlock = SerializeAsAny[
    Annotated[
        HelpdeskSettings,
        BeforeValidator(
            _registered(
                "connector", helpdesk_settings_class, lambda: set(available_connectors()) | set(PLANNED_CONNECTORS)
            )
        ),
    ]
]
NotifierBlock = SerializeAsAny[
    Annotated[NotifierSettings, BeforeValidator(_registered("notifier", notifier_settings_class, available_notifiers))]
]
