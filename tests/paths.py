"""Where the tests' data lives: in the repository, so a checkout anywhere runs the whole suite.

tests/fixtures/ is a copy of the project's shared real API payloads (../shared/fixtures); the
configuration contract is config/backlog-watch.example.yaml (a verbatim copy of
../shared/design/config-contract.yaml, checked by test_config when ../shared is beside the checkout).
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
CONTRACT = ROOT / "config" / "backlog-watch.example.yaml"
SHARED = ROOT.parent / "shared"
"""The shared design folder, present beside the main checkout (not in every CI checkout)."""
