"""Issue G.9: the containers of a running stage die under load, on the main engine in a
scratch project. Staging runs release B (3.14) active and A (3.12) warm.

- The active app's process is killed (as the kernel's OOM killer would): its restart policy
  brings the slot back by itself and the stage serves B again; the proxy never answers from
  the warm slot meanwhile. What was lost: the requests while the slot restarted (counted).
- The proxy's process is killed: it comes back by itself (restart policy) and serves B again.
- The active app container is removed: ``soakgate status`` says so (not "healthy"), and the
  same deploy run again recreates it (its refresh sees the slot gone) and serves B.
- The proxy container is removed: ``soakgate status`` says the stage is down, a deploy run
  again recreates it, and an emergency rollback then restores A.

Every answer under load is compared with the record: the release that answers is B, or the
request failed; never A.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field

import docker
import httpx
import pytest

from soakgate.core.release import Release
from soakgate.scratch import ROOT, ScratchProject, past_gates

pytestmark = pytest.mark.integration

STAGE = "staging"
RECOVERY_BUDGET = 30.0  # seconds for a killed container to serve again by itself
RATE = 20.0  # requests per second of the load
LOAD_LIMIT = 120.0  # seconds: the load stops by itself


@dataclass
class Answers:
    """Every answer of the load: (release or None, slot or None, error or None)."""

    seen: list[tuple[str | None, str | None, str | None]] = field(default_factory=list)

    def failed(self) -> int:
        return sum(1 for _, _, error in self.seen if error)

    def releases(self) -> set[str]:
        return {release for release, _, error in self.seen if release and not error}


class Load:
    """GET /version through the proxy RATE times a second on fresh connections, bounded."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers = Answers()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set() and time.monotonic() - started < LOAD_LIMIT:
            try:
                response = httpx.get(self.url, timeout=1.0, headers={"Connection": "close"})
                if response.status_code == 200:
                    self.answers.seen.append(
                        (response.json()["release"], response.headers["x-soakgate-slot"], None)
                    )
                else:
                    self.answers.seen.append((None, None, f"HTTP {response.status_code}"))
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                self.answers.seen.append((None, None, type(exc).__name__))
            time.sleep(1 / RATE)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)


def deploy(project: ScratchProject, release: Release) -> None:
    result = project.soakgate(
        "deploy", STAGE, "--release", release.digest, "--skip-verify", *past_gates(STAGE)
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def serves(project: ScratchProject) -> str | None:
    try:
        response = httpx.get(f"{project.url(STAGE)}/version", timeout=1.0)
    except httpx.HTTPError:
        return None
    return str(response.json()["release"]) if response.status_code == 200 else None


def wait_serves(project: ScratchProject, digest: str, budget: float) -> float:
    """Seconds until three answers in a row are from ``digest``; fails after ``budget``."""
    started = time.monotonic()
    streak = 0
    while streak < 3:
        assert time.monotonic() - started < budget, f"{digest[:19]} not served in {budget} s"
        streak = streak + 1 if serves(project) == digest else 0
        time.sleep(0.1)
    return time.monotonic() - started


def status_of(project: ScratchProject) -> dict[str, object]:
    views = json.loads(project.soakgate("status", "--json").stdout)
    view: dict[str, object] = next(view for view in views if view["stage"] == STAGE)
    return view


def crash(engine: docker.DockerClient, name: str) -> None:
    """SIGKILL the container's main process from the host (a crash, not a ``docker kill``:
    the engine's restart policy applies to the first, not to a stop asked of it)."""
    container = engine.containers.get(name)
    os.kill(int(container.attrs["State"]["Pid"]), signal.SIGKILL)


def report(name: str, data: dict[str, object]) -> None:
    (ROOT / "reports").mkdir(exist_ok=True)
    (ROOT / "reports" / f"fault-{name}.json").write_text(json.dumps(data, indent=2))


@pytest.fixture
def running(scratch: ScratchProject, releases: dict[str, Release]) -> ScratchProject:
    deploy(scratch, releases["3.12"])
    deploy(scratch, releases["3.14"])
    return scratch


@pytest.mark.parametrize("part", ["app", "proxy"])
def test_a_crashed_container_comes_back_by_itself_and_never_serves_the_other_slot(
    part: str, running: ScratchProject, releases: dict[str, Release], engine: docker.DockerClient
) -> None:
    new = releases["3.14"]
    active = status_of(running)["active"]
    name = (
        f"{running.namespace}-app-{STAGE}-{active}"
        if part == "app"
        else f"{running.namespace}-proxy-{STAGE}"
    )
    with Load(f"{running.url(STAGE)}/version") as load:
        time.sleep(1)
        crash(engine, name)
        try:
            seconds = wait_serves(running, new.digest, RECOVERY_BUDGET)
        except AssertionError as failed:
            container = engine.containers.get(name)
            state = container.attrs["State"]
            logs = container.logs(tail=20).decode(errors="replace")
            policy = container.attrs["HostConfig"]["RestartPolicy"]
            raise AssertionError(f"{failed}; {name}: {state} {policy}\n{logs}") from None
        time.sleep(1)
    answers = load.answers
    assert answers.releases() == {new.digest}, f"the other slot answered: {answers.releases()}"
    assert {slot for _, slot, error in answers.seen if not error} == {active}
    view = status_of(running)
    assert view["active"] == active and view["health"] == "healthy", view
    report(
        f"crashed-{part}",
        {
            "recovered_seconds": round(seconds, 2),
            "requests": len(answers.seen),
            "failed": answers.failed(),
        },
    )


def test_a_removed_active_app_is_reported_and_a_deploy_recreates_it(
    running: ScratchProject, releases: dict[str, Release], engine: docker.DockerClient
) -> None:
    new = releases["3.14"]
    active = status_of(running)["active"]
    engine.containers.get(f"{running.namespace}-app-{STAGE}-{active}").remove(force=True)
    view = status_of(running)
    assert view["health"] != "healthy", f"status calls a stage without its app healthy: {view}"
    deploy(running, new)
    wait_serves(running, new.digest, 10)
    assert status_of(running)["health"] == "healthy"
    preview = running.pulumi("preview", "--expect-no-changes", "--stack", STAGE)
    assert preview.returncode == 0, preview.stdout[-2000:] + preview.stderr[-2000:]


def test_a_removed_proxy_is_reported_and_a_deploy_recreates_it(
    running: ScratchProject, releases: dict[str, Release], engine: docker.DockerClient
) -> None:
    good, new = releases["3.12"], releases["3.14"]
    engine.containers.get(f"{running.namespace}-proxy-{STAGE}").remove(force=True)
    view = status_of(running)
    assert view["health"] == "down", f"status does not say the stage is down: {view}"
    deploy(running, new)
    wait_serves(running, new.digest, 10)
    back = running.soakgate("rollback", STAGE, "--emergency", "--reason", "proxy test")
    assert back.returncode == 0, back.stdout[-2000:] + back.stderr[-2000:]
    wait_serves(running, good.digest, 10)
    preview = running.pulumi("preview", "--expect-no-changes", "--stack", STAGE)
    assert preview.returncode == 0, preview.stdout[-2000:] + preview.stderr[-2000:]
