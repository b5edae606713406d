"""The work endpoints: results, bounds and the planted delay."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from app.work import count_primes
from tests.conftest import MakeClient


def test_count_primes() -> None:
    assert [count_primes(n) for n in (0, 2, 3, 10, 10_000)] == [0, 0, 1, 4, 1229]


def test_cpu(client: TestClient) -> None:
    assert client.get("/work/cpu", params={"n": 100}).json() == {"n": 100, "primes": 25}


def test_pydantic_round_trip(client: TestClient) -> None:
    body = client.get("/work/pydantic", params={"items": 3}).json()
    assert body["items"] == 3
    assert body["total"] == 1 * 0.0 + 2 * 0.5 + 3 * 1.0
    assert body["bytes"] > 0


def test_fanout(client: TestClient) -> None:
    assert client.get("/work/fanout", params={"tasks": 4}).json() == {"tasks": 4, "sum": 14}


@pytest.mark.parametrize(
    ("path", "param", "value"),
    [
        ("/work/cpu", "n", 0),
        ("/work/cpu", "n", 10_000_000),
        ("/work/pydantic", "items", 1_000_000),
        ("/work/fanout", "tasks", 1_000_000),
    ],
)
def test_work_is_bounded(client: TestClient, path: str, param: str, value: int) -> None:
    assert client.get(path, params={param: value}).status_code == 422


def test_planted_delay_slows_work_only(make_client: MakeClient) -> None:
    client = make_client(delay_ms=200)
    started = time.perf_counter()
    assert client.get("/work/fanout", params={"tasks": 1}).status_code == 200
    assert time.perf_counter() - started >= 0.2
    started = time.perf_counter()
    assert client.get("/health").status_code == 200
    assert time.perf_counter() - started < 0.2
