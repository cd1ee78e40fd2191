"""Store URLs as they may be shown: a PostgreSQL URL holds a password, which never is."""

from __future__ import annotations

from urllib.parse import urlsplit

POSTGRES_SCHEMES = ("postgresql", "postgres")


def redact_url(url: str) -> str:
    """The URL with its password (if any) replaced by ``***``."""
    try:
        password = urlsplit(url).password
    except ValueError:  # a malformed netloc: show no part of it that could be the password
        return url.split("://", 1)[0] + "://***"
    return url.replace(f":{password}@", ":***@", 1) if password else url


def is_postgres(url: str) -> bool:
    return url.partition("://")[0] in POSTGRES_SCHEMES
