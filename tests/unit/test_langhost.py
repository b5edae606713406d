"""The language host's pure parts: where the program is, the engine address, tracebacks."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from pulumi.errors import RunError

from soakgate.pulumi.langhost import engine_address_from, make_program, program_path


def test_engine_address_is_the_last_positional_argument() -> None:
    assert engine_address_from(["-root=/p", "-tracing=x", "127.0.0.1:4567"]) == "127.0.0.1:4567"
    assert engine_address_from(["-root=/p"]) == ""


def test_program_path_prefers_program_info(tmp_path: Path) -> None:
    info = SimpleNamespace(program_directory=str(tmp_path / "infra"), entry_point=".")
    request = SimpleNamespace(info=info, pwd="/elsewhere", program="nope")
    assert program_path(request) == (tmp_path / "infra").resolve()


def test_program_path_falls_back_to_pwd_and_program(tmp_path: Path) -> None:
    info = SimpleNamespace(program_directory="", entry_point="")
    request = SimpleNamespace(info=info, pwd=str(tmp_path), program="infra")
    assert program_path(request) == (tmp_path / "infra").resolve()


def test_failing_program_reports_its_own_traceback(tmp_path: Path) -> None:
    program = tmp_path / "prog"
    program.mkdir()
    (program / "__main__.py").write_text(
        "def build():\n    raise ValueError('bad config')\n\nbuild()\n"
    )
    with pytest.raises(RunError) as raised:
        make_program(program)()
    message = str(raised.value)
    assert "ValueError: bad config" in message
    assert '__main__.py", line 2, in build' in message
    assert "runpy" not in message  # the host's own frames are cut


def test_missing_program_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(RunError, match=r"check `main:` in Pulumi\.yaml"):
        make_program(tmp_path / "absent")()
