"""An example backlog-watch plugin: a connector for the ACME queue API and a JSON-lines notifier.

Everything here imports only ``backlog_watch`` (its pinned ``__all__``), as any third-party plugin should.
"""
