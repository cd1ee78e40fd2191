"""The shared paginator: every page is read once, and a next token that comes back twice stops the
listing with PaginationError instead of looping forever."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import pytest

from backlog_watch.errors import PaginationError
from backlog_watch.sources.http import HttpConnector
from backlog_watch.sources.paginator import NextPage, RepeatGuard, paginate


def pages_of(answers: Mapping[str | None, tuple[str, str | None]], asked: list[str | None]) -> NextPage[str]:
    """A page source answering from ``answers`` and noting each token asked for."""

    async def next_page(token: str | None) -> tuple[str, str | None]:
        asked.append(token)
        return answers[token]

    return next_page


async def test_every_page_is_read_once_in_order() -> None:
    asked: list[str | None] = []
    answers = {None: ("a", "t1"), "t1": ("b", "t2"), "t2": ("c", None)}
    bodies = [b async for b in paginate(pages_of(answers, asked), helpdesk="hd", what="the token")]
    assert bodies == ["a", "b", "c"] and asked == [None, "t1", "t2"]


async def test_a_token_seen_twice_raises_after_the_page_that_announced_it() -> None:
    asked: list[str | None] = []
    answers = {None: ("a", "t1"), "t1": ("b", "t2"), "t2": ("c", "t1")}
    bodies: list[str] = []
    with pytest.raises(PaginationError, match="the token 't1' came twice") as caught:
        async for body in paginate(pages_of(answers, asked), helpdesk="hd", what="the token"):
            bodies.append(body)
    assert bodies == ["a", "b", "c"] and asked == [None, "t1", "t2"]
    assert caught.value.helpdesk == "hd"


@pytest.mark.parametrize(
    ("start", "tokens", "repeat"),
    [
        (None, ["a", "b", None, "c"], None),
        (None, ["a", "b", "a"], "a"),
        ("s", ["a", "s"], "s"),  # the position asked for, answered again: a loop too
    ],
)
def test_the_repeat_guard(start: str | None, tokens: list[str | None], repeat: str | None) -> None:
    guard = RepeatGuard("hd", "the cursor", start=start)
    if repeat is None:
        for token in tokens:
            guard.see(token)
        return
    with pytest.raises(PaginationError, match=f"the cursor '{repeat}' came twice"):
        for token in tokens:
            guard.see(token)


async def test_http_pages_follow_the_next_link_and_stop_on_a_repeated_one() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        page = int(request.url.params.get("page", "1"))
        following = "http://127.0.0.1/list?page=" + ("2" if page >= 2 else str(page + 1))
        return httpx.Response(200, json=[page], headers={"Link": f'<{following}>; rel="next"'})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        connector = HttpConnector({"name": "hd", "type": "x", "url": "http://127.0.0.1"}, client)
        bodies = []
        with pytest.raises(PaginationError, match="the next link .*page=2' came twice"):
            async for response in connector.pages_of("/list", params={"per_page": 2}):
                bodies.append(response.json())
    assert bodies == [[1], [2]]
    assert seen == ["http://127.0.0.1/list?per_page=2", "http://127.0.0.1/list?page=2"]
