"""Fakes of soakgate's ports for unit tests. They fail loudly on anything unexpected."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from soakgate.core.doctor import HOST_COMMANDS, PULUMI_VERSION, Readings


class FakeToolchain:
    """A toolchain probe answering from fixed readings; every part present unless overridden."""

    def __init__(self, **overrides: Any) -> None:
        healthy = Readings(
            engine_version="20.10.24",
            pulumi_version=PULUMI_VERSION,
            language_host="/project/.venv/bin/pulumi-language-python",
            provider_plugin="/project/.soakgate/bin/pulumi-resource-pulumi-python",
            venv_python="3.11.7",
            free_disk_bytes=50 * 1024**3,
            base_images=("soakgate/python:3.12", "soakgate/python:3.14"),
            debootstrap="/usr/sbin/debootstrap",
            archive_keyring="/usr/share/keyrings/debian-archive-keyring.gpg",
            cpython312="3.12.1 at /root/.pyenv/versions/3.12.1",
            host_commands={name: f"/usr/bin/{name}" for name in HOST_COMMANDS},
            chromium="/usr/bin/chromium",
        )
        unknown = set(overrides) - set(Readings.__dataclass_fields__)
        if unknown:
            raise AssertionError(f"FakeToolchain: no such reading(s): {sorted(unknown)}")
        self.readings = replace(healthy, **overrides)
        self.calls: list[Path] = []

    def __call__(self, project: Path) -> Readings:
        self.calls.append(project)
        return self.readings
