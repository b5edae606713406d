"""A slot's secrets as files on a host tmpfs, bind-mounted read-only at /run/secrets, so they
are neither environment variables (visible in ``docker inspect``) nor written to a disk.

    mount = write_secret_files(names, "blue", {"DB_PASSWORD": "s3cret"}, owner=SERVICE_USER)
    # {"/dev/shm/soakgate/t1-staging-blue": {"bind": "/run/secrets", "mode": "ro"}}
    # the container reads /run/secrets/DB_PASSWORD; remove_secret_files(names, "blue") after

One file per key, mode 0400, owned by the container's user (the service image runs as
10001:10001), in a 0500 directory under a 0711 root: nobody else on the host lists or reads
them. The files are written anew at each start of the slot (temp + rename, so a running
container never sees half a file). /dev/shm is emptied by a reboot: whoever starts the slot
again (a deploy, the stage's reconcile) writes them first.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from soakgate.core.names import StageNames
from soakgate.core.validation import ENV_NAME
from soakgate.errors import ConfigError, DeployFailed

SECRETS_ROOT = Path("/dev/shm/soakgate")
CONTAINER_DIR = "/run/secrets"
SERVICE_USER = (10001, 10001)  # USER of images/service/Dockerfile


def secret_dir(names: StageNames, slot: str, root: Path = SECRETS_ROOT) -> Path:
    """``<root>/<namespace>-<stage>-<slot>`` (``<stage>-<slot>`` without a namespace)."""
    prefix = f"{names.namespace}-" if names.namespace else ""
    return root / f"{prefix}{names.stage}-{slot}"


def _write(path: Path, value: str, owner: tuple[int, int] | None) -> None:
    tmp = path.parent / f".{path.name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_EXCL | os.O_NOFOLLOW, 0o400)
    try:
        os.fchmod(fd, 0o400)
        if owner is not None:
            os.fchown(fd, *owner)
        view = memoryview(value.encode())
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    os.close(fd)
    os.replace(tmp, path)


def write_secret_files(
    names: StageNames,
    slot: str,
    secrets: Mapping[str, str],
    owner: tuple[int, int] | None = SERVICE_USER,
    root: Path = SECRETS_ROOT,
) -> dict[str, dict[str, str]]:
    """Write ``secrets`` as files of the slot's secret directory, remove files of keys no
    longer given, and return the Docker SDK ``volumes`` entry that mounts it at /run/secrets.
    ``owner`` None keeps the files the caller's (a container running as the same user)."""
    for name in secrets:
        if not ENV_NAME.match(name):
            raise ConfigError(
                f"soakgate:secretEnv: {name!r} is not a valid name (A-Z, a-z, 0-9, _)",
                hint="rename the key: it becomes a file name under /run/secrets",
            )
    directory = secret_dir(names, slot, root)
    try:
        root.mkdir(mode=0o711, parents=True, exist_ok=True)
        os.chmod(root, 0o711)  # others may pass through to their own directory, not list it
        directory.mkdir(mode=0o700, exist_ok=True)
        if directory.is_symlink() or not directory.is_dir():
            raise ConfigError(f"{directory} is not a directory", hint=f"remove {directory}")
        os.chmod(directory, 0o700)  # only us while writing
        for entry in directory.iterdir():
            if entry.name not in secrets:
                entry.unlink()
        for name, value in secrets.items():
            _write(directory / name, value, owner)
        if owner is not None:
            os.chown(directory, *owner)
        os.chmod(directory, 0o500)
    except PermissionError as exc:
        raise DeployFailed(
            f"cannot write the secrets of {names.app(slot)} under {root} ({exc.strerror})",
            hint="run soakgate as root, or as the user the container runs as",
        ) from None
    return {str(directory): {"bind": CONTAINER_DIR, "mode": "ro"}}


def remove_secret_files(names: StageNames, slot: str, root: Path = SECRETS_ROOT) -> None:
    """Remove the slot's secret directory (when its container is removed); absent is fine."""
    directory = secret_dir(names, slot, root)
    with contextlib.suppress(FileNotFoundError):
        os.chmod(directory, 0o700)
    shutil.rmtree(directory, ignore_errors=True)
