"""What several test modules share: config builders, the CLI runner, factories of alerts, bounded waits.

Test modules import from here (and from tests.factories, tests.paths, tests.smtp), never from each other.
"""
