"""The wallboard page (static/wallboard.html): one HTML file with plain JavaScript, no framework, no build step.

It fetches /api/backlog every ``refresh`` seconds and redraws in place (no reload), so a wall screen
left on it for weeks stays current. It is laid out for a wall: the page is the viewport and never scrolls,
each card is a CSS size container whose type is a share of the card (so one card or seven fill the screen
without clipping) but never under 12 px (a small card drops the sparkline's label and sets a fact's unit
beside its figure instead), the alerts that do not fit are counted ("+N more"), ``?tv=1`` drops the header and
scales up, and the theme follows ``prefers-color-scheme``. Text is set with textContent only, so a ticket
subject cannot inject markup.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def _template() -> str:
    return files("backlog_watch.web").joinpath("static/wallboard.html").read_text(encoding="utf-8")


def page(refresh_seconds: int) -> str:
    return _template().replace("__REFRESH__", str(int(refresh_seconds)))
