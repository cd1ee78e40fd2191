"""The installed plugins' entry points, read once a process.

``importlib.metadata.entry_points(group=...)`` walks every installed distribution's metadata on each
call (2-3 ms in a typical virtualenv); loading a config asked it once per rule block, notifier and
helpdesk. A plugin is installed with the process stopped (its modules are imported when first used),
so one reading a process is what it needs.
"""

from __future__ import annotations

from functools import cache
from importlib import metadata


@cache
def entry_points(*, group: str) -> metadata.EntryPoints:
    """The entry points of ``group`` (``backlog_watch.connectors``, ...), read once a process."""
    return metadata.entry_points(group=group)
