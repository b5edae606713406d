"""Logs are one JSON object per line; every request writes one."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from fastapi.testclient import TestClient

from app.logs import JsonFormatter


def record(message: str, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("app.test", logging.WARNING, __file__, 1, message, (), None)
    made.__dict__.update(extra)
    return made


def test_one_json_object_with_fields() -> None:
    line = JsonFormatter().format(record("hello %s", fields={"status": 200}))
    entry = json.loads(line)
    assert (entry["level"], entry["logger"], entry["status"]) == ("warning", "app.test", 200)
    assert "\n" not in line


def test_exceptions_stay_on_one_line() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        failing = record("failed", exc_info=sys.exc_info())
    line = JsonFormatter().format(failing)
    assert "\n" not in line
    assert "RuntimeError: boom" in json.loads(line)["exception"]


def test_each_request_is_logged(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="app.access"):
        client.get("/work/cpu", params={"n": 5})
    (logged,) = [r for r in caplog.records if r.name == "app.access"]
    fields = logged.__dict__["fields"]
    assert (fields["path"], fields["route"], fields["status"]) == ("/work/cpu", "/work/cpu", 200)
