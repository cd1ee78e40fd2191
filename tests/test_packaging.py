"""The wheel: it claims no generic top-level import name, and carries what `backlog-watch demo` needs, so
`pip install backlog-watch` + `backlog-watch demo` works outside a checkout."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from backlog_watch.config import parse_config
from backlog_watch.demo import DEMO_CONFIG
from tests.paths import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [built] = out.glob("backlog_watch-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_claims_only_its_own_top_level_names(wheel: zipfile.ZipFile) -> None:
    top = {name.split("/")[0] for name in wheel.namelist() if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"backlog_watch", "backlog_watch_connectors"}
    for listing in (n for n in wheel.namelist() if n.endswith(".dist-info/top_level.txt")):
        assert set(wheel.read(listing).decode().split()) <= {"backlog_watch", "backlog_watch_connectors"}


def test_the_wheel_carries_the_demo_config_templates_and_wallboard(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert "backlog_watch/sim/demo.yaml" in names
    assert {"backlog_watch/delivery/templates/email.html.j2", "backlog_watch/web/static/wallboard.html"} <= names
    assert wheel.read("backlog_watch/sim/demo.yaml") == DEMO_CONFIG.read_bytes()


def test_every_package_of_the_tree_is_listed_for_the_wheel() -> None:
    """pyproject lists packages explicitly (connectors/ installs under another name): none is forgotten."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "backlog_watch").rglob("__init__.py")}
    data = {"backlog_watch.web.static", "backlog_watch.delivery.templates"}  # folders of files, listed as packages
    assert found | {"backlog_watch_connectors"} | data == listed


def test_the_demo_config_loads_from_the_installed_package(tmp_path: Path) -> None:
    """The demo reads its config next to its own module, not from a checkout's config/ folder."""
    assert DEMO_CONFIG.is_file() and "config" not in DEMO_CONFIG.relative_to(ROOT).parts[:1]
    urls = {
        f"DEMO_{kind}_URL": f"http://127.0.0.1:{port}" for kind, port in (("ZENDESK", 1), ("FRESHDESK", 2), ("JIRA", 3))
    }
    config = parse_config(DEMO_CONFIG.read_text(), str(DEMO_CONFIG), env={**urls, "DEMO_DATA": str(tmp_path)})
    assert [h.type for h in config.helpdesks] == ["zendesk", "freshdesk", "jira"]
    assert [n.name for n in config.notifiers] == ["console"]


def test_the_installed_wheel_finds_its_demo_config_outside_a_checkout(wheel: zipfile.ZipFile, tmp_path: Path) -> None:
    """The wheel unpacked elsewhere (no checkout, no editable finder: ``python -S``) reads the demo config
    from its own package (test_the_demo_config_loads... shows that this file is a valid config)."""
    target = tmp_path / "site"
    wheel.extractall(target)
    site_packages = next(p for p in sys.path if p.endswith("site-packages"))
    probe = (
        "import sys; sys.path[:0] = sys.argv[1:3]\n"
        "from backlog_watch.demo import DEMO_CONFIG\n"
        "print(DEMO_CONFIG, DEMO_CONFIG.read_text().count('type: '))\n"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", probe, str(target), site_packages],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    shown, types = done.stdout.split()
    assert Path(shown) == target / "backlog_watch" / "sim" / "demo.yaml"
    assert int(types) == DEMO_CONFIG.read_text().count("type: ") > 3
