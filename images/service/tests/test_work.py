"""The work endpoints: results, bounds, the planted delay and the planted slowdown."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.slowdown import SlowdownMiddleware, spin
from app.work import _task, count_primes, start_tasks
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


def test_fanout_with_eager_tasks_gives_the_same_answer(make_client: MakeClient) -> None:
    client = make_client(eager_tasks=True)
    assert client.get("/work/fanout", params={"tasks": 9}).json() == {"tasks": 9, "sum": 204}


@pytest.mark.parametrize("eager", [True, False])
def test_eager_tasks_finish_without_a_loop_turn_unless_they_wait(eager: bool) -> None:
    async def main() -> list[bool]:
        loop = asyncio.get_running_loop()
        started = start_tasks(loop, [_task(i) for i in range(4)], eager)
        done = [task.done() for task in started]
        assert await asyncio.gather(*started) == [0, 1, 4, 9]
        return done

    # a cache hit (i % 4 != 3) is done at once when eager; the fourth waits a turn either way
    assert asyncio.run(main()) == ([True, True, True, False] if eager else [False] * 4)


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


class Recorder:
    """An ASGI app that is busy ``seconds``, then answers; it keeps the ``send`` it was given."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.sends: list[Any] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.sends.append(send)
        spin(self.seconds)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def _send(message: Any) -> None:
    return None


def call(middleware: SlowdownMiddleware, path: str) -> float:
    started = time.perf_counter()
    asyncio.run(middleware({"type": "http", "path": path}, _send, _send))
    return time.perf_counter() - started


def test_planted_slowdown_adds_its_share_of_the_requests_own_time() -> None:
    inner = Recorder(0.02)
    assert call(SlowdownMiddleware(inner, percent=50.0), "/work/cpu") >= 0.03
    assert inner.sends[-1] is not _send  # the answer waited for the extra time


def test_no_slowdown_when_off_or_outside_work() -> None:
    inner = Recorder(0.0)
    call(SlowdownMiddleware(inner, percent=0.0), "/work/cpu")
    call(SlowdownMiddleware(inner, percent=50.0), "/health")
    assert inner.sends == [_send, _send]  # passed straight through


def test_the_app_reads_its_slowdown(make_client: MakeClient) -> None:
    client = make_client(slowdown_percent=5.0)
    assert client.get("/work/cpu", params={"n": 100}).json() == {"n": 100, "primes": 25}
