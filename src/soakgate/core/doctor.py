"""Judge the toolchain: which parts are there, which are missing, and what fixes each."""

from __future__ import annotations

from dataclasses import dataclass

PULUMI_VERSION = "v3.274.1"
MIN_FREE_BYTES = 5 * 1024**3
EXIT_MISSING = 3


@dataclass(frozen=True)
class Readings:
    """What the probes found; ``None`` means not found. Gathered by an adapter, judged here."""

    engine_version: str | None
    pulumi_version: str | None
    language_host: str | None
    provider_plugin: str | None
    venv_python: str | None
    free_disk_bytes: int
    base_images: tuple[str, ...]


@dataclass(frozen=True)
class PartStatus:
    """One row of ``soakgate doctor``."""

    name: str
    ok: bool
    required: bool
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class DoctorReport:
    parts: tuple[PartStatus, ...]

    @property
    def missing(self) -> tuple[PartStatus, ...]:
        return tuple(part for part in self.parts if part.required and not part.ok)

    @property
    def exit_code(self) -> int:
        return EXIT_MISSING if self.missing else 0


def _gb(size: int) -> str:
    return f"{size / 1024**3:.1f} GB"


def diagnose(readings: Readings) -> DoctorReport:
    """Turn probe readings into the doctor's table."""
    parts = [
        PartStatus(
            "Docker engine",
            readings.engine_version is not None,
            True,
            f"engine {readings.engine_version}" if readings.engine_version else "no engine answers",
            "./bootstrap  (installs Debian's docker.io if needed and starts dockerd)",
        ),
        _pulumi_status(readings.pulumi_version),
        PartStatus(
            "Python language host",
            readings.language_host is not None,
            True,
            readings.language_host or "pulumi-language-python not on PATH",
            "./bootstrap && source .soakgate/env",
        ),
        PartStatus(
            "Dynamic provider plugin",
            readings.provider_plugin is not None,
            True,
            readings.provider_plugin or "pulumi-resource-pulumi-python not on PATH",
            "./bootstrap && source .soakgate/env",
        ),
        PartStatus(
            "Python environment",
            readings.venv_python is not None,
            True,
            f"Python {readings.venv_python} with soakgate"
            if readings.venv_python
            else "no .venv with soakgate",
            "./bootstrap  (uv sync --locked into .venv)",
        ),
        PartStatus(
            "Free disk",
            readings.free_disk_bytes >= MIN_FREE_BYTES,
            True,
            f"{_gb(readings.free_disk_bytes)} free (need {_gb(MIN_FREE_BYTES)})",
            "free disk space: docker system prune, or remove old images",
        ),
        PartStatus(
            "Base images",
            bool(readings.base_images),
            False,
            ", ".join(readings.base_images) if readings.base_images else "none built yet",
            "soakgate images bases",
        ),
    ]
    return DoctorReport(tuple(parts))


def _pulumi_status(version: str | None) -> PartStatus:
    fix = "./bootstrap  (builds the pinned CLI) or PULUMI_BIN=/path/to/pulumi ./bootstrap"
    if version is None:
        return PartStatus("Pulumi CLI", False, True, "pulumi not on PATH", fix)
    if version != PULUMI_VERSION:
        return PartStatus("Pulumi CLI", False, True, f"{version}, need {PULUMI_VERSION}", fix)
    return PartStatus("Pulumi CLI", True, True, version, fix)
