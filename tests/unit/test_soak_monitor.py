"""The soak monitor with a fake clock, probe, engine and stage: a simulated week in seconds.

What is checked: observed time, gaps and windows in breach after latency spikes and an outage;
engine down is a gap, not a breach; a breach runs the rollback policy once and is on record;
alert only records; a second monitor is refused; a restart resumes the same soak.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from soakgate.adapters.docker.stats import (
    UNCHECKED_START_SECONDS,
    cgroup_files,
    container_starting,
    frame_cpu_percent,
    frame_memory,
    stat_value,
    working_set,
)
from soakgate.adapters.soak.monitor_file import monitor_file
from soakgate.adapters.state.ledger import LedgerStore
from soakgate.adapters.state.soaks import SoakStore
from soakgate.app.soak.monitor import (
    MonitorSettings,
    NothingDeployed,
    RouteCheck,
    StageTarget,
    Tick,
    resolve_policy,
    run_monitor,
)
from soakgate.app.soak.status import release_verdict, soak_status
from soakgate.cli.soak import render_status
from soakgate.core.config import ProjectConfig, StageConfig
from soakgate.core.metrics import traffic_counters
from soakgate.core.project import Project
from soakgate.core.soak import (
    BREACHED,
    DRIFT,
    HEALTHY,
    EngineSample,
    RoutedSample,
    Sample,
    SloConfig,
    Verdict,
    is_drift,
    judge_soak,
)
from soakgate.errors import LockHeld, RollbackFailed
from soakgate.testing import Clock

A = "sha256:" + "a" * 64  # the release soaking
B = "sha256:" + "b" * 64  # the warm slot's (previous) release
C = "sha256:" + "c" * 64
T0 = 1_700_000_000.0
HOUR = 3600.0
DAY = 86400.0
ROOT = Path("/nonexistent-project")


class FakeEngine:
    """The Docker engine: down during ``down`` (start, end) spans; constant memory; the
    container's health check not passed yet while ``starting``."""

    def __init__(
        self,
        clock: Clock,
        down: tuple[tuple[float, float], ...] = (),
        starting: Callable[[float], bool] = lambda t: False,
    ) -> None:
        self.clock = clock
        self.down = down
        self.starting = starting
        self.reads: list[float] = []

    def is_down(self, t: float) -> bool:
        return any(start <= t < end for start, end in self.down)

    def ping(self) -> bool:
        return not self.is_down(self.clock())

    def read(self, container: str, t: float) -> EngineSample | None:
        assert container == "app-staging-blue", container
        if self.is_down(t):
            raise ConnectionError("engine down")
        self.reads.append(t)
        return EngineSample(t, 0, False, 200 * 1024**2, 1.5, starting=self.starting(t))


def spans(*pairs: tuple[float, float]) -> Callable[[float], bool]:
    return lambda t: any(start <= t < end for start, end in pairs)


def make_probe(
    engine: FakeEngine,
    *,
    failing: Callable[[float], bool] = lambda t: False,
    slow: Callable[[float], bool] = lambda t: False,
    refused: Callable[[float], bool] = lambda t: False,
) -> Callable[[float], Sample]:
    """Ok at 20 ms, except: engine down or ``refused`` → connection refused; ``failing`` → 500;
    ``slow`` → 900 ms."""

    def probe(t: float) -> Sample:
        if engine.is_down(t) or refused(t):
            return Sample(t, False, None, None, "ConnectError")
        if failing(t):
            return Sample(t, False, 500, 3.0, "HTTP 500")
        return Sample(t, True, 200, 900.0 if slow(t) else 20.0 + (t % 7))

    return probe


def target(release: str = A) -> StageTarget:
    return StageTarget(
        "staging", "http://127.0.0.1:1", "blue", release, "app-staging-blue", "green", B, True
    )


class Rollbacks:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[str] = []
        self.fail = fail

    def __call__(self, reason: str, verdict: Verdict) -> dict[str, Any]:
        self.calls.append(reason)
        if self.fail:
            raise RollbackFailed("the warm slot is not healthy")
        return {"path": "soak-policy", "from_release": A, "to_release": B}


def short_slo(**overrides: Any) -> SloConfig:
    values: dict[str, Any] = {
        "required_seconds": 600.0,
        "window_seconds": 60.0,
        "window_min_samples": 10,
        "min_samples": 20,
        "trend_window_seconds": 300.0,
    }
    values.update(overrides)
    return SloConfig(**values)


