"""The drill's slow copy of a real release, built through the real Stages adapter: it keeps
the release's user and health check, answers its health path, serves work requests late, and
stops promptly on SIGTERM (the launcher passes it on). The whole drill (deploy the copy, roll
it back, record it) is tested end to end in test_rollback.py."""

from __future__ import annotations

import json
import signal
import statistics
import time
from typing import Any

import docker
import httpx
import pytest
from docker.models.containers import Container

from soakgate.adapters.config_file import load_config
from soakgate.adapters.stage.stages import EngineStages
from soakgate.app.drill import make_drill_release
from soakgate.core.config import DrillConfig
from soakgate.core.project import Project
from soakgate.core.release import Release
from soakgate.scratch import ROOT, ScratchProject

pytestmark = pytest.mark.integration

WORK = "/work/cpu?n=30000"  # ~20 ms of pure Python on this machine
HEALTH_TIMEOUT = 60.0  # the deploy's default (soakgate:healthTimeout)


def start(engine: docker.DockerClient, image: str, name: str, port: int) -> tuple[Container, str]:
    container = engine.containers.run(
        image, name=name, detach=True, ports={f"{port}/tcp": ("127.0.0.1", None)}
    )
    container.reload()
    host_port = container.ports[f"{port}/tcp"][0]["HostPort"]
    return container, f"http://127.0.0.1:{host_port}"


def seconds_to_health(url: str, timeout: float) -> float:
    """Seconds until the health path answers 200 (the deploy's own test); fails at timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer 200 within {timeout:.0f} s")


def latencies(url: str, count: int = 3) -> list[float]:
    found = []
    for _ in range(count):
        started = time.monotonic()
        assert httpx.get(url, timeout=20).status_code == 200
        found.append(time.monotonic() - started)
    return found


def docker_health(container: Container, timeout: float) -> str:
    """The engine's HEALTHCHECK verdict once it has one (or "starting" at timeout)."""
    deadline = time.monotonic() + timeout
    status = "starting"
    while time.monotonic() < deadline:
        container.reload()
        status = container.attrs["State"]["Health"]["Status"]
        if status != "starting":
            break
        time.sleep(1)
    return status


@pytest.mark.parametrize("cpus", [0.05, 0.01])  # the default, and the least allowed
def test_the_drill_copy_answers_its_health_and_serves_work_late(
    cpus: float,
    scratch: ScratchProject,
    releases: dict[str, Release],
    engine: docker.DockerClient,
    cleanup_containers: list[str],
) -> None:
    config = load_config(scratch.root)
    stages = EngineStages(Project(scratch.root, config, scratch.state))
    good = releases["3.14"]
    copy = make_drill_release(stages, good, DrillConfig(cpus=cpus))
    original_config = engine.images.get(good.digest).attrs["Config"]
    copy_config = engine.images.get(copy.digest).attrs["Config"]
    assert copy_config["User"] == original_config["User"] != ""  # still not root
    assert copy_config["Healthcheck"] == original_config["Healthcheck"]
    assert copy_config["Labels"]["soakgate.drill"] == "true"
    assert copy_config["Cmd"] == [*(original_config["Entrypoint"] or []), *original_config["Cmd"]]

    service = config.service
    figures: dict[str, dict[str, Any]] = {}
    containers: dict[str, Container] = {}
    for role, image in (("original", good.digest), ("drill", copy.digest)):
        name = f"{scratch.namespace}-drill-{role}"
        cleanup_containers.append(name)
        container, url = start(engine, image, name, service.port)
        containers[role] = container
        ready = seconds_to_health(f"{url}{service.health_path}", HEALTH_TIMEOUT)
        work = latencies(f"{url}{WORK}")
        health = latencies(f"{url}{service.health_path}")
        figures[role] = {
            "seconds_to_health": round(ready, 2),
            "work_median_ms": round(statistics.median(work) * 1000, 1),
            "health_median_ms": round(statistics.median(health) * 1000, 1),
        }

    original, drill = figures["original"], figures["drill"]
    assert drill["seconds_to_health"] < 20  # its start is not throttled (at 0.01: ~40 s if it were)
    assert drill["health_median_ms"] < 2000  # well inside the health check's timeout
    assert drill["work_median_ms"] > 3 * original["work_median_ms"]
    for role, container in containers.items():
        figures[role]["docker_health"] = docker_health(container, timeout=45)
        started = time.monotonic()
        container.stop(timeout=10)
        figures[role]["seconds_to_stop"] = round(time.monotonic() - started, 2)
        container.reload()
        figures[role]["exit_code"] = container.attrs["State"]["ExitCode"]
    assert drill["docker_health"] == original["docker_health"] == "healthy"
    assert drill["seconds_to_stop"] < 5  # SIGTERM reached the service: no SIGKILL at 10 s
    # uvicorn re-raises the SIGTERM it handled: ignored by PID 1 (the original: 0), the end
    # of a child (the copy: 143, as tini reports it). Not 137: nothing had to be killed.
    assert drill["exit_code"] in (original["exit_code"], 128 + signal.SIGTERM)
    (ROOT / "reports").mkdir(exist_ok=True)
    (ROOT / "reports" / f"drill-copy-cpus{cpus:g}.json").write_text(
        json.dumps({"cpus": cpus, "work": WORK, **figures}, indent=2)
    )
