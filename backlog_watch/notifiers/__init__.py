"""Notifiers: where alerts go. Each implements ``backlog_watch.dispatch.Notifier``."""

from __future__ import annotations