def monitor(
    state: Path,
    clock: Clock,
    engine: FakeEngine,
    probe: Callable[[float], Sample],
    slo: SloConfig,
    *,
    until: float | None = None,
    judge_every: float = 10.0,
    engine_every: float = 10.0,
    policy: str = "alert",
    rollback: Callable[[str, Verdict], dict[str, Any]] | None = None,
    locate: Callable[[], StageTarget] = target,
    on_tick: Callable[[Tick], None] | None = None,
    max_samples: int | None = None,
    batch_seconds: float = 5.0,
    route: RouteCheck | None = None,
    time_scale: float = 1.0,
    ticks: list[Tick] | None = None,
) -> Any:
    settings = MonitorSettings.for_slo(
        slo,
        judge_every=judge_every,
        engine_every=engine_every,
        metrics_every=0,
        batch_seconds=batch_seconds,
        recovery_grace=30.0,
        time_scale=time_scale,
    )
    if ticks is not None:
        on_tick = ticks.append
    return run_monitor(
        Project(ROOT, ProjectConfig(slo=slo), state),
        "staging",
        clock=clock,
        sleep=clock.sleep,
        probe=probe,
        engine_reader=engine,
        locate=locate,
        until=until,
        max_samples=max_samples,
        on_tick=on_tick,
        policy=policy,
        rollback=rollback or Rollbacks(),
        settings=settings,
        route=route,
    )


def ledger_events(state: Path, kind: str) -> list[Any]:
    ledger = LedgerStore.open(state)
    try:
        return [event for event in ledger.events() if event.kind == kind]
    finally:
        ledger.close()


# --- a simulated week --------------------------------------------------------------------------


def test_a_simulated_week_with_spikes_an_outage_and_the_engine_down(tmp_path: Path) -> None:
    """10 s probes for 7 d 3 h: a 5-minute outage of the release (its hour is not counted),
    an hour of latency spikes (not counted either), 10 minutes of engine down (a gap)."""
    slo = SloConfig(probe_interval_seconds=10.0)  # gaps: > 30 s without a probe
    clock = Clock()
    outage = (T0 + 2 * DAY + 10 * 60, T0 + 2 * DAY + 15 * 60)
    spikes = (T0 + 4 * DAY + 15 * 60, T0 + 4 * DAY + 35 * 60)
    engine_down = (T0 + 5 * DAY + 30 * 60, T0 + 5 * DAY + 40 * 60)
    engine = FakeEngine(clock, down=(engine_down,))
    probe = make_probe(engine, failing=spans(outage), slow=spans(spikes))
    end = T0 + 7 * DAY + 3 * HOUR

    result = monitor(
        tmp_path,
        clock,
        engine,
        probe,
        slo,
        until=end,
        judge_every=12 * HOUR,
        engine_every=60.0,
        batch_seconds=600.0,
    )

    assert result.stopped_because == "duration reached"
    assert result.dropped == 60  # 10 minutes of 10 s probes while the engine was down
    assert result.outages == [{"start": engine_down[0], "end": engine_down[1]}]
    status = soak_status(tmp_path, "staging", slo, clock=clock)
    verdict = status.verdict
    assert verdict.state == HEALTHY, verdict.reasons
    assert [(g.start, g.end) for g in verdict.gaps] == [
        (engine_down[0] - 10.0, engine_down[1])
    ]  # from the last probe before to the first after
    windows = [(w.start - T0, w.end - T0) for w in verdict.breached_windows]
    assert windows == [(2 * DAY, 2 * DAY + HOUR), (4 * DAY, 4 * DAY + HOUR)]
    span = (end - 10.0) - T0  # first probe at T0, last one 10 s before the end
    assert verdict.observed_seconds == pytest.approx(span - 610.0 - 2 * HOUR, abs=1e-6)
    assert verdict.gap_seconds == pytest.approx(610.0)
    assert verdict.probes == int((end - T0) / 10) - 60
    # the status page shows all of it
    page = render_text(status)
    assert "healthy" in page and "Docker engine down" in page and "not counted" in page
    assert ledger_events(tmp_path, "rollback") == []


