"""Use case: check the toolchain with a probe and judge the readings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from soakgate.core.doctor import DoctorReport, Readings, diagnose


def doctor(
    project: Path, read_toolchain: Callable[[Path], Readings], with_test_tools: bool = False
) -> DoctorReport:
    """Read the toolchain of ``project`` and return the doctor's report.

    ``with_test_tools`` also requires what only the tests need (Chromium).
    """
    return diagnose(read_toolchain(project), with_test_tools=with_test_tools)
