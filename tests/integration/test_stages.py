"""Issue C end to end on real stages: zero-downtime blue/green under steady load, a release
that never gets healthy, three stages side by side, and refusals of bad input."""

from __future__ import annotations

import json
import socket

import docker
import httpx
import pytest

from soakgate.adapters.docker.engine import build_from
from soakgate.adapters.load import LoadGenerator
from soakgate.adapters.stage.engine import StageEngine, http_get
from soakgate.core.names import StageNames
from soakgate.core.proxy_conf import Switch
from soakgate.core.release import Release
from soakgate.scratch import ROOT, ScratchProject, past_gates

pytestmark = pytest.mark.integration
REPORTS = ROOT / "reports"


def deploy(project: ScratchProject, stage: str, release: Release, *extra: str) -> None:
    result = project.soakgate(
        "deploy", stage, "--release", release.digest, *extra, *past_gates(stage)
    )
    assert result.returncode == 0, result.stdout + result.stderr


def served(project: ScratchProject, stage: str) -> tuple[str, str]:
    """(release digest, slot) answering through the stage's proxy."""
    response = httpx.get(f"{project.url(stage)}/version", timeout=5)
    assert response.status_code == 200
    return response.json()["release"], response.headers["x-soakgate-slot"]


def container(engine: docker.DockerClient, name: str) -> docker.models.containers.Container:
    return engine.containers.get(name)


def unhealthy_release(good: Release) -> Release:
    """A release of the same service whose /health always answers 500."""
    image = build_from(good.digest, ["ENV SERVICE_FAIL_HEALTH=1"], "soakgate-test/unhealthy:1")
    return Release(
        str(image.id),
        good.python,
        "unhealthy",
        "test",
        good.created,
        0,
        "soakgate-test/unhealthy:1",
    )


def write_report(name: str, data: dict[str, object]) -> None:
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")


def test_blue_green_deploy_under_load_drops_no_request(
    scratch: ScratchProject, releases: dict[str, Release], engine: docker.DockerClient
) -> None:
    a, b = releases["3.12"], releases["3.14"]
    deploy(scratch, "staging", a)
    assert served(scratch, "staging") == (a.digest, "blue")

    with LoadGenerator(f"{scratch.url('staging')}/version", rate=50, max_seconds=240) as load:
        deploy(scratch, "staging", b)
    report = load.report
    write_report(
        "zero-downtime-deploy",
        {"stage": "staging", "from": a.digest, "to": b.digest, **report.as_dict()},
    )
    print(f"\nzero-downtime deploy: {report.sent} requests sent, {report.failed} failed")

    assert report.sent >= 100
    assert report.failed == 0, report.first_failures
    assert served(scratch, "staging") == (b.digest, "green")
    warm = container(engine, f"{scratch.namespace}-app-staging-blue")
    assert warm.status == "running" and warm.labels["soakgate.release"] == a.digest
    status = json.loads(scratch.soakgate("status", "--json").stdout)
    staging = next(view for view in status if view["stage"] == "staging")
    assert staging["active"] == "green" and staging["recorded_release"] == b.digest


def test_release_that_never_gets_healthy_fails_and_keeps_traffic(
    scratch: ScratchProject, releases: dict[str, Release], engine: docker.DockerClient
) -> None:
    good = releases["3.14"]
    bad = unhealthy_release(good)
    scratch.record([bad])
    stack = scratch.root / "Pulumi.staging.yaml"
    stack.write_text(stack.read_text() + "  soakgate:healthTimeout: 6\n")
    deploy(scratch, "staging", good)

    with LoadGenerator(f"{scratch.url('staging')}/version", rate=50, max_seconds=120) as load:
        result = scratch.soakgate(
            "deploy", "staging", "--release", bad.digest, "--skip-verify", *past_gates("staging")
        )
    assert result.returncode != 0
    assert "did not pass within 6 s; traffic stays where it was" in result.stderr
    assert (
        "GET /health" in result.stderr or "500" in result.stderr
    )  # the container's last log lines
    assert load.report.failed == 0, load.report.first_failures
    assert served(scratch, "staging") == (good.digest, "blue")
    names = {c.name for c in engine.containers.list(all=True, filters={"name": scratch.namespace})}
    assert (
        f"{scratch.namespace}-app-staging-green-next" not in names
    )  # the failed candidate is gone

    # soakgate put the stack config back: the state is consistent, nothing to change.
    assert scratch.pulumi("preview", "--expect-no-changes", "--stack", "staging").returncode == 0

    # Plain pulumi with the bad release in the config: the up fails, traffic stays, and the
    # following preview shows only the intended change (the slots' release).
    assert (
        scratch.pulumi(
            "config", "set", "soakgate:release", bad.digest, "--stack", "staging"
        ).returncode
        == 0
    )
    assert scratch.pulumi("up", "--yes", "--stack", "staging").returncode != 0
    assert served(scratch, "staging") == (good.digest, "blue")
    preview = scratch.pulumi("preview", "--json", "--stack", "staging")
    steps = [step for step in json.loads(preview.stdout)["steps"] if step["op"] != "same"]
    assert [(step["urn"].rsplit("::", 1)[-1], step["op"]) for step in steps] == [
        ("staging-slots", "update")
    ]


