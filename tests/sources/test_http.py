"""HttpConnector: classification, retries, Retry-After, throttling and secrecy, over httpx.MockTransport."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, ClassVar

import httpx
import pytest
from pydantic import SecretStr

from backlog_watch.errors import AuthError, RateLimited, RequestError, TransientError
from backlog_watch.sources.http import HttpConnector, seconds_until
from backlog_watch.sources.settings import HelpdeskSettings

SECRET = "sup3r-s3cret-t0ken"
CONNECT_ERROR = "connect-error"


class TokenSettings(HelpdeskSettings):
    token: SecretStr


class DemoConnector(HttpConnector):
    kind: ClassVar[str] = "demo"
    Settings: ClassVar[type[HelpdeskSettings]] = TokenSettings

    def auth_headers(self) -> dict[str, str]:
        token = self.settings.token.get_secret_value()  # type: ignore[attr-defined]
        return {"Authorization": f"Bearer {token}"}


@dataclass
class Harness:
    """A connector on a scripted transport; the last answer repeats once the script runs out."""

    connector: DemoConnector
    seen: list[httpx.Request]
    sleeps: list[float] = field(default_factory=list)


Answer = httpx.Response | str


@pytest.fixture
async def harness() -> AsyncIterator[Callable[..., Harness]]:
    clients: list[httpx.AsyncClient] = []

    def build(*answers: Answer, clock: Callable[[], float] | None = None) -> Harness:
        script = list(answers)
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            answer = script.pop(0) if len(script) > 1 else script[0]
            if answer == CONNECT_ERROR:
                raise httpx.ConnectError("connection refused", request=request)
            assert isinstance(answer, httpx.Response)
            return answer

        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        clients.append(client)
        settings = TokenSettings(name="demo", type="demo", url="https://demo.example.com", token=SecretStr(SECRET))
        sleeps: list[float] = []

        async def fake_sleep(seconds: float) -> None:
            sleeps.append(seconds)

        connector = DemoConnector(settings, client, sleep=fake_sleep, clock=clock or (lambda: 1000.0))
        return Harness(connector, seen, sleeps)

    yield build
    for client in clients:
        await client.aclose()


def ok(body: Any = None, **headers: str) -> httpx.Response:
    return httpx.Response(200, json=body if body is not None else {"ok": True}, headers=headers)


async def test_success_sends_auth_and_counts_one_request(harness: Callable[..., Harness]) -> None:
    h = harness(ok({"tickets": []}))
    response = await h.connector.request("GET", "/api/v2/things.json", params={"a": 1, "skip": None})
    assert response.json() == {"tickets": []}
    assert h.seen[0].headers["authorization"] == f"Bearer {SECRET}"
    assert str(h.seen[0].url) == "https://demo.example.com/api/v2/things.json?a=1"
    assert (h.connector.requests_made, h.connector.retries, h.connector.rate_limited) == (1, 0, 0)
    assert h.sleeps == []


async def test_429_waits_exactly_retry_after_then_succeeds(harness: Callable[..., Harness]) -> None:
    h = harness(httpx.Response(429, headers={"Retry-After": "2"}), ok())
    response = await h.connector.request("GET", "/x")
    assert response.status_code == 200
    assert h.sleeps == [2.0]
    assert (h.connector.requests_made, h.connector.retries, h.connector.rate_limited) == (2, 1, 1)


async def test_429_retry_after_as_http_date(harness: Callable[..., Harness]) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    h = harness(httpx.Response(429, headers={"Retry-After": when}), ok())
    await h.connector.request("GET", "/x")
    assert len(h.sleeps) == 1 and 28.0 <= h.sleeps[0] <= 30.0


async def test_429_without_retry_after_waits_the_default(harness: Callable[..., Harness]) -> None:
    h = harness(httpx.Response(429), ok())
    await h.connector.request("GET", "/x")
    assert h.sleeps == [60.0]


async def test_429_beyond_the_budget_gives_up_at_once(harness: Callable[..., Harness]) -> None:
    h = harness(httpx.Response(429, headers={"Retry-After": "3600"}), ok())
    with pytest.raises(RateLimited) as caught:
        await h.connector.request("GET", "/x")
    assert caught.value.retry_after == 3600.0
    assert h.sleeps == [] and h.connector.requests_made == 1


async def test_5xx_burst_is_retried_with_exponential_backoff(harness: Callable[..., Harness]) -> None:
    h = harness(httpx.Response(503), httpx.Response(502), httpx.Response(500), ok())
    response = await h.connector.request("GET", "/x")
    assert response.status_code == 200
    assert len(h.sleeps) == 3
    for attempt, slept in enumerate(h.sleeps):
        base = 2.0**attempt  # 1, 2, 4 s plus up to 1 s of jitter
        assert base <= slept <= base + DemoConnector.backoff_jitter
    assert (h.connector.requests_made, h.connector.retries, h.connector.rate_limited) == (4, 3, 0)


async def test_5xx_forever_raises_transient_after_max_attempts(harness: Callable[..., Harness]) -> None:
    h = harness(httpx.Response(503, json={"error": "down for maintenance"}))
    with pytest.raises(TransientError) as caught:
        await h.connector.request("GET", "/x")
    assert caught.value.status == 503
    assert "down for maintenance" in str(caught.value)
    assert h.connector.requests_made == DemoConnector.max_attempts
    assert len(h.sleeps) == DemoConnector.max_attempts - 1


async def test_network_errors_are_retried(harness: Callable[..., Harness]) -> None:
    h = harness(CONNECT_ERROR, CONNECT_ERROR, ok())
    response = await h.connector.request("GET", "/x")
    assert response.status_code == 200
    assert h.connector.requests_made == 3 and len(h.sleeps) == 2


async def test_network_error_forever_is_transient(harness: Callable[..., Harness]) -> None:
    h = harness(CONNECT_ERROR)
    with pytest.raises(TransientError, match="ConnectError"):
        await h.connector.request("GET", "/x")
    assert h.connector.requests_made == DemoConnector.max_attempts


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_refused_is_not_retried_and_keeps_the_secret(
    harness: Callable[..., Harness], caplog: pytest.LogCaptureFixture, status: int
) -> None:
    caplog.set_level(logging.DEBUG)
    h = harness(httpx.Response(status, json={"error": "Couldn't authenticate you"}))
    with pytest.raises(AuthError) as caught:
        await h.connector.request("GET", "/x")
    assert str(caught.value) == (
        f"demo: credentials refused ({status} Couldn't authenticate you): "
        "polling of this helpdesk stops until the config changes"
    )
    assert h.connector.requests_made == 1 and h.sleeps == []
    for text in (str(caught.value), repr(caught.value), repr(h.connector), caplog.text):
        assert SECRET not in text
        assert base64.b64encode(SECRET.encode()).decode() not in text


async def test_404_is_a_request_error_with_the_vendor_text(harness: Callable[..., Harness]) -> None:
    h = harness(httpx.Response(404, json={"error": "RecordNotFound", "description": "Not found"}))
    with pytest.raises(RequestError, match="404 RecordNotFound") as caught:
        await h.connector.request("GET", "/api/v2/tickets/9223372036854775807.json")
    assert caught.value.status == 404
    assert h.connector.requests_made == 1 and h.sleeps == []


async def test_error_text_that_echoes_the_secret_is_redacted(harness: Callable[..., Harness]) -> None:
    h = harness(httpx.Response(400, text=f"bad token {SECRET} in header"))
    with pytest.raises(RequestError) as caught:
        await h.connector.request("GET", "/x")
    assert SECRET not in str(caught.value) and "**********" in str(caught.value)


async def test_spent_quota_waits_until_reset_before_the_next_request(harness: Callable[..., Harness]) -> None:
    h = harness(ok(**{"ratelimit-remaining": "0", "ratelimit-reset": "7"}), ok(**{"ratelimit-remaining": "5"}))
    await h.connector.request("GET", "/first")
    assert h.sleeps == []  # nothing to wait for until another request is made
    await h.connector.request("GET", "/second")
    assert h.sleeps == [7.0]
    await h.connector.request("GET", "/third")
    assert h.sleeps == [7.0]  # quota left: no more waiting


async def test_spent_quota_without_reset_header_waits_the_default_window(
    harness: Callable[..., Harness],
) -> None:
    h = harness(ok(**{"x-rate-limit-remaining": "0"}), ok())
    await h.connector.request("GET", "/first")
    await h.connector.request("GET", "/second")
    assert h.sleeps == [DemoConnector.default_reset]


async def test_quota_wait_accounts_for_time_already_passed(harness: Callable[..., Harness]) -> None:
    now = iter([1000.0, 1005.0])
    h = harness(ok(**{"ratelimit-remaining": "0", "ratelimit-reset": "7"}), ok(), clock=lambda: next(now))
    await h.connector.request("GET", "/first")
    await h.connector.request("GET", "/second")
    assert h.sleeps == [2.0]


async def test_each_retry_is_logged_at_info_with_its_reason_and_wait(
    harness: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    """`once` against a failing helpdesk is not silent; the outage itself is the daemon's to log."""
    caplog.set_level(logging.INFO, logger="backlog_watch.sources.http")
    h = harness(httpx.Response(503), httpx.Response(503), httpx.Response(503), ok())
    await h.connector.request("GET", "/x")
    records = [r for r in caplog.records if r.name == "backlog_watch.sources.http"]
    assert [r.levelno for r in records] == [logging.INFO] * 3
    assert all(getattr(r, "helpdesk", None) == "demo" for r in records)
    for record, wait in zip(records, h.sleeps, strict=True):
        assert "server error (503" in record.getMessage()
        assert f"retrying in {wait:.1f}s" in record.getMessage()
    assert "(attempt 2 of 6)" in records[0].getMessage()


