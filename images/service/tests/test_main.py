"""``python -m app`` serves on 0.0.0.0:$PORT with the JSON log configuration."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn

from app import __main__ as entry
from app.logs import LOG_CONFIG


@pytest.mark.parametrize(("port", "expected"), [(None, 8000), ("9123", 9123)])
def test_main_runs_uvicorn(
    monkeypatch: pytest.MonkeyPatch, port: str | None, expected: int
) -> None:
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    if port is None:
        monkeypatch.delenv("PORT", raising=False)
    else:
        monkeypatch.setenv("PORT", port)
    entry.main()
    ((app, options),) = calls
    assert app == "app.main:app"
    assert (options["host"], options["port"]) == ("0.0.0.0", expected)
    assert options["log_config"] is LOG_CONFIG
    assert options["access_log"] is False
