"""Rules run over a backlog's past: `backlog-watch test rules` (a declared backlog, expected alerts) and
`backlog-watch replay` (the stored history), both through the daemon's own evaluation (engine.py)."""