def render_text(status: Any) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=200, color_system=None).print(render_status(status))
    return buffer.getvalue()


# --- engine down is a gap, the release down is a breach -----------------------------------------


def test_engine_down_is_a_gap_not_a_breach(tmp_path: Path) -> None:
    clock = Clock()
    down = (T0 + 100, T0 + 160)
    engine = FakeEngine(clock, down=(down,))
    # after the engine is back, the proxy needs 5 s more to answer: still not the release's fault
    probe = make_probe(engine, refused=spans((down[1], down[1] + 5)))
    result = monitor(tmp_path, clock, engine, probe, short_slo(), until=T0 + 300)

    assert result.dropped == 65
    assert result.verdict is not None and result.verdict.state != BREACHED
    with SoakStore.open(tmp_path) as store:
        samples = store.probe_samples(result.soak_id)
    assert all(sample.ok for sample in samples)
    (gap,) = result.verdict.gaps
    assert (gap.start, gap.end) == (down[0] - 1, down[1] + 5)
    assert json.loads(monitor_file(tmp_path, "staging").read_text())["engine_outages"] == [
        {"start": down[0], "end": down[1]}
    ]


def test_the_release_down_while_the_engine_answers_is_a_breach(tmp_path: Path) -> None:
    clock = Clock()
    engine = FakeEngine(clock)
    probe = make_probe(engine, refused=spans((T0 + 100, T0 + 160)))
    result = monitor(tmp_path, clock, engine, probe, short_slo(), until=T0 + 200)

    assert result.dropped == 0
    assert result.verdict is not None and result.verdict.state == BREACHED
    assert result.verdict.gaps == []
    (event,) = ledger_events(tmp_path, "soak")  # alert: recorded once, nothing else done
    assert event.data["policy"] == "alert" and event.to_release == A
    assert ledger_events(tmp_path, "rollback") == []


def test_a_long_engine_recovery_ends_its_grace(tmp_path: Path) -> None:
    """After ``recovery_grace`` (30 s here) failures count again."""
    clock = Clock()
    down = (T0 + 100, T0 + 110)
    engine = FakeEngine(clock, down=(down,))
    probe = make_probe(engine, refused=spans((down[1], down[1] + 60)))
    result = monitor(tmp_path, clock, engine, probe, short_slo(), until=T0 + 200)
    assert result.dropped == 10 + 30
    assert result.verdict is not None and result.verdict.state == BREACHED


def test_failures_while_a_stopping_engine_still_answers_are_its_outage(tmp_path: Path) -> None:
    """A stopping engine kills the containers first and answers a ping ~1.5 s longer: the
    probes that failed in those seconds are part of the gap, not failures of the release. A
    failure the engine does not follow is recorded (3 s later)."""
    clock = Clock()
    engine = FakeEngine(clock, down=((T0 + 50, T0 + 60),))
    probe = make_probe(engine, refused=spans((T0 + 48, T0 + 50), (T0 + 80, T0 + 81)))
    result = monitor(tmp_path, clock, engine, probe, short_slo(), until=T0 + 120)
    with SoakStore.open(tmp_path) as store:
        samples = store.probe_samples(result.soak_id)
    assert [s.t for s in samples if not s.ok] == [T0 + 80]
    assert result.dropped == 2 + 10
    assert result.outages == [{"start": T0 + 50, "end": T0 + 60}]


def test_a_monitor_begun_while_the_container_starts_waits_for_its_first_answer(
    tmp_path: Path,
) -> None:
    """Begun just after an engine restart: the engine answers, the active container's health
    check has not passed yet and the proxy refuses for 8 s. Those probes are not recorded;
    after the first answer a failure is the release's again."""
    clock = Clock()
    engine = FakeEngine(clock, starting=lambda t: t < T0 + 8)
    probe = make_probe(engine, refused=spans((T0, T0 + 8), (T0 + 100, T0 + 160)))
    ticks: list[Tick] = []
    result = monitor(tmp_path, clock, engine, probe, short_slo(), until=T0 + 200, ticks=ticks)

    assert [tick.dropped for tick in ticks[:9]] == ["release starting"] * 8 + [None]
    assert result.dropped == 8
    with SoakStore.open(tmp_path) as store:
        samples = store.probe_samples(result.soak_id)
    assert samples[0].t == T0 + 8 and samples[0].ok
    assert [s.t for s in samples if not s.ok] == [T0 + t for t in range(100, 160)]
    assert result.verdict is not None and result.verdict.state == BREACHED


