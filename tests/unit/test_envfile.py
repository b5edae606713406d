"""The env file ./bootstrap writes is what the CLI loads."""

from __future__ import annotations

from pathlib import Path

from soakgate.adapters.envfile import find_project, load_env, parse_env_file

ROOT = Path(__file__).resolve().parents[2]


def test_parse_expands_path_against_the_current_environment() -> None:
    text = '# comment\nexport PATH="/p/bin:$PATH"\nexport PULUMI_HOME="/p/home"\nnot a line\n'
    assert parse_env_file(text, {"PATH": "/usr/bin"}) == {
        "PATH": "/p/bin:/usr/bin",
        "PULUMI_HOME": "/p/home",
    }


def test_find_project_walks_up_from_a_subdirectory() -> None:
    assert find_project(ROOT / "src" / "soakgate") == ROOT


def test_find_project_outside_any_project(tmp_path: Path) -> None:
    assert find_project(tmp_path) is None


def test_load_env_applies_the_file(tmp_path: Path) -> None:
    (tmp_path / ".soakgate").mkdir()
    (tmp_path / ".soakgate" / "env").write_text('export SOAKGATE_HOME="/x"\n')
    environ: dict[str, str] = {}
    assert load_env(tmp_path, environ) is True
    assert environ == {"SOAKGATE_HOME": "/x"}


def test_load_env_without_a_file_changes_nothing(tmp_path: Path) -> None:
    environ = {"A": "1"}
    assert load_env(tmp_path, environ) is False
    assert environ == {"A": "1"}
