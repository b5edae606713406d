"""Liveness, readiness and version: what soakgate's gates read."""

from __future__ import annotations

import platform

from fastapi.testclient import TestClient

from app import __version__
from app.main import create_app
from app.settings import Settings
from tests.conftest import MakeClient


def test_health_is_ok(client: TestClient) -> None:
    response = client.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_health_fails_on_request(make_client: MakeClient) -> None:
    assert make_client(fail_health=True).get("/health").status_code == 500


def test_ready_once_started(client: TestClient) -> None:
    assert client.get("/ready").status_code == 200


def test_not_ready_before_start() -> None:
    assert TestClient(create_app(Settings())).get("/ready").status_code == 503


def test_not_ready_on_request(make_client: MakeClient) -> None:
    client = make_client(fail_ready=True)
    assert client.get("/ready").status_code == 503
    assert client.get("/health").status_code == 200


def test_version_names_release_version_python_and_revision(make_client: MakeClient) -> None:
    client = make_client(release="r42", app_version="1.2.3", source_revision="abc123")
    assert client.get("/version").json() == {
        "release": "r42",
        "app_version": "1.2.3",
        "python": platform.python_version(),
        "source_revision": "abc123",
    }


def test_version_defaults(client: TestClient) -> None:
    body = client.get("/version").json()
    assert (body["release"], body["app_version"], body["source_revision"]) == (
        "unknown",
        __version__,
        "unknown",
    )
