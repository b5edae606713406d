"""./bootstrap: idempotent, and each fault is one line naming what failed and the fix,
with nothing half-installed left looking complete."""

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


def bootstrap(project: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("PULUMI")}
    # a PATH without the checkout's own tools: each test says what it finds
    entries = environ.get("PATH", "").split(os.pathsep)
    environ["PATH"] = os.pathsep.join(entry for entry in entries if not entry.startswith(str(ROOT)))
    environ.update(env)
    return subprocess.run(
        [str(project / "bootstrap")],
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


def test_second_run_finds_everything_and_changes_nothing(toolchain_env: dict[str, str]) -> None:
    pulumi_before = (ROOT / ".soakgate" / "bin" / "pulumi").stat().st_ino
    result = bootstrap(ROOT)
    assert result.returncode == 0, result.stderr
    assert "building" not in result.stdout
    assert "installing" not in result.stdout
    assert "engine answers" in result.stdout
    assert (ROOT / ".soakgate" / "bin" / "pulumi").stat().st_ino == pulumi_before
    assert oct((ROOT / ".soakgate" / "passphrase").stat().st_mode & 0o777) == "0o600"


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
    """No engine answers, no dockerd, and apt cannot supply docker.io (shims stand for both)."""
    shims = tmp_path / "shims"
    shims.mkdir()
    for name, script in {
        "docker": "#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n",
        "apt-get": "#!/bin/sh\necho 'E: Unable to locate package docker.io' >&2\nexit 100\n",
    }.items():
        (shims / name).write_text(script)
        (shims / name).chmod(0o755)
    result = bootstrap(scratch_project, PATH=f"{shims}:/usr/bin:/bin")
    line = the_one_error_line(result)
    assert line == (
        "bootstrap: Docker engine: apt-get install docker.io failed "
        "(E: Unable to locate package docker.io); install Docker yourself or set DOCKER_HOST"
    )
    assert not (scratch_project / ".soakgate" / "docker" / "dockerd.pid").exists()
