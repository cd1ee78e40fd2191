"""The config's JSON Schema, generated from the pydantic models, for editors and CI linters.

Helpdesk, notifier and rule blocks are validated by the class their ``type`` names in a registry of
entry points, so the schema is built from the registry too: each block is an ``if type is X then
X's schema`` list (an editor then reports the key of the block that is wrong, where a ``oneOf`` would
report every alternative). A plugin's types appear when it is installed; ``bundled_only`` keeps to the
types this package ships, which is what config/backlog-watch.schema.json holds.

The schema checks the YAML as written, before ``${VAR}`` is resolved: a ``${...}`` string is accepted
wherever a number, a boolean, a duration or a name goes. What only the loader can check (references
between sections, unique names, environment variables, cron schedules, time zones) it leaves to
``backlog-watch check``. Secrets are strings marked ``writeOnly``; no value ever appears in it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from backlog_watch.config.blocks import PLANNED_CONNECTORS, PlannedHelpdeskSettings
from backlog_watch.config.models import Config
from backlog_watch.delivery.notifiers.base import ENTRY_POINT_GROUP as NOTIFIERS
from backlog_watch.delivery.notifiers.base import NotifierSettings
from backlog_watch.durations import format_duration
from backlog_watch.plugins import entry_points
from backlog_watch.rules import ENTRY_POINT_GROUP as RULES
from backlog_watch.rules.base import RuleBase
from backlog_watch.sources.connector import ENTRY_POINT_GROUP as CONNECTORS
from backlog_watch.sources.settings import HelpdeskSettings

__all__ = ["DISTRIBUTION", "SCHEMA_FILE", "block_classes", "config_schema", "schema_text"]

DISTRIBUTION = "backlog-watch"
SCHEMA_FILE = "config/backlog-watch.schema.json"
DURATION_PATTERN = r"^\s*([0-9]+(\.[0-9]+)?[smhdwSMHDW])+\s*$"
ENV_REFERENCE = {"type": "string", "pattern": r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$"}
_RELAXED = ("integer", "number", "boolean")


class _Generator(GenerateJsonSchema):
    """Durations as the config writes them ("15m", not ISO 8601's "PT15M"), and a single item where
    a list goes (the models' before-validators turn ``notify: slack`` into ``[slack]``)."""

    def function_before_schema(self, schema: core_schema.BeforeValidatorFunctionSchema) -> JsonSchemaValue:
        inner = self.generate_inner(schema["schema"])
        options = inner.get("anyOf", [inner])
        single = [o["items"] for o in options if o.get("type") == "array" and isinstance(o.get("items"), dict)]
        if not single:
            return inner
        return _either(inner, *single)

    def timedelta_schema(self, schema: core_schema.TimedeltaSchema) -> JsonSchemaValue:
        return {"type": "string", "pattern": DURATION_PATTERN}

    def encode_default(self, dft: Any) -> Any:
        return format_duration(dft) if isinstance(dft, timedelta) else super().encode_default(dft)


def _registered(group: str, bundled_only: bool) -> dict[str, Any]:
    return {
        ep.name: ep.load()
        for ep in entry_points(group=group)
        if not bundled_only or (ep.dist is not None and ep.dist.name == DISTRIBUTION)
    }


def block_classes(bundled_only: bool = False) -> dict[type[BaseModel], dict[str, type[BaseModel]]]:
    """For each block base class, the class of every registered ``type``."""
    helpdesks = {kind: factory.Settings for kind, factory in _registered(CONNECTORS, bundled_only).items()}
    for kind in PLANNED_CONNECTORS:
        helpdesks.setdefault(kind, PlannedHelpdeskSettings)
    notifiers = {kind: notifier.Settings for kind, notifier in _registered(NOTIFIERS, bundled_only).items()}
    return {
        HelpdeskSettings: dict(sorted(helpdesks.items())),
        NotifierSettings: dict(sorted(notifiers.items())),
        RuleBase: dict(sorted(_registered(RULES, bundled_only).items())),
    }


def config_schema(
    bundled_only: bool = False, blocks: dict[type[BaseModel], dict[str, type[BaseModel]]] | None = None
) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a config file; ``blocks`` replaces the registry (tests)."""
    blocks = block_classes(bundled_only) if blocks is None else blocks
    registered = {cls for classes in blocks.values() for cls in classes.values()}
    models: list[type[BaseModel]] = [
        Config,
        *blocks,
        *sorted(registered, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}"),
    ]
    refs, combined = models_json_schema(
        [(model, "validation") for model in models], schema_generator=_Generator, title="backlog-watch config"
    )
    defs: dict[str, Any] = combined["$defs"]
    dispatch = {refs[(base, "validation")]["$ref"]: _dispatch(kinds, refs) for base, kinds in blocks.items()}
    schema = defs.pop(refs[(Config, "validation")]["$ref"].rsplit("/", 1)[1])
    schema["$defs"] = defs
    schema = _rewrite(schema, dispatch)
    for ref in dispatch:
        schema["$defs"].pop(ref.rsplit("/", 1)[1], None)  # the bases: every block is one of its registered types
    schema["patternProperties"] = {"^x-": {}}  # top-level x-... keys hold YAML anchors, not config
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "backlog-watch config", **schema}


def _dispatch(kinds: dict[str, type[BaseModel]], refs: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": list(kinds)}},
        "allOf": [
            {
                "if": {"properties": {"type": {"const": kind}}, "required": ["type"]},
                "then": {"$ref": refs[(cls, "validation")]["$ref"]},
            }
            for kind, cls in kinds.items()
        ],
    }


def _rewrite(node: Any, dispatch: dict[str, Any]) -> Any:
    """Blocks referred to by their base class become their dispatch; scalars also take a ``${...}``."""
    if isinstance(node, list):
        return [_rewrite(item, dispatch) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"$ref"} and node["$ref"] in dispatch:
        return dispatch[node["$ref"]]
    rewritten = {key: _rewrite(value, dispatch) for key, value in node.items()}
    if rewritten.get("type") in _RELAXED or (rewritten.get("type") == "string" and "pattern" in rewritten):
        return _either(rewritten, ENV_REFERENCE)
    return rewritten


def _either(schema: dict[str, Any], *alternatives: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or any of ``alternatives``; its title, description and default stay on the whole."""
    annotations: dict[str, Any] = {k: schema.pop(k) for k in ("title", "description", "default") if k in schema}
    options = schema["anyOf"] if set(schema) == {"anyOf"} else [schema]
    return {"anyOf": [*options, *alternatives], **annotations}


def schema_text(bundled_only: bool = False) -> str:
    """The schema as the repository keeps it: indented JSON, keys in a stable order, a final newline."""
    return json.dumps(config_schema(bundled_only), indent=2, ensure_ascii=False) + "\n"
