"""Judge the toolchain: which parts are there, which are missing, and what fixes each."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from packaging.version import InvalidVersion, Version

from soakgate.errors import EXIT_OK, MissingPart

PULUMI_VERSION = "v3.274.1"
MIN_FREE_BYTES = 5 * 1024**3
ARCHIVE_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
BOOTSTRAP_ENV = "./bootstrap && source .soakgate/env"
# 3.14.0 to 3.14.4 have the incremental garbage collector, whose memory growth in production
# made 3.14.5 revert it: a 3.14 base older than this is warned about (doctor still passes).
MIN_PYTHON_314 = Version("3.14.5")

# Host commands soakgate runs, by the Debian package ./bootstrap installs them from, and the
# soakgate commands (or tests) that need them. ./bootstrap keeps the same list.
HOST_COMMANDS: dict[str, tuple[str, str]] = {
    "gpgv": ("gpgv", "up, images bases (debootstrap's signature check)"),
    "strip": ("binutils", "up, images bases (the 3.12 base)"),
    "mount": ("mount", "up, images bases"),
    "flock": ("util-linux", "stage lock on hosts (runbooks), fault tests"),
    "setpriv": ("util-linux", "deploy, rollback (pulumi dies with the command that ran it)"),
    "nsenter": ("util-linux", "fault tests (test engine's network namespace)"),
    "ip": ("iproute2", "fault tests (ip netns)"),
}


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
    debootstrap: str | None
    archive_keyring: str | None
    cpython312: str | None
    host_commands: Mapping[str, str | None]
    chromium: str | None
    # sshd (Debian's openssh-server): the tests' SSH hosts run one each; None when absent.
    sshd: str | None = None
    # Debian's ansible-playbook, outside soakgate's venv: the break-glass runbook's own Ansible
    # (a control machine without soakgate); None when absent.
    system_ansible: str | None = None
    # {base image tag: its Python version (label soakgate.python)}; empty when not read.
    base_pythons: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PartStatus:
    """One row of ``soakgate doctor``: a prerequisite, who needs it, and its fix."""

    name: str
    ok: bool
    required: bool
    detail: str
    fix: str = ""
    needed_by: str = "every command"


@dataclass(frozen=True)
class DoctorReport:
    parts: tuple[PartStatus, ...]

    @property
    def missing(self) -> tuple[PartStatus, ...]:
        return tuple(part for part in self.parts if part.required and not part.ok)

    @property
    def exit_code(self) -> int:
        return MissingPart.exit_code if self.missing else EXIT_OK

    @property
    def hint(self) -> str:
        """One hint covering every missing part: the fixes, each named once, in order."""
        return "; ".join(dict.fromkeys(part.fix for part in self.missing))


def _gb(size: int) -> str:
    return f"{size / 1024**3:.1f} GB"


def _apt_fix(package: str) -> str:
    return f"./bootstrap  (apt-get install {package})"


def diagnose(readings: Readings, with_test_tools: bool = False) -> DoctorReport:
    """Turn probe readings into the doctor's table; ``with_test_tools`` makes chromium required."""
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
            BOOTSTRAP_ENV,
            "build, deploy, promote, rollback, up",
        ),
        PartStatus(
            "Dynamic provider plugin",
            readings.provider_plugin is not None,
            True,
            readings.provider_plugin or "pulumi-resource-pulumi-python not on PATH",
            BOOTSTRAP_ENV,
            "build, deploy, promote, rollback, up",
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
            "debootstrap",
            readings.debootstrap is not None,
            True,
            readings.debootstrap or "not installed",
            _apt_fix("debootstrap"),
            "up, images bases",
        ),
        PartStatus(
            "Debian archive keyring",
            readings.archive_keyring is not None,
            True,
            readings.archive_keyring or f"{ARCHIVE_KEYRING} missing",
            _apt_fix("debian-archive-keyring"),
            "up, images bases (debootstrap --force-check-gpg)",
        ),
        PartStatus(
            "CPython 3.12",
            readings.cpython312 is not None,
            True,
            readings.cpython312 or "none on PATH or in ~/.pyenv/versions/3.12.*",
            "pyenv install 3.12 (Debian has no 3.12; or pass --python312-path PREFIX"
            " to soakgate images bases)",
            "up, images bases (the 3.12 base is built from it)",
        ),
        *_command_statuses(readings.host_commands),
        PartStatus(
            "Chromium",
            readings.chromium is not None,
            with_test_tools,
            readings.chromium or ("not installed" if with_test_tools else "optional (tests)"),
            "./bootstrap --with-test-tools  (apt-get install chromium)",
            "tests (the soak report's screenshot)",
        ),
        PartStatus(
            "OpenSSH server",
            readings.sshd is not None,
            with_test_tools,
            readings.sshd or ("not installed" if with_test_tools else "optional (tests)"),
            "./bootstrap --with-test-tools  (apt-get install openssh-server)",
            "tests (the SSH hosts of multi-host stages)",
        ),
        PartStatus(
            "Ansible outside the venv",
            readings.system_ansible is not None,
            with_test_tools,
            readings.system_ansible or ("not installed" if with_test_tools else "optional (tests)"),
            "./bootstrap --with-test-tools  (apt-get install ansible-core)",
            "tests (rollback.yml with soakgate's virtualenv moved away)",
        ),
        PartStatus(
            "Base images",
            bool(readings.base_images),
            False,
            ", ".join(readings.base_images) if readings.base_images else "none built yet",
            "soakgate images bases",
            "build, deploy (soakgate up makes them)",
        ),
        *_base_python_warnings(readings.base_pythons),
    ]
    return DoctorReport(tuple(parts))