def test_a_plain_pulumi_up_that_switches_is_on_the_ledger_once(
    scratch: ScratchProject, releases: dict[str, Release]
) -> None:
    """soakgate records its own deploys; a plain ``pulumi up`` (which took the stage lock
    itself) records its switch through the provider, so every switch is on the ledger once."""
    old, new = releases["3.12"], releases["3.14"]
    deploy(scratch, "dev", old, "--skip-verify")
    deploy(scratch, "dev", new, "--skip-verify")
    config = scratch.pulumi("config", "set", "soakgate:release", old.digest, "--stack", "dev")
    assert config.returncode == 0, config.stderr
    up = scratch.pulumi("up", "--yes", "--stack", "dev")
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
    assert served(scratch, "dev")[0] == old.digest
    result = scratch.soakgate("history", "dev", "--json")
    assert result.returncode == 0, result.stderr
    deploys = [e for e in json.loads(result.stdout) if e["kind"] == "deploy"]
    paths = [((e.get("data") or {}).get("path"), e["to_release"]) for e in deploys]
    assert paths == [(None, old.digest), (None, new.digest), ("pulumi up", old.digest)], paths
    assert deploys[-1]["from_release"] == new.digest
    again = scratch.pulumi("up", "--yes", "--stack", "dev")  # nothing to switch: no entry
    assert again.returncode == 0, again.stderr
    result = scratch.soakgate("history", "dev", "--json")
    assert len([e for e in json.loads(result.stdout) if e["kind"] == "deploy"]) == 3


