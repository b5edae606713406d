"""``soakgate:secretEnv`` end to end: a Pulumi secret of the stack reaches the app container as
a file at /run/secrets — not as an environment variable, not in clear in the Pulumi state —
a changed value is a blue/green update, and files a reboot took are written again by the next
deploy."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import docker
import pytest

from soakgate.adapters.stage.secret_files import CONTAINER_DIR, SECRETS_ROOT, secret_mount
from soakgate.core.release import Release
from soakgate.scratch import ScratchProject

pytestmark = pytest.mark.integration


def deploy(project: ScratchProject, release: Release) -> str:
    result = project.soakgate("deploy", "dev", "--release", release.digest)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def set_secret(project: ScratchProject, value: str) -> None:
    result = project.pulumi(
        "config",
        "set",
        "--secret",
        "--path",
        "soakgate:secretEnv.DB_PASSWORD",
        value,
        "--stack",
        "dev",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def active(
    project: ScratchProject, engine: docker.DockerClient
) -> docker.models.containers.Container:
    slot = str(project.stack_outputs("dev")["active"])
    return engine.containers.get(f"{project.namespace}-app-dev-{slot}")


def read_secret(container: docker.models.containers.Container) -> str:
    code, output = container.exec_run(["cat", f"{CONTAINER_DIR}/DB_PASSWORD"])
    assert code == 0, output.decode(errors="replace")
    return str(output.decode())


def test_a_secret_reaches_the_container_as_a_file_and_nowhere_in_clear(
    scratch: ScratchProject, releases: dict[str, Release], engine: docker.DockerClient
) -> None:
    release = releases["3.14"]
    deploy(scratch, release)
    first = active(scratch, engine)
    value = f"s3cret-{uuid.uuid4().hex}"
    set_secret(scratch, value)
    assert value not in (scratch.root / "Pulumi.dev.yaml").read_text()  # encrypted config

    deploy(scratch, release)  # same release, new secret: a blue/green update
    container = active(scratch, engine)
    assert container.name != first.name, "a changed secret did not redeploy the slot"
    assert read_secret(container) == value
    container.reload()
    assert value not in json.dumps(container.attrs), "the secret shows in docker inspect"
    directory = secret_mount(container.attrs)
    assert directory is not None and directory.parent == SECRETS_ROOT
    assert oct(directory.stat().st_mode & 0o777) == "0o500"
    assert oct((directory / "DB_PASSWORD").stat().st_mode & 0o777) == "0o400"
    exported = scratch.pulumi("stack", "export", "--stack", "dev")
    assert exported.returncode == 0, exported.stderr
    assert value not in exported.stdout, "the secret is in clear in the Pulumi state"
    shown = scratch.pulumi("stack", "export", "--stack", "dev", "--show-secrets")
    assert value in shown.stdout  # it is there, encrypted: the check above can fail

    # a new value: the warm slot takes it; its old files go with its old container
    second = f"s3cret-{uuid.uuid4().hex}"
    set_secret(scratch, second)
    deploy(scratch, release)
    newest = active(scratch, engine)
    assert newest.name == first.name and read_secret(newest) == second
    mounted = {
        secret_mount(c.attrs)
        for c in engine.containers.list(filters={"name": f"{scratch.namespace}-app-dev-"})
    } - {None}
    ours = {p for p in SECRETS_ROOT.iterdir() if p.name.startswith(f"{scratch.namespace}-dev-")}
    assert ours == mounted, (ours, mounted)

    # a reboot empties /dev/shm: the container comes back with an empty /run/secrets
    newest.reload()
    gone = secret_mount(newest.attrs)
    assert gone is not None
    _remove_tree(gone)
    newest.restart(timeout=5)
    code, _ = newest.exec_run(["cat", f"{CONTAINER_DIR}/DB_PASSWORD"])
    assert code != 0, "the files were not gone: the restore below is untested"
    output = deploy(scratch, release)  # no change to make: the files are written again
    assert read_secret(newest) == second, output
    assert active(scratch, engine).name == newest.name  # nothing was redeployed for it


def _remove_tree(directory: Path) -> None:
    directory.chmod(0o700)
    for entry in directory.iterdir():
        entry.unlink()
    directory.rmdir()