def outdated_314_bases(found: Mapping[str, str]) -> dict[str, str]:
    """{tag: why} for each 3.14 base image (``found``: ``{tag: version}``) older than
    :data:`MIN_PYTHON_314`."""
    outdated = {}
    for tag, text in sorted(found.items()):
        try:
            version = Version(text)
        except InvalidVersion:
            continue
        if version.release[:2] == (3, 14) and version < MIN_PYTHON_314:
            outdated[tag] = (
                f"{text}: older than {MIN_PYTHON_314} (3.14.0's incremental GC grew memory in"
                f" production; {MIN_PYTHON_314} reverted it)"
            )
    return outdated


REBUILD_314 = f"soakgate images bases --rebuild from a suite with python3.14 >= {MIN_PYTHON_314}"


def _base_python_warnings(found: Mapping[str, str]) -> list[PartStatus]:
    """A row, never required, for each 3.14 base image older than :data:`MIN_PYTHON_314`."""
    return [
        PartStatus(
            f"Python of {tag}",
            False,
            False,
            why,
            REBUILD_314,
            "staging, production (memory during the soak)",
        )
        for tag, why in outdated_314_bases(found).items()
    ]


def _command_statuses(found: Mapping[str, str | None]) -> list[PartStatus]:
    return [
        PartStatus(
            command if command == package else f"{command} ({package})",
            found.get(command) is not None,
            True,
            found.get(command) or f"{command} not found",
            _apt_fix(package),
            needed_by,
        )
        for command, (package, needed_by) in HOST_COMMANDS.items()
    ]


def _pulumi_status(version: str | None) -> PartStatus:
    fix = "./bootstrap  (builds the pinned CLI) or PULUMI_BIN=/path/to/pulumi ./bootstrap"
    if version is None:
        return PartStatus("Pulumi CLI", False, True, "pulumi not on PATH", fix)
    if version != PULUMI_VERSION:
        return PartStatus("Pulumi CLI", False, True, f"{version}, need {PULUMI_VERSION}", fix)
    return PartStatus("Pulumi CLI", True, True, version, fix)
