"""The CLI turns usage mistakes into click's usage message and exit 2, never a traceback."""

from __future__ import annotations

import pytest

from soakgate.cli import main as cli_main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["deploy"], "Missing argument 'stage'"),
        (["deploy", "dev", "--bogus"], "No such option: --bogus"),
        (["no-such-command"], "No such command 'no-such-command'"),
    ],
)
def test_usage_errors_exit_2_with_the_usage_message(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.setattr("sys.argv", ["soakgate", *argv])
    monkeypatch.setattr(cli_main, "load_env", lambda project: False)
    with pytest.raises(SystemExit) as exited:
        cli_main.main()
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert message in err
    assert "Traceback" not in err and "internal error" not in err
