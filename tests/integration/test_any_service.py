"""Issue I: a service that is not the sample goes through the whole path with the same
commands. plainsvc (images/plainsvc) shares nothing with images/service: standard library
only, port 9090, health at /healthz, no /version, a src/ layout, tests in checks/, a numeric
UID with no passwd entry. Its soakgate.toml alone tells soakgate its shape.

build (3.12 and 3.14, by the dev stack) → 3.12 live everywhere (a recorded bypass: the
migration's starting point) → 3.14 in dev → evidence collected for real (tests and mutation
in the release's image, audit, bandit, a bench of its own workload against staging's 3.12) →
gates → promote dev → staging (the soak starts by itself) → a short real soak → promote
staging → production on that soak → verify → emergency rollback → cold rollback → verify.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from soakgate.core.release import Release
from soakgate.scratch import ScratchProject, make_scratch, past_gates, releases_of

pytestmark = pytest.mark.integration
SOAK_SECONDS = 20
SHORT_SOAK = f"""
[gates.staging_to_production]
soak = "{SOAK_SECONDS}s"

[slo]
probe_interval = "1s"
duration = "{SOAK_SECONDS}s"
window = "1m"
window_min_samples = 10
min_samples = 15
trend_window = "5m"
"""


def ok(result: Any) -> Any:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def plainsvc(
    base_images: None,
    toolchain_env: dict[str, str],
    engine: docker.DockerClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ScratchProject]:
    """A scratch project of plainsvc, with a soak short enough to wait for."""
    project = make_scratch(
        tmp_path_factory.mktemp("plainsvc"), toolchain_env, with_service=True, service="plainsvc"
    )
    config = project.root / "soakgate.toml"
    config.write_text(config.read_text() + SHORT_SOAK)
    try:
        yield project
    finally:
        project.soakgate("soak", "stop", "staging", "--end", timeout=60)
        project.destroy(engine)


def gates(project: ScratchProject, source: str, target: str) -> dict[str, dict[str, Any]]:
    result = project.soakgate("gates", source, target, "--json")
    assert result.returncode in (0, 11), result.stdout + result.stderr
    return {gate["name"]: gate for gate in json.loads(result.stdout)["gates"]}


def slots(project: ScratchProject, stage: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the active slot, the warm one or None) as ``soakgate status --json`` reads them."""
    stages = json.loads(ok(project.soakgate("status", "--json")).stdout)
    (view,) = [view for view in stages if view["stage"] == stage]
    (active,) = [slot for slot in view["slots"] if slot["name"] == view["active"]]
    warm = [s for s in view["slots"] if s["name"] != view["active"] and s["container"]]
    return active, (warm[0] if warm else None)


def soak_state(project: ScratchProject) -> dict[str, Any]:
    status = json.loads(ok(project.soakgate("soak", "status", "staging", "--json")).stdout)
    return dict(status["verdict"])


def assert_serves(project: ScratchProject, stage: str, release: Release) -> None:
    """The stage's proxy answers plainsvc's health path from a slot running ``release``."""
    active, _ = slots(project, stage)
    assert active["digest"] == release.digest and active["running"], active
    answer = httpx.get(f"{project.url(stage)}/healthz", timeout=5)
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}
    primes = httpx.get(f"{project.url(stage)}/primes?limit=100", timeout=5)
    assert primes.json() == {"limit": 100, "primes": 25}


def test_a_service_of_its_own_shape_goes_through_every_command(
    plainsvc: ScratchProject, engine: docker.DockerClient
) -> None:
    project = plainsvc
    ok(project.soakgate("build", timeout=1200))
    releases = releases_of(project)
    assert set(releases) == {"3.12", "3.14"}, releases
    old, new = releases["3.12"], releases["3.14"]
    for release in (old, new):
        image = engine.images.get(release.digest)
        assert image.attrs["Config"]["User"] == "10001:10001"
        assert "9090/tcp" in image.attrs["Config"]["ExposedPorts"]

    # the migration's starting point: 3.12 live in every stage, on the ledger as a bypass
    for stage in ("dev", "staging", "production"):
        ok(project.soakgate("deploy", stage, "--release", old.digest, *past_gates(stage)))
        assert_serves(project, stage, old)

    # 3.14 into dev, its evidence measured for real, then through the gates to staging
    ok(project.soakgate("deploy", "dev", "--release", new.digest))
    assert_serves(project, "dev", new)
    collected = project.soakgate("evidence", "collect", new.digest, timeout=1800)
    ok(collected)
    table = gates(project, "dev", "staging")
    assert all(gate["passed"] for gate in table.values()), table
    assert re.search(r"\b\d+ passed\b", table["tests"]["measured"]), table["tests"]
    perf = table["performance"]["measured"]
    assert "intervals" in perf, perf  # a measured bench of plainsvc's own workload
    promoted = ok(project.soakgate("promote", "dev", "staging", timeout=900))
    assert "soak monitor of staging started" in promoted.stdout
    assert_serves(project, "staging", new)

    # not yet: the soak has not run its time
    early = gates(project, "staging", "production")
    assert not early["soak"]["passed"], early["soak"]
    refused = project.soakgate("promote", "staging", "production")
    assert refused.returncode != 0 and "soak" in refused.stdout + refused.stderr
    assert slots(project, "production")[0]["digest"] == old.digest

    deadline = time.monotonic() + SOAK_SECONDS + 90
    verdict = soak_state(project)
    while verdict["state"] != "healthy" and time.monotonic() < deadline:
        time.sleep(3)
        verdict = soak_state(project)
    assert verdict["state"] == "healthy", verdict
    ok(project.soakgate("promote", "staging", "production", timeout=900))
    assert_serves(project, "production", new)
    ok(project.soakgate("verify", "production", timeout=300))

    # the emergency flip back to 3.12, then a cold rollback of staging to it
    flipped = ok(project.soakgate("rollback", "production", "--emergency", "--reason", "drill"))
    assert "restored" in flipped.stdout
    assert_serves(project, "production", old)
    ok(project.soakgate("soak", "stop", "staging", "--end", timeout=60))
    _, warm = slots(project, "staging")
    assert warm is not None and warm["digest"] == old.digest, warm
    engine.containers.get(warm["container"]).remove(
        force=True
    )  # no warm 3.12: the rollback is cold
    cold = ok(project.soakgate("rollback", "staging", "--python", "3.12", timeout=900))
    assert "host checks" in cold.stdout and "passed" in cold.stdout
    assert_serves(project, "staging", old)
    events = json.loads(ok(project.soakgate("history", "--json")).stdout)
    paths = {(e["stage"], e["data"]["path"]) for e in events if e["kind"] == "rollback"}
    assert paths == {("production", "emergency"), ("staging", "cold")}, paths
    ok(project.soakgate("verify", "staging", timeout=300))
    ok(project.soakgate("incident", "list"))
    junit = (project.root / "reports" / "verify-staging.xml").read_text()
    assert "test_runs_as_non_root" in junit and "<failure" not in junit
    assert not Path(project.root / "images" / "plainsvc" / "requirements.txt").exists()
