"""backlog-watch: keeps a support team's ticket backlog under control.

This module is the public surface connector authors import; everything else is private.
"""

from __future__ import annotations

__version__ = "0.1.0"
