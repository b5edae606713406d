"""The host checks' JUnit report is read by the same parser as the gates' test evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from soakgate.app.verify import summarise
from soakgate.errors import VerifyFailed

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4">
<testcase classname="tests.hosts.test_app" name="test_runs_the_release[blue]"/>
<testcase classname="tests.hosts.test_app" name="test_non_root[blue]">
  <failure message="uid 0"/></testcase>
<testcase classname="tests.hosts.test_proxy" name="test_bound_to_loopback"><error/></testcase>
<testcase classname="tests.hosts.test_proxy" name="test_tls"><skipped/></testcase>
</testsuite></testsuites>
"""


def test_passed_and_failed_checks_are_counted(tmp_path: Path) -> None:
    junit = tmp_path / "verify.xml"
    junit.write_text(REPORT)
    result = summarise(junit)
    assert result.passed == 1 and not result.ok
    assert result.failed == ["test_app::test_non_root[blue]", "test_proxy::test_bound_to_loopback"]


def test_a_truncated_report_is_one_line_naming_it(tmp_path: Path) -> None:
    junit = tmp_path / "verify.xml"
    junit.write_text(REPORT[:200])
    with pytest.raises(VerifyFailed) as raised:
        summarise(junit)
    assert str(junit) in raised.value.message and "\n" not in raised.value.message
