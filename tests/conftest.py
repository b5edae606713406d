"""Fixtures of the real toolchain, shared by the integration and fault suites (one build of
the releases per test session): the env ./bootstrap made, the Docker engine, Pulumi.

In CI (CI=true) a missing part is a failure of the set-up, never a skip.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from soakgate.adapters.envfile import ENV_FILE, parse_env_file
from soakgate.adapters.images.host_image import TOOLBOX_IMAGE, make_host_image
from soakgate.core.release import Release
from soakgate.scratch import ScratchProject, make_scratch, releases_of
from tests.integration.setup_missing import missing

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def toolchain_env() -> dict[str, str]:
    """The process environment with ./bootstrap's env file applied."""
    path = ROOT / ENV_FILE
    if not path.is_file():
        missing(f"{path} does not exist; run ./bootstrap first")
    env = dict(os.environ)
    env.update(parse_env_file(path.read_text(), env))
    return env


@pytest.fixture(scope="session")
def engine(toolchain_env: dict[str, str]) -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except docker.errors.DockerException as exc:
        missing(f"no Docker engine answers ({exc}); run ./bootstrap first")
    return client


@pytest.fixture(scope="session")
def toolbox_image(engine: docker.DockerClient) -> str:
    """A tiny local image (host binaries, ``docker import``) that can run ``sleep``."""
    make_host_image()
    return TOOLBOX_IMAGE


@pytest.fixture
def stack_name() -> str:
    return f"it-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def cleanup_containers(engine: docker.DockerClient) -> Iterator[list[str]]:
    """Names of containers a test may leave behind on failure; removed afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        with contextlib.suppress(docker.errors.NotFound):
            engine.containers.get(name).remove(force=True)


@pytest.fixture(scope="session")
def base_images(engine: docker.DockerClient) -> None:
    """The Python base images and the proxy image, made offline unless up to date."""
    from soakgate.adapters.images.proxy_image import make_proxy_image
    from soakgate.adapters.images.rootfs import DebootstrapBuilder
    from soakgate.app.bases import make_bases
    from soakgate.core.base_recipes import DEFAULT_NAME_PREFIX

    results = make_bases(
        ["3.12", "3.14"], DEFAULT_NAME_PREFIX, None, False, builder=DebootstrapBuilder()
    )
    failed = [result for result in results if result.error is not None]
    assert not failed, [str(result.error) for result in failed]
    make_proxy_image()


@pytest.fixture(scope="session")
def built(
    base_images: None, toolchain_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> ScratchProject:
    """A scratch project that built both service images through its dev stack."""
    project = make_scratch(tmp_path_factory.mktemp("build"), toolchain_env, with_service=True)
    result = project.soakgate("build", timeout=1200)
    assert result.returncode == 0, result.stdout + result.stderr
    return project


@pytest.fixture(scope="session")
def releases(built: ScratchProject) -> dict[str, Release]:
    """The built releases by Python series: {"3.12": …, "3.14": …}."""
    found = releases_of(built)
    assert set(found) == {"3.12", "3.14"}, found
    return found


@pytest.fixture
def scratch(
    tmp_path: Path,
    toolchain_env: dict[str, str],
    engine: docker.DockerClient,
    releases: dict[str, Release],
) -> Iterator[ScratchProject]:
    """A fresh scratch project knowing the built releases (and holding the service's source,
    which the evidence reads); its stages are destroyed after."""
    project = make_scratch(tmp_path, toolchain_env, with_service=True)
    project.record(list(releases.values()))
    try:
        yield project
    finally:
        project.destroy(engine)


@pytest.fixture(scope="session")
def advisories(built: ScratchProject, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An OSV directory made by the real ``soakgate advisories refresh`` of the sample's pins,
    from a package index on loopback that answers with tests/data/osv."""
    from tests.integration.advisory_index import AdvisoryIndex

    directory = tmp_path_factory.mktemp("advisories") / "osv"
    requirements = built.root / "images" / "service" / "requirements.txt"
    with AdvisoryIndex(ROOT / "tests" / "data" / "osv") as index:
        result = built.soakgate(
            "advisories", "refresh", str(directory), "--requirements", str(requirements),
            "--index-url", index.url,
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert index.asked, "the refresh asked the index nothing"
    return directory
