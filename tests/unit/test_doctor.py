"""``soakgate doctor``: each missing prerequisite is named with its fix and a non-zero exit,
and ./bootstrap installs every Debian package the doctor asks for."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from soakgate.adapters import toolchain_probe
from soakgate.cli import main as cli_main
from soakgate.cli.doctor import missing_lines
from soakgate.core.doctor import HOST_COMMANDS, MIN_FREE_BYTES, diagnose
from soakgate.errors import MissingPart
from soakgate.testing import FakeToolchain

ROOT = Path(__file__).resolve().parents[2]


def run_doctor(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fake: FakeToolchain
) -> tuple[int, str, str]:
    monkeypatch.setattr(toolchain_probe, "read_toolchain", fake)
    monkeypatch.setattr(cli_main, "load_env", lambda project: False)  # keep os.environ as it is
    monkeypatch.setattr("sys.argv", ["soakgate", "doctor"])
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("COLUMNS", "400")  # one line per row
    with pytest.raises(SystemExit) as exited:
        cli_main.main()
    out, err = capsys.readouterr()
    assert fake.calls == [ROOT]
    return int(exited.value.code or 0), out, err


def test_all_parts_present_exits_zero(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_doctor(monkeypatch, capsys, FakeToolchain())
    assert code == 0
    assert "missing" not in out
    assert "v3.274.1" in out
    assert err == ""


@pytest.mark.parametrize(
    ("reading", "value", "part", "fix"),
    [
        ("engine_version", None, "Docker engine", "starts dockerd"),
        ("pulumi_version", None, "Pulumi CLI", "PULUMI_BIN=/path/to/pulumi"),
        ("pulumi_version", "v3.100.0", "Pulumi CLI", "PULUMI_BIN=/path/to/pulumi"),
        ("language_host", None, "Python language host", "source .soakgate/env"),
        ("provider_plugin", None, "Dynamic provider plugin", "source .soakgate/env"),
        ("venv_python", None, "Python environment", "uv sync --locked"),
        ("free_disk_bytes", MIN_FREE_BYTES - 1, "Free disk", "docker system prune"),
        ("debootstrap", None, "debootstrap", "apt-get install debootstrap"),
        ("archive_keyring", None, "Debian archive keyring", "install debian-archive-keyring"),
        ("cpython312", None, "CPython 3.12", "pyenv install 3.12"),
    ],
)
def test_each_missing_part_is_named_with_its_fix(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    reading: str,
    value: object,
    part: str,
    fix: str,
) -> None:
    code, out, err = run_doctor(monkeypatch, capsys, FakeToolchain(**{reading: value}))
    assert code == MissingPart.exit_code
    assert err.splitlines()[0] == f"error: missing: {part}"
    row = next(line for line in out.splitlines() if line.startswith(f"│ {part}"))
    assert "missing" in row
    assert fix in out


def test_wrong_pulumi_version_says_which_is_needed() -> None:
    report = diagnose(FakeToolchain(pulumi_version="v3.100.0").readings)
    (pulumi,) = report.missing
    assert pulumi.detail == "v3.100.0, need v3.274.1"


def test_base_images_are_optional_until_built() -> None:
    report = diagnose(FakeToolchain(base_images=()).readings)
    assert report.exit_code == 0
    bases = next(part for part in report.parts if part.name == "Base images")
    assert not bases.ok
    assert bases.fix == "soakgate images bases"


def test_free_disk_at_threshold_is_enough() -> None:
    assert diagnose(FakeToolchain(free_disk_bytes=MIN_FREE_BYTES).readings).exit_code == 0


def test_fake_rejects_unknown_reading() -> None:
    with pytest.raises(AssertionError, match="no such reading"):
        FakeToolchain(engine="x")


def without(command: str) -> dict[str, str | None]:
    return {name: None if name == command else f"/usr/bin/{name}" for name in HOST_COMMANDS}


@pytest.mark.parametrize(
    ("command", "package"),
    [("nsenter", "util-linux"), ("flock", "util-linux"), ("ip", "iproute2"), ("strip", "binutils")],
)
def test_each_missing_host_command_names_its_package(command: str, package: str) -> None:
    report = diagnose(FakeToolchain(host_commands=without(command)).readings)
    (part,) = report.missing
    assert part.name == f"{command} ({package})"
    assert part.detail == f"{command} not found"
    assert part.fix == f"./bootstrap  (apt-get install {package})"
    assert report.exit_code == MissingPart.exit_code


@pytest.mark.parametrize(
    ("reading", "value", "fix"),
    [
        ("debootstrap", None, "./bootstrap  (apt-get install debootstrap)"),
        ("archive_keyring", None, "./bootstrap  (apt-get install debian-archive-keyring)"),
        ("cpython312", None, "pyenv install 3.12"),
    ],
)
def test_missing_base_image_prerequisite_fails_with_its_fix(
    reading: str, value: object, fix: str
) -> None:
    report = diagnose(FakeToolchain(**{reading: value}).readings)
    (part,) = report.missing
    assert part.fix.startswith(fix)
    assert "images bases" in part.needed_by
    assert report.exit_code == MissingPart.exit_code


def test_missing_cpython_says_where_it_looked_and_that_debian_has_none() -> None:
    (part,) = diagnose(FakeToolchain(cpython312=None).readings).missing
    assert part.detail == "none on PATH or in ~/.pyenv/versions/3.12.*"
    assert "Debian has no 3.12" in part.fix
    assert "--python312-path PREFIX" in part.fix


def test_found_cpython_is_shown_with_its_prefix() -> None:
    report = diagnose(FakeToolchain(cpython312="3.12.1 at /opt/py").readings)
    part = next(part for part in report.parts if part.name == "CPython 3.12")
    assert part.ok
    assert part.detail == "3.12.1 at /opt/py"


def test_chromium_is_optional_unless_the_tests_are_asked_for() -> None:
    readings = FakeToolchain(chromium=None).readings
    plain = diagnose(readings)
    assert plain.exit_code == 0
    chromium = next(part for part in plain.parts if part.name == "Chromium")
    assert (chromium.ok, chromium.required, chromium.detail) == (False, False, "optional (tests)")
    (required,) = diagnose(readings, with_test_tools=True).missing
    assert required.name == "Chromium"
    assert required.fix == "./bootstrap --with-test-tools  (apt-get install chromium)"


def test_sshd_is_required_only_with_the_test_tools() -> None:
    readings = FakeToolchain(sshd=None).readings
    assert diagnose(readings).exit_code == 0
    (required,) = diagnose(readings, with_test_tools=True).missing
    assert (required.name, required.detail) == ("OpenSSH server", "not installed")
    assert "apt-get install openssh-server" in required.fix


def test_system_ansible_is_required_only_with_the_test_tools() -> None:
    readings = FakeToolchain(system_ansible=None).readings
    assert diagnose(readings).exit_code == 0
    (required,) = diagnose(readings, with_test_tools=True).missing
    assert (required.name, required.detail) == ("Ansible outside the venv", "not installed")
    assert "apt-get install ansible-core" in required.fix


def test_one_hint_names_each_fix_once() -> None:
    readings = FakeToolchain(debootstrap=None, host_commands=without("ip"), cpython312=None)
    report = diagnose(readings.readings)
    error, hint = missing_lines(report)
    assert error == "error: missing: debootstrap, CPython 3.12, ip (iproute2)"
    assert hint.startswith("hint: ./bootstrap  (apt-get install debootstrap); pyenv install 3.12")
    assert hint.endswith("; ./bootstrap  (apt-get install iproute2)")


def test_every_row_says_which_commands_need_it() -> None:
    report = diagnose(FakeToolchain().readings)
    assert all(part.needed_by for part in report.parts)
    names = [part.name for part in report.parts]
    assert len(names) == len(set(names))


def test_bootstrap_installs_every_package_the_doctor_asks_for() -> None:
    """The doctor's apt fixes and ./bootstrap's package table name the same packages."""
    readings = FakeToolchain(
        debootstrap=None,
        archive_keyring=None,
        chromium=None,
        sshd=None,
        system_ansible=None,
        host_commands=dict.fromkeys(HOST_COMMANDS),
    ).readings
    report = diagnose(readings, with_test_tools=True)
    asked = {
        package
        for part in report.missing
        for package in re.findall(r"apt-get install ([a-z0-9.+-]+)", part.fix)
    }
    assert asked == {
        "debootstrap",
        "debian-archive-keyring",
        "gpgv",
        "binutils",
        "mount",
        "util-linux",
        "iproute2",
        "chromium",
        "openssh-server",
        "ansible-core",
    }
    script = (ROOT / "bootstrap").read_text()
    listed = bootstrap_packages(script, "HOST_PACKAGES") | bootstrap_packages(
        script, "TEST_PACKAGES"
    )
    assert asked <= listed, sorted(asked - listed)


def bootstrap_packages(script: str, table: str) -> set[str]:
    """The packages of one PACKAGE:CHECK table of ./bootstrap."""
    found = re.search(rf"^{table}=\(\n(.*?)^\)", script, re.M | re.S)
    assert found is not None, f"bootstrap has no {table} table"
    return {line.split(":")[0].strip() for line in found.group(1).splitlines() if line.strip()}
