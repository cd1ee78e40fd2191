"""The configuration: ``load_config`` reads a file into a validated ``Config`` and explains every mistake.

models.py holds the pydantic models, loader.py reads YAML (``${ENV}``, limits), errors.py turns a
validation error into ``file:line: key.path: message``, references.py checks names between sections,
blocks.py validates helpdesk, notifier and rule blocks with the class their ``type`` names in a registry.
"""

from __future__ import annotations

from backlog_watch.config.loader import load_config, parse_config
from backlog_watch.config.models import Config

__all__ = ["Config", "load_config", "parse_config"]
