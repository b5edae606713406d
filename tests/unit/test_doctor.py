"""``soakgate doctor``: each missing part is named with its fix and a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest

from soakgate.adapters import toolchain_probe
from soakgate.cli import main as cli_main
from soakgate.core.doctor import EXIT_MISSING, MIN_FREE_BYTES, diagnose
from soakgate.testing import FakeToolchain

ROOT = Path(__file__).resolve().parents[2]


def run_doctor(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fake: FakeToolchain
) -> tuple[int, str, str]:
    monkeypatch.setattr(toolchain_probe, "read_toolchain", fake)
    monkeypatch.setattr(cli_main, "load_env", lambda project: False)  # keep os.environ as it is
    monkeypatch.setattr("sys.argv", ["soakgate", "doctor"])
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("COLUMNS", "200")
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
    assert code == EXIT_MISSING
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
