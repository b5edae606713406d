"""Every unit test runs with ``DOCKER_HOST`` pointing nowhere: one that reaches a Docker engine
by mistake fails here, in the same run as the integration tests (the fast lane needs no engine)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from soakgate.adapters.docker import engine as docker_engine

NOWHERE = "tcp://127.0.0.1:9"  # the discard port: nothing answers


@pytest.fixture(autouse=True)
def _no_docker_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DOCKER_HOST", NOWHERE)
    docker_engine.client.cache_clear()  # no client made for a real engine before this test
    yield
    docker_engine.client.cache_clear()
