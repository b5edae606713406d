"""Use case: check a deployed stage (or plain containers) with the pytest-testinfra checks in
``tests/hosts``, against a plan of what should be true, and summarise the JUnit result."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soakgate.adapters.process import run
from soakgate.app.stages import StageView
from soakgate.core.evidence import EvidenceError, parse_junit
from soakgate.core.host_health import MIN_FREE_BYTES
from soakgate.core.hosts import Host
from soakgate.core.names import StageNames
from soakgate.errors import ConfigError, VerifyFailed

HOST_TESTS = Path("tests") / "hosts"


@dataclass(frozen=True)
class VerifyResult:
    passed: int
    failed: list[str] = field(default_factory=list)
    junit: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.failed and self.passed > 0


def stage_plan(view: StageView, port: int, health_path: str) -> dict[str, Any]:
    """What must be true of a deployed stage, from its real slot table and its stack record."""
    names = StageNames(view.stage, view.namespace)
    apps = [
        {
            "container": names.app(slot.name),
            "digest": slot.digest,
            "python": slot.python,
            "port": port,
            "health_path": health_path,
            "role": "slot",
        }
        for slot in view.slots
        if slot.container
    ]
    return {
        "apps": apps,
        "proxy": {
            "container": names.proxy,
            "active_container": names.app(view.active) if view.active else None,
            "stage": view.stage,
            "active": view.active,
            "active_release": view.recorded_release,
            "url": view.url,
            "port": view.port,
            "bind_address": "127.0.0.1",
            "health_path": health_path,
        },
    }


def hosts_plan(
    hosts: Sequence[Host],
    allowed_ports: Sequence[int],
    ssh_config: Path,
    stage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What must be true of each SSH host of a stage (checked over SSH as its deploy user):
    engine reachable, room on its data root, log rotation, only SSH and the stages' proxies
    listening outside loopback; with ``stage`` (a :func:`stage_plan` of the stage's agreed
    table), its containers on every host too (``remote_apps``, ``remote_proxy``)."""
    checks = (
        {"remote_apps": stage["apps"], "remote_proxy": stage["proxy"]} if stage is not None else {}
    )
    return {
        **checks,
        "hosts": [
            {
                "name": host.name,
                "user": host.user,
                "address": host.address,
                "port": host.port,
                "min_free_bytes": MIN_FREE_BYTES,
                "allowed_ports": sorted({host.port, *allowed_ports}),
            }
            for host in hosts
        ],
        "ssh_config": str(ssh_config),
    }


def summarise(junit: Path) -> VerifyResult:
    """The host checks' result from their JUnit report (the gates' parser reads it)."""
    try:
        run = parse_junit(junit.read_bytes())
    except (OSError, EvidenceError) as exc:
        raise VerifyFailed(f"{junit}: unreadable host-check report ({exc})") from None
    return VerifyResult(run.passed, [_test_name(name) for name in run.failed_names], junit)


def _test_name(dotted: str) -> str:
    """``tests.hosts.test_x.test_y[10.0.0.21]`` → ``test_y[10.0.0.21]`` (a parameter may
    hold dots)."""
    head, bracket, parameter = dotted.partition("[")
    return head.split(".")[-1] + bracket + parameter


def run_host_checks(project: Path, plan: dict[str, Any], junit: Path) -> VerifyResult:
    """Run ``tests/hosts`` against ``plan``; write JUnit XML to ``junit``."""
    tests = project / HOST_TESTS
    if not tests.is_dir():
        raise ConfigError(f"{tests} not found", hint="run soakgate from its checkout")
    if not plan.get("apps") and not plan.get("hosts"):
        raise ConfigError("nothing to verify: no app container is running", hint="deploy first")
    junit.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(plan, handle)
    argv = [
        sys.executable,
        "-m",
        "pytest",
        str(tests),
        "-q",
        "-p",
        "no:cacheprovider",
        "--soakgate-plan",
        handle.name,
        f"--junitxml={junit}",
        "-o",
        "junit_family=xunit2",
    ]
    try:
        run(argv, cwd=str(project), check=False, timeout=600)
    finally:
        Path(handle.name).unlink(missing_ok=True)
    if not junit.is_file():
        raise ConfigError(
            f"host checks wrote no JUnit report at {junit}", hint="run with --verbose"
        )
    return summarise(junit)
