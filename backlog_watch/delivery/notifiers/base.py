"""The notifier protocol, and the registry of notifier types (``backlog_watch.notifiers`` entry points).

A notifier type is a class, registered by entry point under its config ``type``; the bundled ones
(console, email, slack, slack_webhook) are registered in pyproject.toml exactly as a third party's::

    [project.entry-points."backlog_watch.notifiers"]
    teams = "my_package.teams:TeamsNotifier"

The class has (``NotifierType``):

- ``Settings``: a pydantic model, subclass of ``NotifierSettings``, with ``type: Literal["teams"] =
  "teams"`` and its own keys. The config validates a notifier block with it, so a mistake in a plugin's
  block is reported as ``file:line: notifiers[0].key: message`` like any other; ``SecretStr`` fields
  are masked in every message and log.
- ``from_settings(settings, *, tz)``: a classmethod building the notifier; ``tz`` is the config's
  ``timezone``, for the times its messages show.

The built notifier (``Notifier``) has a ``name`` and ``async send(notification) -> Delivery``. It
raises ``NotifyError(retryable=..., retry_after=...)`` when it cannot deliver: the outbox retries a
retryable one (after ``retry_after`` seconds when the service said so), and never sleeps itself, so a
notifier must not retry on its own. Optional: ``async send_digest(notifications)`` (what quiet hours
held back, sent as one message), ``async send_report(prepared)`` (scheduled reports), ``async close()``,
and ``acknowledges = True`` (a class attribute: also sent ``Reason.ACKNOWLEDGED`` news, as Slack,
PagerDuty and JSM Operations are).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import EntryPoint
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, cast, runtime_checkable
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from backlog_watch.plugins import entry_points
from backlog_watch.sources.settings import is_loopback

if TYPE_CHECKING:
    from backlog_watch.delivery.dedup import Delivery, Notification

__all__ = [
    "ENTRY_POINT_GROUP",
    "NAME_PATTERN",
    "DigestNotifier",
    "Notifier",
    "NotifierSettings",
    "NotifierType",
    "available_notifiers",
    "https_or_loopback",
    "notifier_type",
]

ENTRY_POINT_GROUP = "backlog_watch.notifiers"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class NotifierSettings(BaseModel):
    """The keys every notifier block has; a notifier's own ``Settings`` adds its ``type`` and keys."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(pattern=NAME_PATTERN)
    type: str
    quiet_hours: str | None = None
    """A business_hours calendar: send only while it is open; what waits goes as one digest when it opens."""
    mute_time_intervals: tuple[str, ...] = ()
    """Named ``time_intervals``: hold while one is on; what waits goes as one digest when it ends."""
    except_levels: tuple[Literal["warn", "critical"], ...] = ()
    """Levels sent even in quiet hours or a mute time interval (``[critical]``)."""

    @field_validator("mute_time_intervals", "except_levels", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class Notifier(Protocol):
    """A built notifier: where notifications go. One that sets ``acknowledges = True`` (a class attribute)
    is also sent ``Reason.ACKNOWLEDGED`` news when someone acknowledges an alert it was told about;
    the others only have it logged."""

    name: str

    async def send(self, notification: Notification) -> Delivery:
        """Deliver, or raise NotifyError (retryable or not, with retry_after when the service asked)."""
        ...


@runtime_checkable
class DigestNotifier(Notifier, Protocol):
    """A notifier that can send what quiet hours held back as one message."""

    async def send_digest(self, notifications: Sequence[Notification]) -> None: ...


class NotifierType(Protocol):
    """What a ``backlog_watch.notifiers`` entry point names: the notifier class."""

    Settings: ClassVar[type[NotifierSettings]]

    def from_settings(self, settings: Any, *, tz: ZoneInfo) -> Notifier:
        """The notifier for one validated block (an instance of ``Settings``)."""
        ...


def available_notifiers() -> dict[str, NotifierType]:
    """Every notifier type installed under the ``backlog_watch.notifiers`` entry-point group, by type."""
    return {ep.name: _loaded(ep) for ep in entry_points(group=ENTRY_POINT_GROUP)}


def notifier_type(kind: object) -> NotifierType | None:
    """The registered notifier class for this config ``type``, or None. Only that type's module is
    imported: a config with a console notifier does not pay for slack-sdk, aiohttp and jinja2."""
    if not isinstance(kind, str):
        return None
    return next((_loaded(ep) for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == kind), None)


def _loaded(ep: EntryPoint) -> NotifierType:
    loaded = ep.load()
    settings = getattr(loaded, "Settings", None)
    if not (isinstance(settings, type) and issubclass(settings, NotifierSettings)) or not callable(
        getattr(loaded, "from_settings", None)
    ):
        raise TypeError(
            f'entry point {ENTRY_POINT_GROUP} "{ep.name}" = {ep.value} has no NotifierSettings `Settings` '
            "and `from_settings` (see backlog_watch/delivery/notifiers/base.py)"
        )
    return cast(NotifierType, loaded)


def https_or_loopback(url: str) -> bool:
    """Whether a notifier may send to this URL: https, or plain http to this machine (stand-ins, tests)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname))
