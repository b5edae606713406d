"""A slot's secrets as files on a host tmpfs, bind-mounted read-only at /run/secrets, so they
are neither environment variables (visible in ``docker inspect``) nor written to a disk.

    tag = fingerprint(state, {"DB_PASSWORD": "s3cret"})      # keyed: not a hash of the value
    mount = write_secret_files(names, "blue", {"DB_PASSWORD": "s3cret"}, owner=(10001, 10001),
                               tag=tag)
    # {"/dev/shm/soakgate/t1-staging-blue-<tag>": {"bind": "/run/secrets", "mode": "ro"}}
    # the container reads /run/secrets/DB_PASSWORD; remove_secret_files(names, "blue") after

One file per key, mode 0400, owned by the container's user (the image's numeric USER), in a
0500 directory under a 0711 root: nobody else on the host lists or reads them. A directory
belongs to one set of values (``tag``, an HMAC of them under a key kept in soakgate's state,
0600), so starting a candidate never changes the files of the container it replaces; the
files are written temp + rename, so a running container never sees half a file. /dev/shm is
emptied by a reboot: the next deploy of the stage writes the files of the slots that run the
desired values again (:func:`restore_secret_files`).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets as random
import shutil
from collections.abc import Mapping
from pathlib import Path

from soakgate.core.names import StageNames
from soakgate.core.validation import ENV_NAME
from soakgate.errors import ConfigError, DeployFailed

SECRETS_ROOT = Path("/dev/shm/soakgate")
CONTAINER_DIR = "/run/secrets"
SERVICE_USER = (10001, 10001)  # USER of images/service/Dockerfile


KEY_FILE = "secrets.key"


def secret_dir(names: StageNames, slot: str, root: Path = SECRETS_ROOT, tag: str = "") -> Path:
    """``<root>/<namespace>-<stage>-<slot>-<tag>`` (no namespace, no tag: fewer parts)."""
    prefix = f"{names.namespace}-" if names.namespace else ""
    return root / f"{prefix}{names.stage}-{slot}{f'-{tag}' if tag else ''}"


def _key(state: Path) -> bytes:
    """The HMAC key of the fingerprints: made once, 0600, in soakgate's state."""
    path = state / KEY_FILE
    with contextlib.suppress(FileNotFoundError):
        return path.read_bytes()
    state.mkdir(parents=True, exist_ok=True)
    tmp = state / f".{KEY_FILE}.{os.getpid()}.tmp"
    tmp.write_bytes(random.token_bytes(32))
    os.chmod(tmp, 0o600)
    try:
        os.link(tmp, path)  # the first writer wins; a second one reads the first one's key
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes()


def fingerprint(state: Path, secrets: Mapping[str, str]) -> str:
    """A short, keyed fingerprint of ``secrets`` ("" for none): a change of any value changes
    it, and it tells nothing about a value to whoever reads it in a label or a stack."""
    if not secrets:
        return ""
    payload = json.dumps(sorted(secrets.items())).encode()
    return hmac.new(_key(state), payload, hashlib.sha256).hexdigest()[:16]


def image_owner(user: str) -> tuple[int, int]:
    """The uid:gid files for a container of an image with this ``USER`` must have."""
    if user in ("", "root", "0", "0:0"):
        return (0, 0)
    uid, _, gid = user.partition(":")
    if not uid.isdigit() or (gid and not gid.isdigit()):
        raise ConfigError(
            f"the image runs as USER {user!r}: secret files need a numeric owner",
            hint="give USER as UID:GID in the Dockerfile (e.g. USER 10001:10001)",
        )
    return (int(uid), int(gid or uid))


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


def _fill(directory: Path, secrets: Mapping[str, str], owner: tuple[int, int] | None) -> None:
    """Make ``directory`` hold exactly ``secrets`` (0400 files, then the directory 0500)."""
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise ConfigError(f"{directory} is not a directory", hint=f"remove {directory}")
    directory.mkdir(mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)  # only us while writing
    for entry in directory.iterdir():
        if entry.name not in secrets:
            entry.unlink()
    for name, value in secrets.items():
        _write(directory / name, value, owner)
    if owner is not None:
        os.chown(directory, *owner)
    os.chmod(directory, 0o500)


def write_secret_files(
    names: StageNames,
    slot: str,
    secrets: Mapping[str, str],
    owner: tuple[int, int] | None = SERVICE_USER,
    root: Path = SECRETS_ROOT,
    tag: str = "",
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
    directory = secret_dir(names, slot, root, tag)
    try:
        root.mkdir(mode=0o711, parents=True, exist_ok=True)
        os.chmod(root, 0o711)  # others may pass through to their own directory, not list it
        _fill(directory, secrets, owner)
    except PermissionError as exc:
        raise DeployFailed(
            f"cannot write the secrets of {names.app(slot)} under {root} ({exc.strerror})",
            hint="run soakgate as root, or as the user the container runs as",
        ) from None
    return {str(directory): {"bind": CONTAINER_DIR, "mode": "ro"}}


def secret_mount(data: Mapping[str, object]) -> Path | None:
    """The host directory a container (its ``docker inspect``) mounts at /run/secrets."""
    mounts = data.get("Mounts")
    for mount in mounts if isinstance(mounts, list) else []:
        if isinstance(mount, dict) and mount.get("Destination") == CONTAINER_DIR:
            return Path(str(mount.get("Source")))
    return None


def restore_secret_files(
    directory: Path, secrets: Mapping[str, str], owner: tuple[int, int] | None
) -> bool:
    """Write the files again into ``directory`` when any is missing (a reboot emptied
    /dev/shm, the engine made the mount point anew); True when it wrote them."""
    if all((directory / name).is_file() for name in secrets):
        return False
    directory.parent.mkdir(mode=0o711, parents=True, exist_ok=True)
    _fill(directory, secrets, owner)
    return True


def remove_secret_files(
    names: StageNames, slot: str, root: Path = SECRETS_ROOT, keep: Path | None = None
) -> None:
    """Remove the slot's secret directories but ``keep`` (the one its container mounts);
    absent is fine."""
    prefix = secret_dir(names, slot, root).name
    if not root.is_dir():
        return
    for directory in root.iterdir():
        if directory == keep:
            continue
        if directory.name == prefix or directory.name.startswith(f"{prefix}-"):
            with contextlib.suppress(FileNotFoundError):
                os.chmod(directory, 0o700)
            shutil.rmtree(directory, ignore_errors=True)
