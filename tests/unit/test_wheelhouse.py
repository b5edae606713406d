"""The wheelhouse download: its argv, its skip when the wheels are in place, its errors."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import pytest

from soakgate.adapters.images.wheelhouse import STAMP, download_argv, download_wheelhouse
from soakgate.adapters.process import Result
from soakgate.errors import CommandFailed, ConfigError, MissingPart, SoakgateError

WHEELS = {
    "fastapi-1.0-py3-none-any.whl": b"fastapi wheel",
    "pydantic_core-2.0-cp314-cp314-manylinux_2_17_x86_64.whl": b"core wheel",
}
PIP_WHEEL = {"pip-26.3-py3-none-any.whl": b"pip wheel"}


def pin(name: str, content: bytes) -> str:
    return f"{name}==1.0 \\\n    --hash=sha256:{hashlib.sha256(content).hexdigest()}\n"


class FakePip:
    """Answers ``pip download`` by writing the given wheels into ``--dest``, or by failing."""

    def __init__(self, wheels: dict[str, bytes], exited: int = 0, stderr: str = "") -> None:
        self.wheels, self.exited, self.stderr = wheels, exited, stderr
        self.calls: list[list[str]] = []

    def __call__(
        self, command: Sequence[str], *, timeout: float | None = None, check: bool = True
    ) -> Result:
        argv = list(command)
        assert check is False, "the wheelhouse must judge pip's exit itself"
        self.calls.append(argv)
        dest = Path(argv[argv.index("--dest") + 1])
        if self.exited == 0:
            for name, content in self.wheels.items():
                (dest / name).write_bytes(content)
        return Result(tuple(argv), self.exited, "", self.stderr)


@pytest.fixture
def service(tmp_path: Path) -> Path:
    """A service folder with hash-pinned requirements.txt and requirements-pip.txt."""
    folder = tmp_path / "service"
    folder.mkdir()
    (folder / "requirements.txt").write_text("".join(pin(n, c) for n, c in WHEELS.items()))
    (folder / "requirements-pip.txt").write_text(pin("pip", PIP_WHEEL["pip-26.3-py3-none-any.whl"]))
    return folder


def download(service: Path, runner: FakePip, version: str = "3.14") -> Path:
    return download_wheelhouse(
        service / "requirements.txt", version, service / ".wheelhouse", python="py", runner=runner
    )


def test_argv() -> None:
    argv = download_argv([Path("r.txt"), Path("p.txt")], "3.12", Path("w/py3.12"), "py")
    assert argv == [
        "py",
        "-m",
        "pip",
        "download",
        "--only-binary=:all:",
        "--require-hashes",
        "--implementation",
        "cp",
        "--python-version",
        "3.12",
        "--platform",
        "manylinux2014_x86_64",
        "--platform",
        "manylinux_2_17_x86_64",
        "--platform",
        "manylinux_2_28_x86_64",
        "--platform",
        "any",
        "-r",
        "r.txt",
        "-r",
        "p.txt",
        "--dest",
        "w/py3.12",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
    ]


def test_downloads_into_a_folder_per_version(service: Path) -> None:
    runner = FakePip(WHEELS | PIP_WHEEL)
    folder = download(service, runner)
    assert folder == service / ".wheelhouse" / "py3.14"
    assert sorted(p.name for p in folder.glob("*.whl")) == sorted(WHEELS | PIP_WHEEL)
    argv = runner.calls[0]
    assert argv[argv.index("--python-version") + 1] == "3.14"
    assert argv.count("-r") == 2
    assert str(service / "requirements-pip.txt") in argv


def test_second_run_skips_when_every_wheel_matches(service: Path) -> None:
    runner = FakePip(WHEELS | PIP_WHEEL)
    download(service, runner)
    download(service, runner)
    assert len(runner.calls) == 1


def test_versions_are_apart(service: Path) -> None:
    runner = FakePip(WHEELS | PIP_WHEEL)
    download(service, runner, "3.12")
    download(service, runner, "3.14")
    assert len(runner.calls) == 2


@pytest.mark.parametrize("damage", ["tamper", "delete", "add", "stamp"])
def test_a_changed_wheelhouse_is_downloaded_again(service: Path, damage: str) -> None:
    runner = FakePip(WHEELS | PIP_WHEEL)
    folder = download(service, runner)
    wheel = folder / "fastapi-1.0-py3-none-any.whl"
    if damage == "tamper":
        wheel.write_bytes(b"evil")
    elif damage == "delete":
        wheel.unlink()
    elif damage == "add":
        (folder / "extra-1.0-py3-none-any.whl").write_bytes(b"extra")
    else:
        (folder / STAMP).write_text("not json")
    download(service, runner)
    assert len(runner.calls) == 2
    assert wheel.read_bytes() == b"fastapi wheel"


def test_changed_pins_download_again_and_prune_old_wheels(service: Path) -> None:
    download(service, FakePip(WHEELS | PIP_WHEEL))
    new_pip = {"pip-27.0-py3-none-any.whl": b"newer pip"}
    (service / "requirements-pip.txt").write_text(pin("pip", b"newer pip"))
    runner = FakePip(WHEELS | new_pip)
    folder = download(service, runner)
    assert len(runner.calls) == 1
    assert [p.name for p in folder.glob("pip-*.whl")] == ["pip-27.0-py3-none-any.whl"]


def test_missing_wheel_names_the_version_and_the_fix(service: Path) -> None:
    stderr = (
        "ERROR: Could not find a version that satisfies the requirement pydantic-core==2.0\n"
        "ERROR: No matching distribution found for pydantic-core==2.0\n"
    )
    with pytest.raises(SoakgateError) as raised:
        download(service, FakePip({}, exited=1, stderr=stderr))
    message = raised.value.message
    assert "\n" not in message
    assert "Python 3.14" in message and "pydantic-core==2.0" in message
    assert "cp314" in message and "recompile" in message
    assert isinstance(raised.value.__cause__, CommandFailed)
    assert not (service / ".wheelhouse" / "py3.14" / STAMP).exists()


def test_other_pip_failures_carry_the_result(service: Path) -> None:
    with pytest.raises(CommandFailed) as raised:
        download(service, FakePip({}, exited=1, stderr="THESE PACKAGES DO NOT MATCH THE HASHES"))
    assert raised.value.result.exited == 1
    assert "Python 3.14" in raised.value.message


def test_no_pip_to_download_with(service: Path) -> None:
    with pytest.raises(MissingPart, match="install pip"):
        download(service, FakePip({}, exited=1, stderr="py: No module named pip"))


def test_missing_pip_pin_is_a_config_error(service: Path) -> None:
    (service / "requirements-pip.txt").unlink()
    runner = FakePip({})
    with pytest.raises(ConfigError, match=r"requirements-pip\.txt: not found"):
        download(service, runner)
    assert runner.calls == []


def test_a_preflight_runs_before_a_download_and_can_refuse_it(service: Path) -> None:
    asked: list[tuple[str, str]] = []

    def preflight(requirements: Path, python: str) -> None:
        asked.append((requirements.name, python))

    runner = FakePip(WHEELS | PIP_WHEEL)
    for _ in range(2):  # the second finds everything in place: nothing to ask
        download_wheelhouse(
            service / "requirements.txt",
            "3.14",
            service / ".wheelhouse",
            python="py",
            runner=runner,
            preflight=preflight,
        )
    assert asked == [("requirements.txt", "3.14")] and len(runner.calls) == 1

    def refuse(requirements: Path, python: str) -> None:
        raise SoakgateError("not ready")

    with pytest.raises(SoakgateError, match="not ready"):
        download_wheelhouse(
            service / "requirements.txt",
            "3.12",
            service / ".wheelhouse",
            python="py",
            runner=runner,
            preflight=refuse,
        )
    assert len(runner.calls) == 1 and not (service / ".wheelhouse" / "py3.12").exists()
