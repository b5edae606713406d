"""Tiny images made from the host's own binaries and ``docker import`` (no registry needed).

Used where any image that can run ``sleep`` will do: toolchain checks and tests.

    make_host_image("soakgate/toolbox:local", ["/bin/sleep", "/bin/sh"])
"""

from __future__ import annotations

import io
import shutil
import tarfile
from collections.abc import Iterable
from pathlib import Path

import docker.errors

from soakgate.adapters.docker import engine as docker_engine
from soakgate.adapters.process import run
from soakgate.errors import ConfigError

TOOLBOX_IMAGE = "soakgate/toolbox:local"
TOOLBOX_BINARIES = ("sleep", "sh", "cat", "ls", "id")


def shared_libraries(binary: Path) -> list[Path]:
    """Return the shared libraries ``binary`` loads, as ``ldd`` reports them."""
    result = run(["ldd", str(binary)], check=False)
    libraries = []
    for line in result.stdout.splitlines():
        parts = line.split()
        for part in parts:
            if part.startswith("/") and Path(part).exists():
                libraries.append(Path(part))
    return libraries


def _add(tar: tarfile.TarFile, path: Path, added: set[str]) -> None:
    arcname = str(path).lstrip("/")
    if arcname in added:
        return
    added.add(arcname)
    tar.add(str(path.resolve()), arcname=arcname, recursive=False)


def host_image_tar(binaries: Iterable[str]) -> bytes:
    """Build a root filesystem tarball holding ``binaries`` (found on PATH) and their libraries."""
    buffer = io.BytesIO()
    added: set[str] = set()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in binaries:
            found = shutil.which(name)
            if found is None:
                raise ConfigError(f"host binary {name!r} not found on PATH; install coreutils")
            binary = Path(found)
            tar.add(str(binary.resolve()), arcname=f"bin/{binary.name}")
            for library in shared_libraries(binary):
                _add(tar, library, added)
        info = tarfile.TarInfo("tmp")
        info.type = tarfile.DIRTYPE
        info.mode = 0o1777
        tar.addfile(info)
    return buffer.getvalue()


def make_host_image(
    reference: str = TOOLBOX_IMAGE, binaries: Iterable[str] = TOOLBOX_BINARIES
) -> str:
    """Import an image of host binaries under ``reference`` unless it exists; return its id."""
    engine = docker_engine.client()
    try:
        return str(engine.images.get(reference).id)
    except docker.errors.ImageNotFound:
        pass
    repository, _, tag = reference.partition(":")
    engine.api.import_image_from_data(
        host_image_tar(binaries),
        repository=repository,
        tag=tag or "latest",
        changes=["ENV PATH=/bin", 'CMD ["sleep", "3600"]'],
    )
    return str(engine.images.get(reference).id)
