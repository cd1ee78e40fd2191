"""`python -m backlog_watch` is the `backlog-watch` command."""

import sys

from backlog_watch.cli import main

sys.exit(main())