def test_a_container_that_never_answers_is_recorded_failing_after_one_grace(
    tmp_path: Path,
) -> None:
    """Health "starting" on every engine sample, never an answer: one grace (30 s here), then
    every failure is recorded and the soak breaches."""
    clock = Clock()
    engine = FakeEngine(clock, starting=lambda t: True)
    probe = make_probe(engine, refused=lambda t: True)
    result = monitor(tmp_path, clock, engine, probe, short_slo(), until=T0 + 120)

    assert result.dropped == 30
    assert result.probes == 120 - 30
    assert result.verdict is not None and result.verdict.state == BREACHED


def test_a_container_that_restarts_later_in_the_soak_gets_no_grace(tmp_path: Path) -> None:
    """Only the soak's first engine sample can open the start grace: a crash and restart in the
    middle of the soak (health "starting" again, refused meanwhile) is the release's failure."""
    clock = Clock()
    crash = (T0 + 100, T0 + 115)
    engine = FakeEngine(clock, starting=spans(crash))
    probe = make_probe(engine, refused=spans(crash))
    result = monitor(tmp_path, clock, engine, probe, short_slo(), until=T0 + 200)
    assert result.dropped == 0
    with SoakStore.open(tmp_path) as store:
        failed = [s.t for s in store.probe_samples(result.soak_id) if not s.ok]
    assert failed == [T0 + t for t in range(100, 115)]
    assert result.verdict is not None and result.verdict.state == BREACHED


def test_a_running_container_gets_no_grace(tmp_path: Path) -> None:
    """Health passed (or no health check): a failure from the first probe on is recorded."""
    clock = Clock()
    engine = FakeEngine(clock)
    probe = make_probe(engine, refused=spans((T0, T0 + 8)))
    result = monitor(tmp_path, clock, engine, probe, short_slo(), until=T0 + 60)
    assert result.dropped == 0
    with SoakStore.open(tmp_path) as store:
        failed = [s.t for s in store.probe_samples(result.soak_id) if not s.ok]
    assert failed == [T0 + t for t in range(8)]


def test_a_container_is_starting_until_its_health_check_passes_or_for_a_while_without_one() -> None:
    started = "2026-12-07T16:00:00.5Z"
    at = 1796659200.5  # that moment
    with_check = {"State": {"StartedAt": started, "Health": {"Status": "starting"}}}
    assert container_starting(with_check, at + 3600)  # Docker has not said otherwise
    for status in ("healthy", "unhealthy"):
        assert not container_starting(
            {"State": {"StartedAt": started, "Health": {"Status": status}}}, at
        )
    unchecked = {"State": {"StartedAt": started}}
    assert container_starting(unchecked, at + 1)
    assert not container_starting(unchecked, at + UNCHECKED_START_SECONDS)
    assert not container_starting({"State": {"StartedAt": "0001-01-01T00:00:00Z"}}, at)


def test_on_an_accelerated_clock_the_graces_are_wall_clock_seconds(tmp_path: Path) -> None:
    """x100: the engine's 30 s recovery grace is 3,000 s of the monitor's clock. The proxy
    refusing for 2,000 clock seconds (20 s of the wall clock) after the engine is back is
    still the restart's, not the release's."""
    assert MonitorSettings(time_scale=20160).wall(120.0) == 120.0 * 20160
    clock = Clock()
    down = (T0 + 1000, T0 + 1100)
    engine = FakeEngine(clock, down=(down,))
    probe = make_probe(engine, refused=spans((down[1], down[1] + 2000)))
    slo = short_slo(probe_interval_seconds=10.0, window_seconds=600.0, min_samples=20)
    result = monitor(
        tmp_path, clock, engine, probe, slo, until=T0 + 6000, engine_every=100.0,
        judge_every=100.0, time_scale=100.0,
    )  # fmt: skip
    assert result.dropped == 10 + 200
    assert result.verdict is not None and result.verdict.state != BREACHED
    with SoakStore.open(tmp_path) as store:
        assert all(sample.ok for sample in store.probe_samples(result.soak_id))


# --- who answered: drift -------------------------------------------------------------------------


