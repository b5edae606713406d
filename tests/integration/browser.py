"""Headless Chromium for the tests that look at a page the way a person would: a screenshot
of a local file, read back as pixels."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .setup_missing import missing


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        missing("chromium is not installed: ./bootstrap --with-test-tools")
    return found


def screenshot(page: Path, png: Path, size: tuple[int, int], profile: Path) -> None:
    """A screenshot of ``page`` at ``size`` (width, height) into ``png``; asserts it was made."""
    result = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            f"--window-size={size[0]},{size[1]}",
            f"file://{page}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert png.is_file(), result.stderr[-2000:]
