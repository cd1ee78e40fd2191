"""The connectors shipped with backlog-watch, one module per helpdesk vendor, found by entry point."""
