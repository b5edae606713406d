"""Fixtures of the real toolchain: the env ./bootstrap made, the Docker engine, Pulumi.

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
from soakgate.adapters.host_image import TOOLBOX_IMAGE, make_host_image

ROOT = Path(__file__).resolve().parents[2]


def _missing(what: str) -> None:
    message = f"{what}; run ./bootstrap first"
    if os.environ.get("CI"):
        pytest.fail(f"integration set-up broken in CI: {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def toolchain_env() -> dict[str, str]:
    """The process environment with ./bootstrap's env file applied."""
    path = ROOT / ENV_FILE
    if not path.is_file():
        _missing(f"{path} does not exist")
    env = dict(os.environ)
    env.update(parse_env_file(path.read_text(), env))
    return env


@pytest.fixture(scope="session")
def engine(toolchain_env: dict[str, str]) -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except docker.errors.DockerException as exc:
        _missing(f"no Docker engine answers ({exc})")
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
