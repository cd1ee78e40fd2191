"""The ``http:`` section: where the wallboard, /api/backlog, /metrics and the probes listen, and who may read.

The board shows ticket subjects and assignee names, so a listener other people can reach must either
ask for credentials (``auth``: a bearer token or basic auth), serve a board without them
(``public_readonly``), or say explicitly that something in front of it limits who reaches it
(``allow_unauthenticated``: a container port published on 127.0.0.1 only, an authenticating proxy).
Anything else on a non-loopback address is a config error: exposure by accident is the failure mode.
An empty value (``${BW_HTTP_TOKEN:-}`` unset) means "not configured", so one config serves both cases.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator, model_validator

from backlog_watch.durations import Interval
from backlog_watch.sources.settings import is_loopback

__all__ = ["BasicAuth", "HttpAuth", "HttpSettings", "split_listen"]

MIN_SECRET = 16


def _empty_is_unset(value: Any) -> Any:
    """``${VAR:-}`` with VAR unset gives "": that means the setting is off, not an empty secret."""
    return None if isinstance(value, str) and value.strip() == "" else value


def _long_enough(value: SecretStr | None) -> SecretStr | None:
    if value is not None and len(value.get_secret_value()) < MIN_SECRET:
        raise ValueError(f"must be at least {MIN_SECRET} characters (e.g. `openssl rand -hex 24`)")
    return value


class BasicAuth(BaseModel):
    """HTTP basic auth: what a browser asks for by itself on a wall screen's first visit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user: str | None = None
    password: SecretStr | None = None

    @field_validator("user", "password", mode="before")
    @classmethod
    def _unset(cls, value: Any) -> Any:
        return _empty_is_unset(value)

    @field_validator("password")
    @classmethod
    def _password(cls, value: SecretStr | None) -> SecretStr | None:
        return _long_enough(value)

    @model_validator(mode="after")
    def _both_or_neither(self) -> BasicAuth:
        if (self.user is None) != (self.password is None):
            raise ValueError("set both user and password, or neither")
        return self

    @property
    def configured(self) -> bool:
        return self.user is not None and self.password is not None


class HttpAuth(BaseModel):
    """Credentials for the wallboard, /api/backlog and /metrics (/healthz, /readyz and hooks stay open)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bearer: SecretStr | None = None
    """``Authorization: Bearer <token>``: for scripts and Prometheus (``authorization: {credentials: ...}``)."""
    basic: BasicAuth = BasicAuth()

    @field_validator("bearer", mode="before")
    @classmethod
    def _unset(cls, value: Any) -> Any:
        return _empty_is_unset(value)

    @field_validator("bearer")
    @classmethod
    def _bearer(cls, value: SecretStr | None) -> SecretStr | None:
        return _long_enough(value)

    @property
    def configured(self) -> bool:
        return self.bearer is not None or self.basic.configured


class HttpSettings(BaseModel):
    """Where the dashboard, /metrics, /healthz and /api/backlog listen, and who may read them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: str = "127.0.0.1:8080"
    hook_secret: SecretStr | None = None
    """The shared secret of ``POST /hooks/{helpdesk}`` (push to poll); hooks are off while it is unset or empty."""
    wallboard_refresh: Interval = timedelta(seconds=15)
    auth: HttpAuth = HttpAuth()
    public_readonly: bool = False
    """Serve the board and /api/backlog to anyone, without ticket subjects and assignee names."""
    allow_unauthenticated: bool = False
    """The full board without credentials on a non-loopback address: something in front limits who reaches it."""

    @field_validator("hook_secret", mode="before")
    @classmethod
    def _unset(cls, value: Any) -> Any:
        return _empty_is_unset(value)

    @field_validator("hook_secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        return _long_enough(value)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        split_listen(value)
        return value

    @model_validator(mode="after")
    def _not_exposed_by_accident(self) -> HttpSettings:
        if self.exposed and not (self.auth.configured or self.public_readonly or self.allow_unauthenticated):
            raise ValueError(
                f"http.listen {self.listen} is reachable from other machines but nothing protects the board "
                "(ticket subjects, assignee names): set http.auth.bearer or http.auth.basic, or "
                "http.public_readonly: true (no subjects or names), or http.allow_unauthenticated: true "
                "when only trusted clients can reach it (a port published on 127.0.0.1, an authenticating proxy)"
            )
        return self

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1]

    @property
    def exposed(self) -> bool:
        """Listening where other machines may connect: any address but a loopback one."""
        return not is_loopback(self.host)


def split_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or int(port) > 65535 or (":" in host and not bracketed):
        raise ValueError(f'"{text}" is not host:port (e.g. 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080)')
    return host, int(port)
