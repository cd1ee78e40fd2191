"""``backlog-watch simulate teams|pagerduty|jsm|webhook``: each stand-in prints a notifier block that works
as printed (a real notifier built from it is accepted), then every request it receives."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from ruamel.yaml import YAML

from backlog_watch.app import build_notifier
from backlog_watch.delivery.notifiers.base import notifier_type
from backlog_watch.sim import serve_jsm, serve_pagerduty, serve_teams, serve_webhook
from tests.helpers.alerts import urgent_notification
from tests.helpers.waiting import until

Serve = Callable[..., Coroutine[Any, Any, None]]


@pytest.mark.parametrize(
    ("serve", "accepted"),
    [
        (serve_teams, "202 POST /workflows/"),
        (serve_pagerduty, "202 POST /v2/enqueue"),
        (serve_jsm, "202 POST /jsm/ops/api/"),
        (serve_webhook, "200 POST /hook"),
    ],
)
async def test_the_printed_notifier_block_is_accepted_and_its_request_printed(serve: Serve, accepted: str) -> None:
    lines: list[str] = []
    task = asyncio.create_task(serve(0, out=lines.append))
    try:
        await until(lambda: any("notifier: " in line for line in lines), what="the notifier block")
        block = YAML(typ="safe").load(next(line for line in lines if "notifier: " in line).split("notifier: ")[1])
        kind = notifier_type(block["type"])
        assert kind is not None
        notifier = build_notifier(kind.Settings.model_validate(block))  # as printed: named, ready to paste
        try:
            await notifier.send(urgent_notification())
        finally:
            await notifier.close()  # type: ignore[attr-defined]
        await until(lambda: any(line.startswith(accepted) for line in lines), what=lambda: "\n".join(lines))
        assert "urgent-backlog" in lines[-1]  # the body follows the status line
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