class Addresses:
    """The engine's word on a container's address: ``moves`` is (from t, address) in order."""

    def __init__(self, clock: Clock, moves: tuple[tuple[float, str], ...]) -> None:
        self.clock = clock
        self.moves = moves
        self.lookups: list[float] = []

    def __call__(self, container: str) -> str:
        assert container == "app-staging-blue", container
        self.lookups.append(self.clock())
        return [address for since, address in self.moves if since <= self.clock()][-1]


def routed_probe(
    served_by: Callable[[float], tuple[str, str]],
) -> Callable[[float], Sample]:
    """Ok at 20 ms; the proxy's headers name ``served_by(t)`` = (slot, upstream address)."""

    def probe(t: float) -> Sample:
        slot, upstream = served_by(t)
        return RoutedSample(t, True, 200, 20.0, None, slot, upstream)

    return probe


BLUE_AT = "172.18.0.3"


def test_the_proxy_serving_the_other_slot_is_drift_and_breaches_the_soak_at_once(
    tmp_path: Path,
) -> None:
    """From T0+95 every answer says slot green while the record says blue: the first such probe
    is stored as failed ("drift: …") and judged at once — long before the next judgement (every
    300 s here) — and the policy rolls back once."""
    clock = Clock()
    engine = FakeEngine(clock)
    probe = routed_probe(
        lambda t: ("green", "172.18.0.4:8000") if t >= T0 + 95 else ("blue", f"{BLUE_AT}:8000")
    )
    rollbacks = Rollbacks()
    result = monitor(
        tmp_path,
        clock,
        engine,
        probe,
        short_slo(),
        until=T0 + 600,
        judge_every=300.0,
        policy="rollback",
        rollback=rollbacks,
        route=RouteCheck(Addresses(clock, ((T0, BLUE_AT),)), clock),
    )
    assert clock() < T0 + 97, "drift was not judged at once"
    assert len(rollbacks.calls) == 1
    assert "answered by another release (soak): 1" in rollbacks.calls[0]
    assert "the proxy routed to green, the active slot is blue" in rollbacks.calls[0]
    assert result.verdict is not None and result.verdict.state == BREACHED
    assert result.stopped_because.startswith(f"rolled back to {B}")
    with SoakStore.open(tmp_path) as store:
        samples = store.probe_samples(result.soak_id)
    drifted = [s for s in samples if is_drift(s)]
    assert len(drifted) == 1 and not drifted[0].ok
    assert all(s.ok for s in samples if s not in drifted)  # nothing else was lost or failed


def test_an_answer_from_another_address_is_drift_though_the_slot_header_agrees(
    tmp_path: Path,
) -> None:
    """A hand-edited upstream: the marker (and so the header) says blue, the traffic goes to
    172.18.0.4, the green container. Under policy alert the breach is recorded once."""
    clock = Clock()
    engine = FakeEngine(clock)
    probe = routed_probe(
        lambda t: ("blue", "172.18.0.4:8000" if t >= T0 + 40 else f"{BLUE_AT}:8000")
    )
    addresses = Addresses(clock, ((T0, BLUE_AT),))
    result = monitor(
        tmp_path,
        clock,
        engine,
        probe,
        short_slo(),
        until=T0 + 120,
        judge_every=300.0,
        route=RouteCheck(addresses, clock),
    )
    assert result.verdict is not None and result.verdict.state == BREACHED
    assert any(
        "answered by 172.18.0.4, but the active slot blue" in r for r in result.verdict.reasons
    )
    (event,) = ledger_events(tmp_path, "soak")  # alert: once, not on every drifted probe
    assert event.data["policy"] == "alert"
    with SoakStore.open(tmp_path) as store:
        samples = store.probe_samples(result.soak_id)
    assert sum(1 for s in samples if is_drift(s)) == 80
    # the cached address was looked up afresh before each mismatch counted
    assert len(addresses.lookups) >= 80


