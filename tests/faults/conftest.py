"""Fixtures of the fault suite: the integration fixtures (toolchain env, main engine, built
releases), a Docker engine of the suite's own in its own network namespace, and scratch
projects that deploy onto it.

In CI (CI=true) a missing part (no ``ip``, no ``nsenter``, network namespaces not permitted)
is a failure of the set-up, never a skip.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from soakgate.adapters.images.proxy_image import PROXY_IMAGE
from soakgate.core.release import Release
from soakgate.scratch import ROOT, STAGES, ScratchProject, make_scratch
from tests.integration.setup_missing import missing

from .netns_engine import EngineFailed, NetnsEngine, NetnsUnavailable, copy_images
from .ssh_hosts import SshHosts, sweep_leftovers


@pytest.fixture(scope="session")
def netns_engine() -> Iterator[NetnsEngine]:
    """A running dockerd of the suite's own (own netns, data root, socket, containerd);
    stopped and removed with its namespace afterwards, also when a test failed."""
    try:
        made = NetnsEngine.create()
    except NetnsUnavailable as exc:
        missing(str(exc))
    try:
        try:
            made.start()
        except EngineFailed as exc:
            pytest.fail(f"the suite's own Docker engine did not start: {exc}", pytrace=False)
        yield made
    finally:
        with contextlib.suppress(OSError):  # the engine's own account, kept for the report
            (ROOT / "reports").mkdir(exist_ok=True)
            shutil.copy2(made.log, ROOT / "reports" / "fault-dockerd.log")
        made.close()


@pytest.fixture(scope="session")
def netns_images(
    engine: docker.DockerClient,
    netns_engine: NetnsEngine,
    releases: dict[str, Release],
    base_images: None,
) -> dict[str, str]:
    """The built releases and the proxy image, copied from the main engine into the suite's
    (``docker save`` | ``docker load``, IDs preserved): {reference: image id}."""
    references = [release.image for release in releases.values()] + [PROXY_IMAGE]
    copied = copy_images(engine, netns_engine.client, references)
    for release in releases.values():
        assert copied[release.image] == release.digest, (release.image, copied)
    return copied


@pytest.fixture
def netns_scratch(
    tmp_path: Path,
    toolchain_env: dict[str, str],
    releases: dict[str, Release],
    netns_engine: NetnsEngine,
    netns_images: dict[str, str],
) -> Iterator[ScratchProject]:
    """A scratch project knowing the built releases whose engine (DOCKER_HOST) is the suite's
    own; what it leaves on that engine is removed afterwards."""
    project = make_scratch(tmp_path, toolchain_env)
    project.env["DOCKER_HOST"] = netns_engine.host
    project.record(list(releases.values()))
    try:
        yield project
    finally:
        if netns_engine.running:
            client = netns_engine.client
            with contextlib.suppress(docker.errors.DockerException):
                for container in client.containers.list(
                    all=True, filters={"name": f"{project.namespace}-"}
                ):
                    with contextlib.suppress(docker.errors.NotFound):
                        container.remove(force=True)
                for network in client.networks.list(
                    names=[f"{project.namespace}-soakgate-{stage}" for stage in STAGES]
                ):
                    with contextlib.suppress(docker.errors.APIError):
                        network.remove()


def two_ssh_hosts(*, log_rotation: bool = False) -> Iterator[SshHosts]:
    """Two Docker hosts reached over SSH (own namespace, engine, sshd and user each), removed
    afterwards with everything they made, also when a test failed."""
    sweep_leftovers()
    try:
        made = SshHosts.make(2, log_rotation=log_rotation)
    except NetnsUnavailable as exc:
        missing(str(exc))
    except EngineFailed as exc:
        pytest.fail(f"the SSH test hosts did not start: {exc}", pytrace=False)
    try:
        yield made
    finally:
        with contextlib.suppress(OSError):  # their sshd logs, kept for the report
            (ROOT / "reports").mkdir(exist_ok=True)
            for host in made:
                shutil.copy2(host.sshd_log, ROOT / "reports" / f"ssh-host-{host.index}-sshd.log")
        made.close()


@pytest.fixture(scope="module")
def ssh_hosts() -> Iterator[SshHosts]:
    """Two fresh SSH hosts (their engines do not rotate logs yet)."""
    yield from two_ssh_hosts()


@pytest.fixture
def ssh_scratch(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    toolchain_env: dict[str, str],
    releases: dict[str, Release],
    ssh_hosts: SshHosts,
) -> Iterator[ScratchProject]:
    """A scratch project knowing the built releases whose production stage runs on the SSH
    hosts; what it ran and sent there is removed afterwards (containers, its networks, the
    images: each test sends what it needs), unless the module sets ``KEEP_HOST_IMAGES``: then
    the images stay for its next test (its hosts, and their images, go with the module)."""
    keep_images = bool(getattr(request.module, "KEEP_HOST_IMAGES", False))
    project = make_scratch(tmp_path, toolchain_env)
    project.env.update(ssh_hosts.env)
    project.record(list(releases.values()))
    hosts = "".join(f"\n    - {url}" for url in ssh_hosts.urls)
    (project.root / "Pulumi.production.yaml").write_text(
        f"config:\n  soakgate:stage: production\n  soakgate:hosts:{hosts}\n"
    )
    try:
        yield project
    finally:
        for host in ssh_hosts:
            if host.engine.running:
                with contextlib.suppress(docker.errors.DockerException):
                    client = host.engine.client
                    for container in client.containers.list(all=True):
                        container.remove(force=True)
                    for network in client.networks.list(names=[f"{project.namespace}-"]):
                        network.remove()
                    for image in [] if keep_images else client.images.list():
                        client.images.remove(image.id, force=True)
