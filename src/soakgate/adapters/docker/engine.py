"""The Docker engine, reached through the Docker SDK (the engine's API, no CLI strings).

The SDK is imported on first use, here and in the Pulumi dynamic providers: it takes ~0.12 s,
and the Pulumi plugins import these modules for every operation while a no-change
``pulumi up`` (check and diff only) never talks to the engine through them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from soakgate.errors import DockerError

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container
    from docker.models.images import Image

# "auto": ask the engine which API version it speaks. The SDK's default is newer than the
# 1.41 of Debian's docker.io 20.10, which would refuse it.
API_VERSION = "auto"


@lru_cache(maxsize=1)
def client() -> docker.DockerClient:
    """Return a client for the engine named by DOCKER_HOST (default: the local socket)."""
    import docker
    import docker.errors

    try:
        return docker.from_env(version=API_VERSION, timeout=120)
    except docker.errors.DockerException as exc:
        raise DockerError(
            f"the Docker engine does not answer ({exc})",
            hint="run ./bootstrap (it starts dockerd) or set DOCKER_HOST",
        ) from exc


def find_container(name_or_id: str) -> Container | None:
    """Return the container, or None when the engine has none by that name or id."""
    import docker.errors

    try:
        return client().containers.get(name_or_id)
    except docker.errors.NotFound:
        return None


def remove_container(name_or_id: str) -> bool:
    """Stop and remove a container; return False when it was already gone."""
    import docker.errors

    container = find_container(name_or_id)
    if container is None:
        return False
    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        return False
    return True


def build_from(base: str, lines: Sequence[str], tag: str | None = None) -> Image:
    """Build an image ``FROM base`` plus ``lines`` (Dockerfile lines, no build context): a
    variant of a release, e.g. with an environment variable that slows it down."""
    dockerfile = "\n".join([f"FROM {base}", *lines, ""]).encode()
    image, _ = client().images.build(fileobj=io.BytesIO(dockerfile), tag=tag, rm=True)
    return image