def test_new_addresses_after_an_engine_restart_are_not_drift(tmp_path: Path) -> None:
    """At T0+50 the engine restarted and gave blue a new address: the cached one disagrees, a
    fresh inspect agrees — no drift, the soak stays healthy."""
    clock = Clock()
    engine = FakeEngine(clock)
    moved = "172.18.0.9"
    probe = routed_probe(lambda t: ("blue", f"{moved if t >= T0 + 50 else BLUE_AT}:8000"))
    addresses = Addresses(clock, ((T0, BLUE_AT), (T0 + 50, moved)))
    result = monitor(
        tmp_path,
        clock,
        engine,
        probe,
        short_slo(required_seconds=60.0),
        until=T0 + 120,
        route=RouteCheck(addresses, clock, ttl=5.0),
    )
    assert result.verdict is not None and result.verdict.state == HEALTHY, result.verdict.reasons
    assert not ledger_events(tmp_path, "soak")
    # cached: about one lookup per 5 s, not one per probe
    assert 20 <= len(addresses.lookups) <= 30


def test_a_switch_the_monitor_has_not_read_yet_is_a_new_soak_not_drift(tmp_path: Path) -> None:
    """A deploy switched to green (release C) at T0+33; the monitor reads the stage every 60 s.
    The first answer from green makes it read the stage again: a new soak of C begins."""
    clock = Clock()
    engine = FakeEngine(clock)

    def locate() -> StageTarget:
        if clock() < T0 + 33:
            return target()
        return StageTarget(
            "staging", "http://127.0.0.1:1", "green", C, "app-staging-blue", "blue", A, True
        )

    probe = routed_probe(
        lambda t: ("green", f"{BLUE_AT}:8000") if t >= T0 + 33 else ("blue", f"{BLUE_AT}:8000")
    )
    result = monitor(
        tmp_path,
        clock,
        engine,
        probe,
        short_slo(),
        until=T0 + 100,
        engine_every=60.0,
        locate=locate,
        route=RouteCheck(Addresses(clock, ((T0, BLUE_AT),)), clock),
    )
    assert result.release == C
    assert result.verdict is not None and result.verdict.state != BREACHED
    with SoakStore.open(tmp_path) as store:
        soaks = store.soaks("staging")
        every = [s for soak in soaks for s in store.probe_samples(soak.id)]
    assert [soak.release for soak in soaks] == [A, C] or [soak.release for soak in soaks] == [C, A]
    assert not [s for s in every if not s.ok]


def test_engine_down_stays_a_gap_not_drift(tmp_path: Path) -> None:
    """Probes fail while the engine is down (no headers to judge); the address lookups fail
    too: no probe is stored as drift."""
    clock = Clock()
    engine = FakeEngine(clock, down=((T0 + 30, T0 + 40),))

    def probe(t: float) -> Sample:
        if engine.is_down(t):
            return RoutedSample(t, False, None, None, "ConnectError")
        return RoutedSample(t, True, 200, 20.0, None, "blue", f"{BLUE_AT}:8000")

    def address(container: str) -> str:
        if engine.is_down(clock()):
            raise ConnectionError("engine down")
        return BLUE_AT

    result = monitor(
        tmp_path,
        clock,
        engine,
        probe,
        short_slo(),
        until=T0 + 80,
        route=RouteCheck(address, clock, ttl=0.0),
    )
    assert result.dropped == 10
    assert result.verdict is not None and result.verdict.state != BREACHED


def test_judge_soak_breaches_on_one_drifted_probe_and_says_which() -> None:
    slo = short_slo()
    samples = [Sample(T0 + i, True, 200, 20.0) for i in range(100)]
    engines = [EngineSample(T0 + i, 0, False, 1, 1.0) for i in range(0, 100, 10)]
    clean = judge_soak(samples, engines, [], slo, now=T0 + 100, started_at=T0)
    (row,) = [r for r in clean.slo_rows if r.name.startswith("answered by another release")]
    assert row.ok is True and row.measured == 0
    samples[50] = Sample(T0 + 50, False, 200, 20.0, DRIFT + "the proxy routed to green")
    drifted = judge_soak(samples, engines, [], slo, now=T0 + 100, started_at=T0)
    assert drifted.state == BREACHED
    assert drifted.reasons[0] == (
        "answered by another release (soak): 1 (SLO ≤ 0); first: the proxy routed to green"
    )  # first: it says more than the availability it also costs


