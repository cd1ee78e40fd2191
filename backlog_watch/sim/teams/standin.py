"""TeamsStandIn: a Teams Workflows webhook ("When a Teams webhook request is received") posting to a channel.

The trigger URL is ``/workflows/{id}/triggers/manual/paths/invoke?api-version=2016-06-01&sp=...&sv=1.0
&sig=...``: a wrong or missing ``sig`` is 401 (``DirectApiAuthorizationRequired``), as Power Automate
answers. The body must be a message whose attachments are Adaptive Cards
(``application/vnd.microsoft.card.adaptive``, version 1.0 to 1.5, what Teams renders), at most 28 KB;
the card's elements are checked against the Adaptive Card schema (types, enums of colours, sizes,
weights and container styles, facts as title/value strings). Accepted: 202, the card posted in
``cards``. Refused: 400 with the problems, 413 over 28 KB. Outages: ``fail_next``, ``rate_limit_next``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from backlog_watch.sim.receiver import ReceiverStandIn, Schema, json_object

__all__ = ["TeamsStandIn"]

CARD = "application/vnd.microsoft.card.adaptive"
VERSIONS = ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5")
MESSAGE_MAX = 28 * 1024
COLOURS = ("default", "dark", "light", "accent", "good", "warning", "attention")
SIZES = ("default", "small", "medium", "large", "extralarge")
WEIGHTS = ("default", "lighter", "bolder")
STYLES = ("default", "emphasis", "good", "attention", "warning", "accent")
SPACINGS = ("default", "none", "small", "medium", "large", "extralarge", "padding")
ELEMENTS = ("TextBlock", "Container", "FactSet", "ColumnSet", "Image", "ActionSet", "RichTextBlock")


class TeamsStandIn(ReceiverStandIn):
    """One channel's Workflows trigger; ``webhook_url`` is what the notifier is given."""

    def __init__(self, *, workflow: str = "0a1b2c3d4e5f", sig: str = "s1gnature-0f-the-flow") -> None:
        super().__init__()
        self.workflow = workflow
        self.sig = sig
        self.cards: list[dict[str, Any]] = []
        """The Adaptive Cards posted in the channel, oldest first."""

    @property
    def path(self) -> str:
        return f"/workflows/{self.workflow}/triggers/manual/paths/invoke"

    @property
    def webhook_url(self) -> str:
        return f"{self.url}{self.path}?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={self.sig}"

    def answer(self, request: web.Request, body: bytes) -> web.Response:
        if request.path != self.path:
            return _error(404, "WorkflowNotFound", "The workflow could not be found.")
        if request.method != "POST":
            return _error(405, "MethodNotAllowed", "Only POST starts this workflow.")
        if request.query.get("sig") != self.sig:
            return _error(401, "DirectApiAuthorizationRequired", "The request must be authenticated (sig).")
        if len(body) > MESSAGE_MAX:
            return _error(413, "MessageSizeExceeded", f"The message is larger than {MESSAGE_MAX} bytes.")
        message = json_object(body)
        if message is None:
            return _error(400, "InvalidRequestContent", "The request content is not valid JSON.")
        schema = Schema()
        cards = check_message(message, schema)
        if not schema:
            return _error(400, "InvalidTemplate", "; ".join(schema.problems))
        self.cards.extend(cards)
        return web.Response(status=202)


def check_message(message: dict[str, Any], schema: Schema) -> list[dict[str, Any]]:
    """The cards of a valid message (problems noted in ``schema``)."""
    schema.field(message, "type", str, required=True, enum=("message",))
    attachments = schema.field(message, "attachments", list, required=True)
    if attachments == []:
        schema.problems.append("attachments must hold at least one card")
    cards = []
    for i, attachment in enumerate(attachments or ()):
        at = f"attachments[{i}]"
        schema.field(attachment, "contentType", str, at=at, required=True, enum=(CARD,))
        card = schema.field(attachment, "content", dict, at=at, required=True)
        if card is not None:
            check_card(card, schema, f"{at}.content")
            cards.append(card)
    return cards


def check_card(card: dict[str, Any], schema: Schema, at: str) -> None:
    schema.field(card, "type", str, at=at, required=True, enum=("AdaptiveCard",))
    schema.field(card, "version", str, at=at, required=True, enum=VERSIONS)
    schema.field(card, "fallbackText", str, at=at)
    for i, element in enumerate(schema.field(card, "body", list, at=at) or ()):
        check_element(element, schema, f"{at}.body[{i}]")
    for i, action in enumerate(schema.field(card, "actions", list, at=at) or ()):
        schema.field(action, "type", str, at=f"{at}.actions[{i}]", required=True, enum=("Action.OpenUrl",))
        schema.field(action, "url", str, at=f"{at}.actions[{i}]", required=True)


def check_element(element: Any, schema: Schema, at: str) -> None:
    kind = schema.field(element, "type", str, at=at, required=True, enum=ELEMENTS)
    schema.field(element, "spacing", str, at=at, enum=_any_case(SPACINGS))
    if kind == "TextBlock":
        schema.field(element, "text", str, at=at, required=True)
        schema.field(element, "color", str, at=at, enum=_any_case(COLOURS))
        schema.field(element, "size", str, at=at, enum=_any_case(SIZES))
        schema.field(element, "weight", str, at=at, enum=_any_case(WEIGHTS))
        schema.field(element, "wrap", bool, at=at)
        schema.field(element, "isSubtle", bool, at=at)
    elif kind == "Container":
        schema.field(element, "style", str, at=at, enum=_any_case(STYLES))
        schema.field(element, "bleed", bool, at=at)
        for i, item in enumerate(schema.field(element, "items", list, at=at, required=True) or ()):
            check_element(item, schema, f"{at}.items[{i}]")
    elif kind == "FactSet":
        for i, fact in enumerate(schema.field(element, "facts", list, at=at, required=True) or ()):
            schema.field(fact, "title", str, at=f"{at}.facts[{i}]", required=True)
            schema.field(fact, "value", str, at=f"{at}.facts[{i}]", required=True)


def _any_case(values: tuple[str, ...]) -> tuple[str, ...]:
    """Adaptive Cards read enum values case-insensitively ("Bolder" and "bolder")."""
    return (*values, *(v.capitalize() for v in values), *("ExtraLarge",))


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)
