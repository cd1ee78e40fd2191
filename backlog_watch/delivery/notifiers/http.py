"""What the HTTP receivers share (Teams, PagerDuty, JSM Operations, webhook): one JSON request, its answer
turned into a ``NotifyError`` the outbox understands.

429 and 5xx (and a network error or a timeout) are retryable, after ``Retry-After`` when the service
sent one; any other 4xx is permanent: the request is wrong and sending it again will not help, so the
error quotes what the service said. Neither the URL (a Teams URL carries its signature) nor a header
(the credentials) is ever part of an error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from backlog_watch.delivery.notifiers.base import https_or_loopback
from backlog_watch.errors import NotifyError

__all__ = ["JsonClient", "check_url", "clip"]

QUOTED = 300
"""Characters of a refusal's body quoted in the error."""


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_url(value: str) -> str:
    """An https:// URL, or http:// to a loopback host (stand-ins, tests); raises ValueError otherwise."""
    if not https_or_loopback(value):
        raise ValueError("must be an https:// URL (http:// only for loopback hosts)")
    return value


class JsonClient:
    """JSON over HTTP for one notifier (``name``) talking to one service (``service``, for the errors)."""

    def __init__(self, name: str, service: str, *, timeout: float, headers: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.service = service
        self._client = httpx.AsyncClient(timeout=timeout, headers=dict(headers or {}), follow_redirects=False)

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send, and return the decoded JSON answer (None when it is empty or not JSON) of a 2xx."""
        try:
            response = await self._client.request(method, url, content=body, params=params, headers=headers)
        except httpx.TimeoutException:
            raise NotifyError(f"{self.service} did not answer in time", notifier=self.name) from None
        except httpx.HTTPError as exc:
            raise NotifyError(f"{self.service} unreachable: {type(exc).__name__}", notifier=self.name) from None
        if response.is_success:
            try:
                return response.json() if response.content else None
            except json.JSONDecodeError:
                return None
        status = response.status_code
        retryable = status == 429 or status >= 500
        said = " ".join(response.text.split())
        raise NotifyError(
            f"{self.service} {'answered' if retryable else 'refused the request:'} HTTP {status}"
            + (f" {clip(said, QUOTED)}" if said else ""),
            notifier=self.name,
            retryable=retryable,
            retry_after=_seconds(response.headers.get("Retry-After")) if retryable else None,
        )

    async def post_json(self, url: str, payload: object, *, headers: Mapping[str, str] | None = None) -> Any:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return await self.request(
            "POST", url, body=body, headers={"Content-Type": "application/json", **(headers or {})}
        )

    async def close(self) -> None:
        await self._client.aclose()


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: the outbox's own backoff will do
