"""The console's front-end libraries: vendored copies match ui/package-lock.json, with
their licences, are packaged in the wheel, and every page asset the HTML names exists."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.servers import ROOT
from vectorgate_server.ui import STATIC_DIR

VENDOR = STATIC_DIR / "vendor"
TEST_VENDOR = Path(__file__).resolve().parent / "vendor"


def test_vendored_files_match_the_lockfile() -> None:
    lock = json.loads((ROOT / "ui" / "package-lock.json").read_text())
    package = json.loads((ROOT / "ui" / "package.json").read_text())
    for folder, pinned in (
        (VENDOR, package["dependencies"]),  # shipped in the wheel
        (TEST_VENDOR, package["devDependencies"]),  # the accessibility test's axe-core
    ):
        versions = json.loads((folder / "VERSIONS.json").read_text())
        assert set(versions) == set(pinned)
        for name, version in versions.items():
            # Pinned exactly in package.json, locked to the same version, vendored at it.
            assert pinned[name] == version
            assert lock["packages"][f"node_modules/{name}"]["version"] == version
            assert (folder / name / "LICENSE").read_text().strip()
    uplot = json.loads((VENDOR / "VERSIONS.json").read_text())["uplot"]
    header = (VENDOR / "uplot" / "uPlot.iife.min.js").read_text()[:200]
    assert re.match(r"/\*! https://github\.com/leeoniya/uPlot \(v([\d.]+)\) \*/", header)
    assert f"(v{uplot})" in header
    axe = json.loads((TEST_VENDOR / "VERSIONS.json").read_text())["axe-core"]
    assert f"axe v{axe}" in (TEST_VENDOR / "axe-core" / "axe.min.js").read_text()[:300]


def test_pages_name_only_packaged_same_origin_assets() -> None:
    html = (STATIC_DIR / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"#][^"]*)"', html)
    assert refs
    for ref in refs:
        assert "//" not in ref and not ref.startswith("/"), ref
        assert (STATIC_DIR / ref).is_file(), ref
    imports: list[str] = []
    for js in (STATIC_DIR / "js").glob("*.js"):
        for ref in re.findall(r'from "([^"]+)"', js.read_text()):
            imports.append(ref)
            assert ref.startswith("./"), (js.name, ref)
            assert (js.parent / ref).is_file(), (js.name, ref)
        assert not re.search(r"https?://", js.read_text()), js.name
    assert imports


@pytest.mark.slow
def test_the_wheel_carries_every_page_and_asset(tmp_path: Path) -> None:
    """Built as a user's pip would build it: no Node.js, the committed files only."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path), str(ROOT)],
        check=True,
        timeout=300,
        capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("vectorgate-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packaged = set(archive.namelist())
    package_root = STATIC_DIR.parents[2]
    expected = {
        path.relative_to(package_root).as_posix()
        for path in STATIC_DIR.rglob("*")
        if path.is_file()
    }
    assert "vectorgate_server/ui/static/index.html" in expected
    assert "vectorgate_server/ui/static/vendor/uplot/LICENSE" in expected
    assert expected <= packaged, sorted(expected - packaged)
