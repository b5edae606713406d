"""The host checks' JUnit report is read by the same parser as the gates' test evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from soakgate.adapters.ssh.host_keys import SshSettings, render_ssh_config
from soakgate.app.verify import hosts_plan, summarise
from soakgate.core.host_health import MIN_FREE_BYTES
from soakgate.core.hosts import Host
from soakgate.errors import VerifyFailed

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="5">
<testcase classname="tests.hosts.test_app" name="test_runs_the_release[blue]"/>
<testcase classname="tests.hosts.test_app" name="test_non_root[blue]">
  <failure message="uid 0"/></testcase>
<testcase classname="tests.hosts.test_proxy" name="test_bound_to_loopback"><error/></testcase>
<testcase classname="tests.hosts.test_proxy" name="test_tls"><skipped/></testcase>
<testcase classname="tests.hosts.test_docker_host" name="test_the_engine_has_room[10.0.0.21]">
  <failure message="1 GiB"/></testcase>
</testsuite></testsuites>
"""


def test_passed_and_failed_checks_are_counted(tmp_path: Path) -> None:
    junit = tmp_path / "verify.xml"
    junit.write_text(REPORT)
    result = summarise(junit)
    assert result.passed == 1 and not result.ok
    assert result.failed == [
        "test_app::test_non_root[blue]",
        "test_proxy::test_bound_to_loopback",
        "test_docker_host::test_the_engine_has_room[10.0.0.21]",  # the dots of its parameter kept
    ]


def test_a_truncated_report_is_one_line_naming_it(tmp_path: Path) -> None:
    junit = tmp_path / "verify.xml"
    junit.write_text(REPORT[:200])
    with pytest.raises(VerifyFailed) as raised:
        summarise(junit)
    assert str(junit) in raised.value.message and "\n" not in raised.value.message


def test_a_stage_on_ssh_hosts_is_planned_per_host(tmp_path: Path) -> None:
    hosts = (Host("deploy", "10.0.0.21"), Host("ops", "10.0.0.22", 2222))
    plan = hosts_plan(hosts, [18081, 18082], tmp_path / "ssh_config")
    assert plan["ssh_config"] == str(tmp_path / "ssh_config")
    assert [(h["name"], h["user"], h["port"], h["allowed_ports"]) for h in plan["hosts"]] == [
        ("10.0.0.21", "deploy", 22, [22, 18081, 18082]),
        ("10.0.0.22_2222", "ops", 2222, [2222, 18081, 18082]),
    ]
    assert all(h["min_free_bytes"] == MIN_FREE_BYTES for h in plan["hosts"])
    assert "remote_apps" not in plan  # nothing deployed: only the hosts themselves


def test_a_deployed_stage_on_ssh_hosts_has_its_containers_checked_on_each(tmp_path: Path) -> None:
    stage = {"apps": [{"container": "app-production-blue"}], "proxy": {"active": "blue"}}
    plan = hosts_plan((Host("deploy", "10.0.0.21"),), [18082], tmp_path / "c", stage)
    assert plan["remote_apps"] == stage["apps"] and plan["remote_proxy"] == stage["proxy"]
    assert "apps" not in plan and "proxy" not in plan  # not this machine's docker:// checks


def test_the_ssh_config_trusts_and_authenticates_as_soakgate_does(tmp_path: Path) -> None:
    known, key = tmp_path / "known_hosts", tmp_path / "id"
    known.write_text("")
    key.write_text("k")
    text = render_ssh_config(
        SshSettings(known_hosts=(str(known), str(tmp_path / "absent")), identity=str(key))
    )
    assert f"UserKnownHostsFile {known}\n" in text  # only the files that exist
    assert "StrictHostKeyChecking yes" in text and "BatchMode yes" in text
    assert f"IdentityFile {key}\n" in text and "IdentitiesOnly yes" in text
    assert "IdentityFile" not in render_ssh_config(SshSettings(known_hosts=(str(known),)))