def test_route_check_without_headers_or_engine_answers_none() -> None:
    """A sample without the proxy's headers, or an engine that cannot say: unknown, not drift."""
    clock = Clock()

    def gone(container: str) -> str:
        raise ConnectionError("no engine")

    check = RouteCheck(gone, clock)
    assert check(RoutedSample(T0, True, 200, 1.0), target()) is None
    assert check(RoutedSample(T0, True, 200, 1.0, None, "blue", "10.0.0.1:80"), target()) is None
    assert check(RoutedSample(T0, False, 502, 1.0, "HTTP 502", "green"), target()) is None
    assert check(RoutedSample(T0, True, 200, 1.0, None, "green"), target()) is not None


# --- the policy ---------------------------------------------------------------------------------


def test_a_breach_under_policy_rollback_rolls_back_once_and_stops(tmp_path: Path) -> None:
    clock = Clock()
    engine = FakeEngine(clock)
    probe = make_probe(engine, failing=lambda t: t >= T0 + 60)
    rollbacks = Rollbacks()
    ticks: list[Tick] = []
    result = monitor(
        tmp_path,
        clock,
        engine,
        probe,
        short_slo(),
        until=T0 + 600,
        policy="rollback",
        rollback=rollbacks,
        on_tick=ticks.append,
    )

    assert len(rollbacks.calls) == 1
    assert rollbacks.calls[0].startswith("soak breached: availability")
    assert result.stopped_because.startswith(f"rolled back to {B}")
    assert clock() < T0 + 80  # judged every 10 s: found within two judgements
    assert ticks[-1].verdict is not None and ticks[-1].verdict.state == BREACHED
    with SoakStore.open(tmp_path) as store:
        soak = store.soak(result.soak_id)
    assert soak is not None and soak.state == BREACHED and soak.ended_at is not None
    assert soak.end_reason is not None and soak.end_reason.startswith("rolled back")
    (event,) = ledger_events(tmp_path, "soak")
    assert event.data["policy"] == "rollback"
    assert event.data["rollback"]["to_release"] == B
    assert any(row["ok"] is False for row in event.data["rows"])
    # the verdict file of the release says breached, with the reason
    document = release_verdict(tmp_path, A, short_slo(), clock=clock)
    assert document["release"] == A and document["state"] == BREACHED


def test_a_failed_rollback_is_on_record_and_raised(tmp_path: Path) -> None:
    clock = Clock()
    engine = FakeEngine(clock)
    probe = make_probe(engine, failing=lambda t: t >= T0 + 30)
    with pytest.raises(RollbackFailed):
        monitor(
            tmp_path,
            clock,
            engine,
            probe,
            short_slo(),
            until=T0 + 600,
            policy="rollback",
            rollback=Rollbacks(fail=True),
        )
    (event,) = ledger_events(tmp_path, "soak")
    assert event.data["rollback_error"] == "the warm slot is not healthy"
    with SoakStore.open(tmp_path) as store:
        (soak,) = store.soaks("staging")
    assert soak.state == BREACHED and soak.end_reason is not None
    assert "rollback failed" in soak.end_reason


def test_policy_comes_from_the_option_then_the_open_soak_then_config(tmp_path: Path) -> None:
    assert ProjectConfig().stages["staging"].policy == "rollback"  # the shipped default
    alerting = StageConfig("staging", 18081, 4 * 3600, "alert")
    config = ProjectConfig(stages={**ProjectConfig().stages, "staging": alerting})
    with SoakStore.open(tmp_path) as store:
        assert resolve_policy(tmp_path, "staging", ProjectConfig(), store, None) == "rollback"
        assert resolve_policy(tmp_path, "staging", config, store, None) == "alert"
        assert resolve_policy(tmp_path, "staging", config, store, "rollback") == "rollback"
        with pytest.raises(Exception, match="unknown soak policy"):
            resolve_policy(tmp_path, "staging", config, store, "panic")
    clock = Clock()
    engine = FakeEngine(clock)
    monitor(
        tmp_path, clock, engine, make_probe(engine), short_slo(), policy="rollback", max_samples=5
    )
    with SoakStore.open(tmp_path) as store:
        assert resolve_policy(tmp_path, "staging", config, store, None) == "rollback"


# --- ownership, resume, refusals ---------------------------------------------------------------


