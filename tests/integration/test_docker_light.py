"""``LightDocker.reload`` delivers SIGHUP without the engine's kill API, so the container's
restart policy stays in force (Docker 20.10 counts any kill through the API as a manual stop,
after which a crashed container is not restarted)."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator

import docker
import pytest

from soakgate.adapters.docker.light import LightDocker

pytestmark = pytest.mark.integration

# counts the SIGHUPs it gets in /tmp/hups (written first once the trap is set), keeps running
HUP_COUNTER = (
    "n=0; trap 'n=$((n+1)); echo $n > /tmp/hups' HUP; echo 0 > /tmp/hups;"
    " while true; do sleep 0.1; done"
)


@pytest.fixture
def counter(engine: docker.DockerClient, toolbox_image: str) -> Iterator[str]:
    name = f"light-{uuid.uuid4().hex[:8]}"
    engine.containers.run(
        toolbox_image,
        ["sh", "-c", HUP_COUNTER],
        name=name,
        detach=True,
        restart_policy={"Name": "always"},
    )
    # a SIGHUP before the shell has set its trap would end it (CI saw that on a busy host)
    deadline = time.monotonic() + 30
    while engine.containers.get(name).exec_run(["cat", "/tmp/hups"]).exit_code != 0:
        assert time.monotonic() < deadline, "the counter did not set its trap within 30 s"
        time.sleep(0.05)
    try:
        yield name
    finally:
        engine.containers.get(name).remove(force=True)


def hups(engine: docker.DockerClient, name: str, want: int) -> int:
    deadline = time.monotonic() + 5
    seen = 0
    while time.monotonic() < deadline:
        read = ["sh", "-c", "cat /tmp/hups 2>/dev/null || echo 0"]
        result = engine.containers.get(name).exec_run(read)
        seen = int(result.output.decode().strip() or 0)
        if seen >= want:
            break
        time.sleep(0.1)
    return seen


def restarted(engine: docker.DockerClient, name: str) -> bool:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        container = engine.containers.get(name)
        if container.attrs["RestartCount"] >= 1 and container.status == "running":
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("path", ["from the host", "by exec"])
def test_reload_signals_and_a_crash_is_still_restarted(
    path: str, counter: str, engine: docker.DockerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    light = LightDocker()
    if path == "by exec":
        monkeypatch.setattr(LightDocker, "local", property(lambda self: False))
    light.reload(counter)
    assert hups(engine, counter, 1) == 1, "the container did not get the SIGHUP"
    light.reload(counter)  # after the first was handled: signals of one kind do not queue
    assert hups(engine, counter, 2) == 2, "the container did not get the second SIGHUP"
    pid = engine.containers.get(counter).attrs["State"]["Pid"]
    os.kill(pid, signal.SIGKILL)  # a crash
    assert restarted(engine, counter), "a reloaded container was not restarted after a crash"
