"""Secrets and state on disk: modes come from soakgate, not the umask; secrets reach a
container as read-only files on a tmpfs, never as environment variables."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from soakgate.adapters.envfile import load_env
from soakgate.adapters.private_files import private_dir, tighten_state, write_private
from soakgate.adapters.stage.secret_files import remove_secret_files, secret_dir, write_secret_files
from soakgate.cli.output import safe
from soakgate.core.names import StageNames
from soakgate.errors import ConfigError


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def open_umask() -> object:
    old = os.umask(0)
    yield
    os.umask(old)


def test_private_files_ignore_the_umask(tmp_path: Path, open_umask: object) -> None:
    state = tmp_path / ".soakgate"
    write_private(state / "ledger.head", "7 abc\n")
    assert _mode(state) == 0o700
    assert _mode(state / "ledger.head") == 0o600
    assert (state / "ledger.head").read_text() == "7 abc\n"
    assert [p.name for p in state.iterdir()] == ["ledger.head"]  # no temp file left


def test_private_dir_tightens_an_open_directory(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir(mode=0o755)
    os.chmod(tmp_path / "d", 0o755)
    assert _mode(private_dir(tmp_path / "d")) == 0o700


def test_tighten_state_leaves_subdirectories_for_containers(tmp_path: Path) -> None:
    state = tmp_path / ".soakgate"
    proxy = state / "stages" / "dev" / "proxy"
    proxy.mkdir(parents=True)
    for name in ("env", "soakgate.db", "soakgate.db-wal"):
        (state / name).write_text("x")
        os.chmod(state / name, 0o644)
    (proxy / "nginx.conf").write_text("x")
    os.chmod(proxy / "nginx.conf", 0o644)
    os.chmod(state, 0o755)
    tighten_state(state)
    assert _mode(state) == 0o700
    assert {_mode(state / n) for n in ("env", "soakgate.db", "soakgate.db-wal")} == {0o600}
    assert _mode(proxy / "nginx.conf") == 0o644


def test_loading_the_env_file_makes_the_state_private(tmp_path: Path) -> None:
    state = tmp_path / ".soakgate"
    state.mkdir()
    os.chmod(state, 0o755)
    (state / "env").write_text(f'export SOAKGATE_HOME="{state}"\n')
    os.chmod(state / "env", 0o644)
    environ: dict[str, str] = {}
    assert load_env(tmp_path, environ)
    assert (_mode(state), _mode(state / "env")) == (0o700, 0o600)


NAMES = StageNames("staging", "t1")


def test_secret_files_one_per_key_read_only(tmp_path: Path, open_umask: object) -> None:
    mount = write_secret_files(
        NAMES, "blue", {"DB_PASSWORD": "s3cret", "API_KEY": "k"}, owner=None, root=tmp_path
    )
    directory = tmp_path / "t1-staging-blue"
    assert mount == {str(directory): {"bind": "/run/secrets", "mode": "ro"}}
    assert sorted(p.name for p in directory.iterdir()) == ["API_KEY", "DB_PASSWORD"]
    assert (directory / "DB_PASSWORD").read_text() == "s3cret"
    assert {_mode(directory / n) for n in ("API_KEY", "DB_PASSWORD")} == {0o400}
    assert _mode(directory) == 0o500
    assert _mode(tmp_path) == 0o711


def test_secret_files_are_rewritten_and_dropped_keys_removed(tmp_path: Path) -> None:
    write_secret_files(NAMES, "green", {"A": "1", "B": "2"}, owner=None, root=tmp_path)
    write_secret_files(NAMES, "green", {"A": "one"}, owner=None, root=tmp_path)
    directory = secret_dir(NAMES, "green", tmp_path)
    assert [p.name for p in directory.iterdir()] == ["A"]
    assert (directory / "A").read_text() == "one"
    remove_secret_files(NAMES, "green", tmp_path)
    assert not directory.exists()
    remove_secret_files(NAMES, "green", tmp_path)  # absent is fine


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to the container's user needs root")
def test_secret_files_belong_to_the_containers_user(tmp_path: Path) -> None:
    write_secret_files(NAMES, "blue", {"A": "1"}, owner=(10001, 10001), root=tmp_path)
    directory = secret_dir(NAMES, "blue", tmp_path)
    assert (directory.stat().st_uid, (directory / "A").stat().st_uid) == (10001, 10001)


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "", "X Y"])
def test_a_secret_name_that_is_no_file_name_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="is not a valid name"):
        write_secret_files(NAMES, "blue", {name: "x"}, owner=None, root=tmp_path)
    assert not (tmp_path / "escape").exists()


def test_no_namespace_no_dash() -> None:
    assert secret_dir(StageNames("dev"), "blue", Path("/r")) == Path("/r/dev-blue")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a [/b] c", "a \\[/b] c"),
        ("[bold]x[/bold]", "\\[bold]x\\[/bold]"),
        ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
        ("ok\nline", "ok\nline"),
    ],
)
def test_safe_makes_user_text_inert(text: str, shown: str) -> None:
    assert safe(text) == shown