async def test_a_request_stops_retrying_within_half_the_poll_interval(harness: Callable[..., Harness]) -> None:
    h = harness(CONNECT_ERROR)
    h.connector.settings = h.connector.settings.model_copy(update={"poll_every": timedelta(seconds=20)})
    with pytest.raises(TransientError):
        await h.connector.request("GET", "/x")
    assert h.connector.request_budget == 10.0
    assert 0 < sum(h.sleeps) <= 10.0


async def test_absolute_urls_are_rebased_on_the_configured_host(harness: Callable[..., Harness]) -> None:
    h = harness(ok())
    await h.connector.request("GET", "https://elsewhere.example.net/api/v2/groups.json?page=2")
    assert str(h.seen[0].url) == "https://demo.example.com/api/v2/groups.json?page=2"


def test_seconds_until_reads_numbers_dates_and_rejects_garbage() -> None:
    now = datetime(2024, 2, 7, 2, 9, 1, tzinfo=UTC)
    assert seconds_until("2", now=now) == 2.0
    assert seconds_until("Wed, 07 Feb 2024 02:09:31 GMT", now=now) == 30.0
    assert seconds_until("2024-02-07T02:10:01Z", now=now) == 60.0
    assert seconds_until("Wed, 07 Feb 2024 02:00:00 GMT", now=now) == 0.0
    assert seconds_until("soon", now=now) is None


async def test_read_each_sorts_deleted_records_from_read_ones(harness: Callable[..., Harness]) -> None:
    h = harness(ok({"id": "1"}), httpx.Response(404, json={"error": "gone"}), ok({"id": "3"}))
    gone, read = await h.connector.read_each({"A": "/r/1", "B": "/r/2", "C": "/r/3"}, params={"f": "x"})
    assert gone == frozenset({"B"}) and read == {"A": {"id": "1"}, "C": {"id": "3"}}
    assert [r.url.path for r in h.seen] == ["/r/1", "/r/2", "/r/3"] and h.seen[0].url.params["f"] == "x"


async def test_read_each_raises_what_is_not_a_404(harness: Callable[..., Harness]) -> None:
    h = harness(httpx.Response(400, json={"error": "bad"}))
    with pytest.raises(RequestError):
        await h.connector.read_each({"A": "/r/1"})


def test_error_body_is_the_json_object_or_none() -> None:
    assert HttpConnector.error_body(httpx.Response(400, json={"error": "x"})) == {"error": "x"}
    assert HttpConnector.error_body(httpx.Response(400, json=["x"])) is None
    assert HttpConnector.error_body(httpx.Response(400, text="<html>")) is None
