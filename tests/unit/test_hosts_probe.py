"""The soak monitor's view of a stage on several hosts: one sample from every host's answer,
who answered checked host by host, the engines read as one (the real monitor on two SSH hosts:
tests/faults/test_ssh_deploy.py)."""

from __future__ import annotations

import pytest

from soakgate.adapters.docker.stats import EngineDown
from soakgate.adapters.soak.hosts_probe import HostsEngineStats, HostsRouteCheck, combine
from soakgate.core.soak import EngineSample, RoutedSample, Sample


def ok(t: float, latency: float, slot: str = "blue") -> RoutedSample:
    return RoutedSample(t, True, 200, latency, None, slot, "172.18.0.3:8000")


def test_every_host_ok_is_one_ok_sample_with_the_slowest_latency() -> None:
    sample = combine(1.0, [("h1", ok(1.0, 2.0)), ("h2", ok(1.0, 9.5))])
    assert (sample.ok, sample.status, sample.latency_ms, sample.slot) == (True, 200, 9.5, "blue")
    assert sample.error is None


def test_one_host_failing_fails_the_sample_and_is_named() -> None:
    failed = Sample(1.0, False, None, None, "ReadTimeout")
    sample = combine(1.0, [("h1", ok(1.0, 2.0)), ("h2", failed)])
    assert not sample.ok and sample.error == "h2: ReadTimeout"
    assert sample.plain().error == "h2: ReadTimeout"  # what the store keeps


def test_hosts_routed_to_different_slots_have_no_common_slot() -> None:
    assert combine(1.0, [("h1", ok(1.0, 1.0)), ("h2", ok(1.0, 1.0, "green"))]).slot is None


def test_the_route_check_names_the_host_whose_proxy_routed_elsewhere() -> None:
    def only_blue(sample: RoutedSample, target: object) -> str | None:
        return None if sample.slot == "blue" else f"the proxy routed to {sample.slot}"

    route = HostsRouteCheck({"h1": only_blue, "h2": only_blue})
    good = combine(1.0, [("h1", ok(1.0, 1.0)), ("h2", ok(1.0, 1.0))])
    drifted = combine(1.0, [("h1", ok(1.0, 1.0)), ("h2", ok(1.0, 1.0, "green"))])
    assert route(good, None) is None
    assert route(drifted, None) == "h2: the proxy routed to green"


class Reader:
    def __init__(self, sample: EngineSample | None, answers: bool = True) -> None:
        self.sample, self.answers = sample, answers

    def ping(self) -> bool:
        if not self.answers:
            raise EOFError("the SSH transport closed")
        return True

    def read(self, container: str, t: float) -> EngineSample | None:
        if not self.answers:
            raise OSError("channel closed")
        return self.sample


def engine(memory: int, cpu: float, restarts: int = 0, running: bool = True) -> EngineSample:
    return EngineSample(5.0, restarts, False, memory, cpu, running)


def test_the_engines_as_one_the_worst_host_counts() -> None:
    stats = HostsEngineStats({"h1": Reader(engine(100, 3.0)), "h2": Reader(engine(250, 1.0, 2))})
    sample = stats.read("app", 5.0)
    assert sample == EngineSample(5.0, 2, False, 250, 3.0, True)
    assert stats.ping()
    stats.close()


def test_a_container_missing_on_one_host_is_not_running_for_the_stage() -> None:
    stats = HostsEngineStats({"h1": Reader(engine(100, 3.0)), "h2": Reader(None)})
    sample = stats.read("app", 5.0)
    assert sample is not None and not sample.running


def test_a_host_whose_ssh_dropped_is_an_engine_down_not_a_crash() -> None:
    stats = HostsEngineStats({"h1": Reader(engine(1, 1.0)), "h2": Reader(None, answers=False)})
    assert stats.ping() is False
    with pytest.raises(EngineDown, match="h2: channel closed"):
        stats.read("app", 5.0)