def test_a_restart_resumes_the_same_soak_and_the_pause_is_a_gap(tmp_path: Path) -> None:
    clock = Clock()
    engine = FakeEngine(clock)
    probe = make_probe(engine)
    first = monitor(tmp_path, clock, engine, probe, short_slo(), max_samples=50)
    clock.now += 120  # nobody watching for two minutes
    second = monitor(tmp_path, clock, engine, probe, short_slo(), max_samples=50)
    assert second.soak_id == first.soak_id
    with SoakStore.open(tmp_path) as store:
        assert store.probe_count(first.soak_id) == 100
    assert second.verdict is not None
    (gap,) = second.verdict.gaps
    assert gap.seconds == pytest.approx(121.0)


def test_a_second_live_monitor_is_refused(tmp_path: Path) -> None:
    clock = Clock()
    with SoakStore.open(tmp_path) as store:
        store.begin("staging", A, B, pid=os.getppid(), clock=clock).beat()
    engine = FakeEngine(clock)
    with pytest.raises(LockHeld, match=f"already soaked by monitor pid {os.getppid()}"):
        monitor(tmp_path, clock, engine, make_probe(engine), short_slo(), max_samples=5)


def test_nothing_deployed_is_refused(tmp_path: Path) -> None:
    clock = Clock()
    engine = FakeEngine(clock)
    with pytest.raises(NothingDeployed, match="nothing deployed on staging: deploy first"):
        monitor(
            tmp_path,
            clock,
            engine,
            make_probe(engine),
            short_slo(),
            locate=lambda: StageTarget("staging", "http://127.0.0.1:1"),
        )


def test_a_new_release_on_the_stage_starts_a_new_soak(tmp_path: Path) -> None:
    clock = Clock()
    engine = FakeEngine(clock)
    releases = {"now": A}

    def locate() -> StageTarget:
        return target(releases["now"])

    def deploy_c_later(tick: Tick) -> None:
        if tick.t >= T0 + 30:
            releases["now"] = C

    result = monitor(
        tmp_path,
        clock,
        engine,
        make_probe(engine),
        short_slo(),
        locate=locate,
        on_tick=deploy_c_later,
        until=T0 + 60,
    )
    with SoakStore.open(tmp_path) as store:
        newer, older = store.soaks("staging")
    assert (older.release, newer.release) == (A, C)
    assert older.end_reason == f"superseded by {C}" and newer.is_open
    assert result.soak_id == newer.id


# --- pieces ------------------------------------------------------------------------------------


def test_traffic_counters_skip_the_probes_own_paths() -> None:
    text = "\n".join(
        [
            "# TYPE http_requests_total counter",
            'http_requests_total{method="GET",path="/health",status="200"} 100.0',
            'http_requests_total{method="GET",path="/metrics",status="200"} 3.0',
            'http_requests_total{method="GET",path="/work/cpu",status="200"} 40.0',
            'http_requests_total{method="GET",path="/work/cpu",status="503"} 2.0',
        ]
    )
    assert traffic_counters(text, ("/health", "/metrics")) == (42.0, 2.0)


def test_cgroup_files_v1_and_v2() -> None:
    cid = "f" * 64
    v1 = f"4:memory:/docker/{cid}\n2:cpu,cpuacct:/docker/{cid}\n0::/docker/{cid}\n"
    files = cgroup_files(v1, cid, Path("/cg"))
    assert files is not None and files.version == 1
    assert files.memory == Path(f"/cg/memory/docker/{cid}")
    assert files.cpu == Path(f"/cg/cpu,cpuacct/docker/{cid}")
    v2 = cgroup_files(f"0::/system.slice/docker-{cid}.scope\n", cid, Path("/cg"))
    assert v2 is not None and v2.version == 2
    assert cgroup_files("4:memory:/docker/other\n", cid) is None


def test_memory_and_cpu_as_docker_stats_count_them() -> None:
    assert stat_value("cache 5\ntotal_inactive_file 30\n", "total_inactive_file") == 30
    assert working_set(100, "total_inactive_file 30\n", 1) == 70
    assert working_set(100, "inactive_file 130\n", 2) == 100
    frame = {
        "memory_stats": {"usage": 1000, "stats": {"total_inactive_file": 200}},
        "cpu_stats": {
            "cpu_usage": {"total_usage": 3_000_000},
            "system_cpu_usage": 20_000_000,
            "online_cpus": 2,
        },
        "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000}, "system_cpu_usage": 10_000_000},
    }
    assert frame_memory(frame) == 800
    assert frame_cpu_percent(frame) == pytest.approx(40.0)
    assert frame_cpu_percent({}) == 0.0
