"""./bootstrap: installs every prerequisite `soakgate doctor` checks, is idempotent (a second
run calls no apt at all), and each fault is one line naming what failed and the fix, with
nothing half-installed left looking complete."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"  # no Go, no pulumi, no project tools
pytestmark = pytest.mark.integration


def bootstrap(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("PULUMI")}
    # a PATH without the checkout's own tools, nor any other pulumi (another checkout's env
    # sourced in the shell that started the tests): each test says what it finds
    entries = environ.get("PATH", "").split(os.pathsep)
    environ["PATH"] = os.pathsep.join(
        entry
        for entry in entries
        if not entry.startswith(str(ROOT)) and not (Path(entry) / "pulumi").exists()
    )
    environ.update(env)
    return subprocess.run(
        [str(project / "bootstrap"), *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture
def scratch_project(tmp_path: Path, engine: object) -> Path:
    """A copy of the bootstrap script alone: its state lands in tmp, not in the checkout."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy2(ROOT / "bootstrap", project / "bootstrap")
    return project


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs, to stand for a full disk."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def the_one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("bootstrap:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def recording_shim(directory: Path, name: str, exit_code: int, message: str = "") -> Path:
    """A stand-in for ``name`` that appends its arguments to ``directory/name.calls``."""
    directory.mkdir(exist_ok=True)
    calls = directory / f"{name}.calls"
    script = directory / name
    script.write_text(
        f'#!/bin/sh\necho "$*" >> {calls}\n'
        + (f"echo '{message}' >&2\n" if message else "")
        + f"exit {exit_code}\n"
    )
    script.chmod(0o755)
    return calls


def calls_of(calls: Path) -> list[str]:
    return calls.read_text().splitlines() if calls.exists() else []


def test_second_run_finds_everything_and_changes_nothing(
    toolchain_env: dict[str, str], tmp_path: Path
) -> None:
    """Warm, with the test tools: no apt call at all (a recording apt-get comes first on
    PATH), dpkg's database untouched, the pinned CLI not rebuilt or relinked."""
    shims = tmp_path / "shims"
    apt_calls = recording_shim(shims, "apt-get", 100, "E: apt-get must not run on a warm bootstrap")
    dpkg_status = Path("/var/lib/dpkg/status")
    dpkg_before = dpkg_status.stat().st_mtime_ns
    pulumi_before = (ROOT / ".soakgate" / "bin" / "pulumi").stat().st_ino
    path = [
        entry for entry in os.environ["PATH"].split(os.pathsep) if not entry.startswith(str(ROOT))
    ]
    result = bootstrap(ROOT, "--with-test-tools", PATH=os.pathsep.join([str(shims), *path]))
    assert result.returncode == 0, result.stderr
    assert calls_of(apt_calls) == []
    assert dpkg_status.stat().st_mtime_ns == dpkg_before
    assert "building" not in result.stdout
    assert "installing" not in result.stdout
    present = next(line for line in result.stdout.splitlines() if "present:" in line).split()[1:]
    assert {"debootstrap", "debian-archive-keyring", "util-linux", "iproute2", "chromium"} <= set(
        present
    )
    assert "engine answers" in result.stdout
    assert (ROOT / ".soakgate" / "bin" / "pulumi").stat().st_ino == pulumi_before
    assert oct((ROOT / ".soakgate" / "passphrase").stat().st_mode & 0o777) == "0o600"


def test_doctor_finds_every_prerequisite_after_bootstrap(toolchain_env: dict[str, str]) -> None:
    """What ./bootstrap made is all `soakgate doctor` asks for: every row ok, exit 0."""
    env = {**toolchain_env, "COLUMNS": "400", "NO_COLOR": "1"}
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "soakgate"), "doctor"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {
        cells[0]: cells[1]
        for line in result.stdout.splitlines()
        if line.startswith("│ ")
        for cells in [[cell.strip() for cell in line.strip("│").split("│")]]
    }
    required = [
        "Docker engine",
        "Pulumi CLI",
        "Python language host",
        "Dynamic provider plugin",
        "Python environment",
        "debootstrap",
        "Debian archive keyring",
        "CPython 3.12",
        "gpgv",
        "strip (binutils)",
        "mount",
        "flock (util-linux)",
        "nsenter (util-linux)",
        "ip (iproute2)",
        "Chromium",  # CI bootstraps --with-test-tools
    ]
    assert {name: rows.get(name) for name in required} == dict.fromkeys(required, "ok")


def test_pulumi_bin_that_does_not_exist(scratch_project: Path) -> None:
    line = the_one_error_line(bootstrap(scratch_project, PULUMI_BIN="/nonexistent/pulumi"))
    assert line == (
        "bootstrap: Pulumi CLI: PULUMI_BIN=/nonexistent/pulumi is not an executable file; "
        "point it at a pulumi v3.274.1 binary"
    )
    assert not (scratch_project / ".soakgate" / "bin" / "pulumi").exists()


def test_go_missing(scratch_project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    result = bootstrap(scratch_project, PATH=SYSTEM_PATH, SOAKGATE_CACHE=str(cache))
    line = the_one_error_line(result)
    assert "'go' not found" in line
    assert "PULUMI_BIN=/path/to/pulumi" in line
    assert not (cache / "pulumi" / "v3.274.1").exists()


def test_go_module_proxy_unreachable(scratch_project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    result = bootstrap(
        scratch_project,
        SOAKGATE_CACHE=str(cache),
        GOPROXY="off",
        GOMODCACHE=str(tmp_path / "empty-modcache"),
        GOFLAGS="-modcacherw",
    )
    line = the_one_error_line(result)
    assert "the Go module proxy did not serve pulumi v3.274.1" in line
    assert "PULUMI_BIN=/path/to/pulumi" in line
    assert not (cache / "pulumi" / "v3.274.1").exists()
    assert list((cache / "pulumi").glob(".build-*")) == []  # the half-made build is gone


def test_disk_full(scratch_project: Path, tiny_disk: Path) -> None:
    line = the_one_error_line(bootstrap(scratch_project, SOAKGATE_CACHE=str(tiny_disk)))
    assert "the build needs 5 GB" in line
    assert "PULUMI_BIN=/path/to/pulumi" in line
    assert not (tiny_disk / "pulumi" / "v3.274.1").exists()


def test_debian_package_missing(scratch_project: Path, tmp_path: Path) -> None:
    """No engine answers, no dockerd, and apt cannot supply docker.io (shims stand for both):
    one apt-get install of what is missing, once more after an update, then one line."""
    shims = tmp_path / "shims"
    recording_shim(shims, "docker", 1, "Cannot connect to the Docker daemon")
    apt_calls = recording_shim(shims, "apt-get", 100, "E: Unable to locate package docker.io")
    result = bootstrap(scratch_project, PATH=f"{shims}:/usr/bin:/bin")
    line = the_one_error_line(result)
    assert line == (
        "bootstrap: Debian packages: apt-get install docker.io failed "
        "(E: Unable to locate package docker.io); install them yourself, "
        "or set DOCKER_HOST to an engine elsewhere"
    )
    calls = calls_of(apt_calls)
    assert [call.split()[-2:] for call in calls] == [
        ["install", "docker.io"],
        ["-q", "update"],
        ["install", "docker.io"],
    ]
    assert not (scratch_project / ".soakgate" / "docker" / "dockerd.pid").exists()
