"""debootstrap's prerequisites: the Debian archive keyring, signature checks forced, and a
one-line error naming the package when the keyring or debootstrap is missing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from soakgate.adapters.images import rootfs
from soakgate.adapters.process import Result
from soakgate.core.base_recipes import RECIPES
from soakgate.errors import MissingPart

KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


def test_argv_forces_signature_checks_with_the_archive_keyring() -> None:
    command = rootfs.debootstrap_command(
        "/usr/sbin/debootstrap",
        KEYRING,
        variant="minbase",
        include=("libssl3", "zlib1g"),
        suite="bookworm",
        root=Path("/tmp/w/root"),
        mirror="http://mirror.example/debian",
        script="bookworm",
    )
    assert command == [
        "/usr/sbin/debootstrap",
        "--keyring=/usr/share/keyrings/debian-archive-keyring.gpg",
        "--force-check-gpg",
        "--variant=minbase",
        "--components=main",
        "--include=libssl3,zlib1g",
        "bookworm",
        "/tmp/w/root",
        "http://mirror.example/debian",
        "bookworm",
    ]


def test_argv_without_a_script_ends_at_the_mirror() -> None:
    command = rootfs.debootstrap_command(
        "debootstrap",
        KEYRING,
        variant="minbase",
        include=("nginx-light",),
        suite="bookworm",
        root=Path("/r"),
        mirror="http://m/debian",
    )
    assert command[-3:] == ["bookworm", "/r", "http://m/debian"]
    assert "--no-check-gpg" not in command


class Recorder:
    """Stands for adapters.process.run: records each argv, answers with success."""

    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    def __call__(self, command: Sequence[str], **_: Any) -> Result:
        self.commands.append(list(command))
        return Result(tuple(command), 0, "", "")


@pytest.fixture
def as_root(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    monkeypatch.setattr(rootfs.os, "geteuid", lambda: 0)
    monkeypatch.setattr(rootfs, "find_debootstrap", lambda: "/usr/sbin/debootstrap")
    monkeypatch.setattr(rootfs, "run", recorder)
    return recorder


@pytest.mark.parametrize("python", sorted(RECIPES))
def test_every_base_recipe_is_bootstrapped_with_checked_signatures(
    as_root: Recorder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, python: str
) -> None:
    keyring = tmp_path / "debian-archive-keyring.gpg"
    keyring.write_bytes(b"\x99keys")
    monkeypatch.setattr(rootfs, "ARCHIVE_KEYRING", keyring)
    recipe = RECIPES[python]
    rootfs.debootstrap(recipe, tmp_path / "root", "http://m/debian")
    (command,) = as_root.commands
    assert command[:3] == ["/usr/sbin/debootstrap", f"--keyring={keyring}", "--force-check-gpg"]
    assert command[-4:] == [recipe.suite, str(tmp_path / "root"), "http://m/debian", recipe.script]


@pytest.mark.parametrize("content", [None, b""], ids=["absent", "empty"])
def test_missing_keyring_is_one_line_naming_the_package(
    as_root: Recorder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: bytes | None
) -> None:
    keyring = tmp_path / "debian-archive-keyring.gpg"
    if content is not None:
        keyring.write_bytes(content)
    monkeypatch.setattr(rootfs, "ARCHIVE_KEYRING", keyring)
    with pytest.raises(MissingPart) as raised:
        rootfs.debootstrap(RECIPES["3.12"], tmp_path / "root", "http://m/debian")
    assert str(raised.value) == (
        f"the Debian archive keyring {keyring} is missing (debootstrap checks signatures)"
    )
    assert "\n" not in str(raised.value)
    assert raised.value.hint == "./bootstrap (or: apt-get install debian-archive-keyring)"
    assert as_root.commands == []  # debootstrap never ran without its keyring


def test_missing_debootstrap_names_the_package(
    as_root: Recorder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(rootfs, "find_debootstrap", lambda: None)
    with pytest.raises(MissingPart) as raised:
        rootfs.debootstrap(RECIPES["3.12"], tmp_path / "root", "http://m/debian")
    assert str(raised.value) == "debootstrap is not installed"
    assert raised.value.hint == "./bootstrap (or: apt-get install debootstrap)"
    assert as_root.commands == []
