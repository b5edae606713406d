"""``free_port`` never gives one process the same port twice, even when the random draw
repeats: the CI run that failed drew 26438 for both dev and production of one project."""

from __future__ import annotations

import pytest

from soakgate import scratch


def test_a_repeated_draw_is_not_handed_out_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scratch, "_HANDED_OUT", set())
    draws = iter([26438, 26438, 26438, 29704, 26438, 31000])
    monkeypatch.setattr(scratch.random, "randint", lambda _low, _high: next(draws))
    ports = [scratch.free_port() for _ in range(3)]
    assert ports == [26438, 29704, 31000]


def test_a_port_in_use_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    monkeypatch.setattr(scratch, "_HANDED_OUT", set())
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        taken = squatter.getsockname()[1]
        draws = iter([taken, 20001])
        monkeypatch.setattr(scratch.random, "randint", lambda _low, _high: next(draws))
        assert scratch.free_port() == 20001
