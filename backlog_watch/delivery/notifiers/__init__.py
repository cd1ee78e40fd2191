"""Notifiers: where alerts go. Each implements ``backlog_watch.delivery.dedup.Notifier``."""

from __future__ import annotations