@pytest.mark.parametrize("workers", ["seen", "unseen"])
def test_a_switch_returns_only_when_the_old_slot_takes_no_more_requests(
    workers: str,
    scratch: ScratchProject,
    releases: dict[str, Release],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a reload nginx's old worker accepts beside the new one for ~0.1 s: a switch that
    returned at the first answer from the new slot let the next requests reach the old one (a
    status naming one slot while the other answered). Ten switches back and forth, each
    followed at once by 30 fresh requests: every one must come from the slot switched to.
    "unseen": as with a remote engine, where the proxy's processes cannot be read."""
    deploy(scratch, "dev", releases["3.12"], "--skip-verify")
    deploy(scratch, "dev", releases["3.14"], "--skip-verify")  # both slots warm
    engine = StageEngine(
        "dev", scratch.state / "stages" / "dev" / "proxy", scratch.ports["dev"], scratch.namespace
    )
    assert engine.light.accepting_workers(engine.names.proxy), "the proxy's workers are visible"
    if workers == "unseen":
        monkeypatch.setattr(engine.light, "accepting_workers", lambda name: None)
    strays: list[tuple[int, str, object]] = []
    for turn in range(10):
        table = engine.read_slots()
        slot = table.inactive_name
        digest = table.slot(slot).digest
        assert digest is not None
        engine.switch(Switch(slot, digest, 8000, "/health", expect=engine.upstream()))
        answers = [http_get("127.0.0.1", scratch.ports["dev"], "/health") for _ in range(30)]
        strays += [(turn, slot, answer) for answer in answers if answer != (200, slot)]
    assert not strays, f"{len(strays)} of 300 answers not from the slot switched to: {strays[:5]}"


def test_three_stages_side_by_side(
    scratch: ScratchProject, releases: dict[str, Release], engine: docker.DockerClient
) -> None:
    plan = {"dev": releases["3.14"], "staging": releases["3.12"], "production": releases["3.12"]}
    for stage, release in plan.items():
        deploy(scratch, stage, release, "--skip-verify")
    before = {c.name: c.id for c in engine.containers.list(filters={"name": scratch.namespace})}
    assert len(before) == 6  # a proxy and one app per stage

    deploy(scratch, "staging", releases["3.14"])
    after = {c.name: c.id for c in engine.containers.list(filters={"name": scratch.namespace})}
    for name, container_id in before.items():
        if "-staging" not in name:
            assert after[name] == container_id, f"{name} changed by a deploy to staging"
    expected = {**plan, "staging": releases["3.14"]}
    for stage, release in expected.items():
        assert served(scratch, stage)[0] == release.digest
    for stage in ("dev", "production"):
        assert scratch.pulumi("preview", "--expect-no-changes", "--stack", stage).returncode == 0


def test_verify_catches_a_drifted_stage(
    scratch: ScratchProject, releases: dict[str, Release], engine: docker.DockerClient
) -> None:
    deploy(scratch, "production", releases["3.12"], "--skip-verify")
    assert scratch.soakgate("verify", "production").returncode == 0
    logs = scratch.soakgate("logs", "production", "-n", "3", "--json")  # this machine's engine
    assert logs.returncode == 0, logs.stderr
    tails = {log["container"]: log["lines"] for log in json.loads(logs.stdout)}
    names = StageNames("production", scratch.namespace)
    assert tails[names.proxy] is not None
    slots = [tails[names.app("blue")], tails[names.app("green")]]
    assert sum(lines is None for lines in slots) == 1  # one slot ran, the other never did
    stack = scratch.root / "Pulumi.production.yaml"
    stack.write_text(stack.read_text().replace(releases["3.12"].digest, releases["3.14"].digest))
    result = scratch.soakgate("verify", "production")
    assert result.returncode == 8
    assert "test_proxy_routes_to_the_active_slot" in result.stderr
    junit = scratch.root / "reports" / "verify-production.xml"
    assert junit.is_file() and "failure" in junit.read_text()


def test_unknown_stage_is_refused(scratch: ScratchProject, releases: dict[str, Release]) -> None:
    result = scratch.soakgate("deploy", "qa", "--release", releases["3.12"].digest)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == "error: STAGE: unknown stage 'qa'"


def test_release_not_present_locally_is_refused(
    scratch: ScratchProject, releases: dict[str, Release]
) -> None:
    ghost = Release("sha256:" + "0" * 64, "3.14.0", "9.9.9", "x", "", 0, "soakgate-test/ghost:1")
    scratch.record([ghost])
    result = scratch.soakgate("deploy", "staging", "--release", ghost.digest)
    assert result.returncode == 2
    assert (
        result.stderr.splitlines()[0]
        == "error: release 000000000000 is not present on this Docker host"
    )
    assert not (
        scratch.state / "pulumi-state" / ".pulumi" / "stacks" / "soakgate" / "staging.json"
    ).exists()


def test_port_already_taken_is_refused(
    scratch: ScratchProject, releases: dict[str, Release]
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", scratch.ports["staging"]))
        squatter.listen()
        result = scratch.soakgate("deploy", "staging", "--release", releases["3.12"].digest)
    assert result.returncode == 2
    assert (
        f"port {scratch.ports['staging']} of stage staging is already taken"
        in result.stderr.splitlines()[0]
    )


def test_malformed_stack_config_changes_nothing(
    scratch: ScratchProject, releases: dict[str, Release], engine: docker.DockerClient
) -> None:
    deploy(scratch, "staging", releases["3.12"], "--skip-verify")
    before = {c.name: c.id for c in engine.containers.list(filters={"name": scratch.namespace})}
    assert (
        scratch.pulumi(
            "config", "set", "soakgate:memoryMb", "lots", "--stack", "staging"
        ).returncode
        == 0
    )
    result = scratch.soakgate(
        "deploy", "staging", "--release", releases["3.14"].digest, *past_gates("staging")
    )
    assert result.returncode != 0
    assert "Pulumi.staging.yaml soakgate:memoryMb: expected a number, got 'lots'" in result.stderr
    assert {
        c.name: c.id for c in engine.containers.list(filters={"name": scratch.namespace})
    } == before
    assert served(scratch, "staging")[0] == releases["3.12"].digest


def test_a_stage_moved_to_ssh_hosts_that_do_not_answer_changes_nothing(
    scratch: ScratchProject, releases: dict[str, Release], engine: docker.DockerClient
) -> None:
    """soakgate:hosts moves a stage onto SSH hosts; when they do not answer, the deploy fails
    with one line naming each host, before Pulumi runs: the stage keeps running here."""
    deploy(scratch, "staging", releases["3.12"], "--skip-verify")
    before = {c.name: c.id for c in engine.containers.list(filters={"name": scratch.namespace})}
    hosts = "ssh://deploy@127.0.0.1:1, ssh://deploy@127.0.0.1:2"  # nothing listens there
    config = scratch.pulumi("config", "set", "soakgate:hosts", hosts, "--stack", "staging")
    assert config.returncode == 0, config.stderr
    try:
        result = scratch.soakgate(
            "deploy", "staging", "--release", releases["3.14"].digest, *past_gates("staging")
        )
        assert result.returncode == 5, result.stderr  # reading the stage's hosts, before Pulumi
        assert result.stderr.startswith(
            "error: no host of staging answers: 127.0.0.1:1 does not answer SSH"
        ), result.stderr
        assert "127.0.0.1:2 does not answer SSH" in result.stderr
        assert {
            c.name: c.id for c in engine.containers.list(filters={"name": scratch.namespace})
        } == before
        inventory = scratch.soakgate("inventory", "staging")
        assert inventory.returncode == 0, inventory.stderr
        assert "127.0.0.1_2" in inventory.stdout and "ansible_port: 2" in inventory.stdout
    finally:
        scratch.pulumi("config", "rm", "soakgate:hosts", "--stack", "staging")
    assert served(scratch, "staging")[0] == releases["3.12"].digest


def test_lock_held_by_a_live_process_is_refused(
    scratch: ScratchProject, releases: dict[str, Release]
) -> None:
    import os

    from soakgate.adapters.stage.lock import stage_lock

    with stage_lock(scratch.state, "staging", "soakgate deploy staging") as held:
        result = scratch.soakgate("deploy", "staging", "--release", releases["3.12"].digest)
    assert result.returncode == 6
    assert result.stderr.splitlines()[0] == (
        f"error: stage staging is locked by {held['user']}@{held['host']} pid {os.getpid()}"
        f" (soakgate deploy staging) since {held['since']}"
    )
