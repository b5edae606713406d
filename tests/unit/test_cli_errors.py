"""The CLI turns usage mistakes into click's usage message and exit 2, never a traceback."""

from __future__ import annotations

import pytest

from soakgate.cli import main as cli_main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["deploy"], "Missing argument 'STAGE'"),
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


def test_up_refuses_an_unbuilt_python_before_doing_anything(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import soakgate.adapters.images.rootfs as rootfs

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("soakgate up started building before refusing --python 3.13")

    monkeypatch.setattr(rootfs, "DebootstrapBuilder", must_not_run)
    monkeypatch.setattr("sys.argv", ["soakgate", "up", "--python", "3.13"])
    monkeypatch.setattr(cli_main, "load_env", lambda project: False)
    with pytest.raises(SystemExit) as exited:
        cli_main.main()
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "error: --python 3.13: not one of the built Pythons (3.12, 3.14)"
    )
