"""Read the real toolchain for ``soakgate doctor``: engine, CLI, plugins, venv, disk, images,
debootstrap and its keyring, the CPython 3.12 of the 3.12 base, host commands, Chromium."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import sys
from pathlib import Path

import docker
import docker.errors

from soakgate.adapters.images import rootfs
from soakgate.adapters.images.interpreter_info import base_python_versions
from soakgate.adapters.process import run
from soakgate.core.doctor import HOST_COMMANDS, Readings
from soakgate.core.names import LABEL_BASE
from soakgate.errors import SoakgateError


def engine_version() -> str | None:
    try:
        client = docker.from_env(timeout=5)
        return str(client.version().get("Version"))
    except (docker.errors.DockerException, OSError):
        return None


def pulumi_version() -> str | None:
    result = run(["pulumi", "version"], check=False, timeout=30)
    return result.stdout.strip().splitlines()[0] if result.ok and result.stdout.strip() else None


def venv_python() -> str | None:
    try:
        importlib.metadata.version("soakgate")
    except importlib.metadata.PackageNotFoundError:
        return None
    return platform.python_version() if sys.prefix != sys.base_prefix else None


def base_images() -> tuple[str, ...]:
    try:
        client = docker.from_env(timeout=5)
        images = client.images.list(filters={"label": f"{LABEL_BASE}=true"})
    except (docker.errors.DockerException, OSError):
        return ()
    return tuple(sorted(tag for image in images for tag in image.tags))


def host_command(name: str) -> str | None:
    """Return where ``name`` is, on PATH or in the sbin directories root's PATH has."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which(name, path=path)


def archive_keyring() -> str | None:
    try:
        return str(rootfs.archive_keyring())
    except SoakgateError:
        return None


def cpython312() -> str | None:
    """The CPython 3.12 that ``soakgate up`` would copy into the 3.12 base (auto-detected)."""
    try:
        found = rootfs.find_cpython(None)
    except SoakgateError:
        return None
    return f"{found.version} at {found.prefix}"


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def sshd() -> str | None:
    return host_command("sshd")


def system_ansible() -> str | None:
    """Debian's ansible-playbook (``/usr/bin``), not the one in soakgate's virtualenv."""
    path = Path("/usr/bin/ansible-playbook")
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


def read_toolchain(project: Path) -> Readings:
    """Probe every part of the toolchain once."""
    return Readings(
        engine_version=engine_version(),
        pulumi_version=pulumi_version(),
        language_host=shutil.which("pulumi-language-python"),
        provider_plugin=shutil.which("pulumi-resource-pulumi-python"),
        venv_python=venv_python(),
        free_disk_bytes=shutil.disk_usage(project).free,
        base_images=base_images(),
        debootstrap=rootfs.find_debootstrap(),
        archive_keyring=archive_keyring(),
        cpython312=cpython312(),
        host_commands={name: host_command(name) for name in HOST_COMMANDS},
        chromium=chromium(),
        sshd=sshd(),
        system_ansible=system_ansible(),
        base_pythons=base_python_versions(),
    )
