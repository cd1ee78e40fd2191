"""Slack's Block Kit limits, checked the way Slack reports them (``invalid_blocks`` with json-pointers)."""

from __future__ import annotations

from typing import Any

MAX_BLOCKS = 50
HEADER_TEXT_MAX = 150
SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
FIELD_TEXT_MAX = 2000
CONTEXT_ELEMENTS_MAX = 10
BLOCK_ID_MAX = 255
MESSAGE_TEXT_MAX = 40000
KNOWN_BLOCKS = frozenset(
    {
        "header",
        "section",
        "divider",
        "context",
        "actions",
        "image",
        "rich_text",
        "input",
        "file",
        "video",
        "markdown",
    }
)
TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})
ACTIONS_ELEMENTS_MAX = 25
ACTION_ID_MAX = 255
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
OPTION_VALUE_MAX = 150
INTERACTIVE_ELEMENTS = frozenset({"button", "static_select", "overflow"})


def _text_errors(value: Any, pointer: str, limit: int, *, plain_only: bool = False) -> list[str]:
    if not isinstance(value, dict):
        return [f"must be an object [json-pointer:{pointer}]"]
    allowed = {"plain_text"} if plain_only else TEXT_TYPES
    if value.get("type") not in allowed:
        return [f"must be a valid enum value [json-pointer:{pointer}/type]"]
    text = value.get("text")
    if not isinstance(text, str) or not text:
        return [f"must be more than 0 characters [json-pointer:{pointer}/text]"]
    if len(text) > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:{pointer}/text]"]
    return []


def _block_errors(block: Any, pointer: str) -> list[str]:
    if not isinstance(block, dict):
        return [f"must be an object [json-pointer:{pointer}]"]
    kind = block.get("type")
    if kind not in KNOWN_BLOCKS:
        return [f"unsupported type: {kind} [json-pointer:{pointer}/type]"]
    errors: list[str] = []
    block_id = block.get("block_id")
    if block_id is not None and (not isinstance(block_id, str) or len(block_id) > BLOCK_ID_MAX):
        errors.append(f"must be less than {BLOCK_ID_MAX + 1} characters [json-pointer:{pointer}/block_id]")
    if kind == "header":
        errors += _text_errors(block.get("text"), f"{pointer}/text", HEADER_TEXT_MAX, plain_only=True)
    elif kind == "section":
        if "text" not in block and "fields" not in block:
            errors.append(f"must provide either text or fields [json-pointer:{pointer}]")
        if "text" in block:
            errors += _text_errors(block["text"], f"{pointer}/text", SECTION_TEXT_MAX)
        fields = block.get("fields", [])
        if not isinstance(fields, list) or len(fields) > SECTION_FIELDS_MAX:
            errors.append(f"must provide no more than {SECTION_FIELDS_MAX} items [json-pointer:{pointer}/fields]")
        else:
            for i, field in enumerate(fields):
                errors += _text_errors(field, f"{pointer}/fields/{i}", FIELD_TEXT_MAX)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements or len(elements) > CONTEXT_ELEMENTS_MAX:
            errors.append(f"must provide between 1 and {CONTEXT_ELEMENTS_MAX} items [json-pointer:{pointer}/elements]")
        else:
            for i, element in enumerate(elements):
                if isinstance(element, dict) and element.get("type") == "image":
                    continue
                errors += _text_errors(element, f"{pointer}/elements/{i}", SECTION_TEXT_MAX)
    elif kind == "actions":
        errors += _actions_errors(block.get("elements"), pointer)
    return errors


def _actions_errors(elements: Any, pointer: str) -> list[str]:
    """Buttons, selects and overflow menus: Slack's element limits and unique action ids."""
    if not isinstance(elements, list) or not elements or len(elements) > ACTIONS_ELEMENTS_MAX:
        return [f"must provide between 1 and {ACTIONS_ELEMENTS_MAX} items [json-pointer:{pointer}/elements]"]
    errors: list[str] = []
    seen: set[str] = set()
    for i, element in enumerate(elements):
        at = f"{pointer}/elements/{i}"
        if not isinstance(element, dict) or element.get("type") not in INTERACTIVE_ELEMENTS:
            errors.append(f"unsupported type [json-pointer:{at}/type]")
            continue
        action_id = element.get("action_id")
        if not isinstance(action_id, str) or not action_id or len(action_id) > ACTION_ID_MAX or action_id in seen:
            errors.append(f"must be a unique action_id [json-pointer:{at}/action_id]")
        seen.add(str(action_id))
        if element["type"] == "button":
            errors += _text_errors(element.get("text"), f"{at}/text", BUTTON_TEXT_MAX, plain_only=True)
            if len(str(element.get("value", ""))) > BUTTON_VALUE_MAX:
                errors.append(f"must be less than {BUTTON_VALUE_MAX + 1} characters [json-pointer:{at}/value]")
            continue
        if element["type"] == "static_select":
            errors += _text_errors(element.get("placeholder"), f"{at}/placeholder", 150, plain_only=True)
        options = element.get("options")
        if not isinstance(options, list) or not options or len(options) > 100:
            errors.append(f"must provide between 1 and 100 items [json-pointer:{at}/options]")
            continue
        for j, option in enumerate(options):
            value = option.get("value") if isinstance(option, dict) else None
            if not isinstance(value, str) or not value or len(value) > OPTION_VALUE_MAX:
                errors.append(f"must be 1 to {OPTION_VALUE_MAX} characters [json-pointer:{at}/options/{j}/value]")
            elif isinstance(option, dict):
                errors += _text_errors(option.get("text"), f"{at}/options/{j}/text", BUTTON_TEXT_MAX, plain_only=True)
    return errors


def block_errors(blocks: Any) -> list[str]:
    """Slack's complaints about ``blocks``, as the ``errors`` of an ``invalid_blocks`` answer."""
    if not isinstance(blocks, list):
        return ["must provide an array [json-pointer:/blocks]"]
    if len(blocks) > MAX_BLOCKS:
        return [f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]"]
    return [error for i, block in enumerate(blocks) for error in _block_errors(block, f"/blocks/{i}")]
