"""Use case: soak a stage — probe it through its proxy, sample the engine, store, judge, act.

    result = run_monitor(project, "staging", policy="rollback")
    result.stopped_because          # "stopped", "duration reached", "rolled back to …", …
    soak_status(state, "staging", config.slo).verdict.state    # "healthy" | "breached" | …

The monitor, once a probe interval (``[slo] probe_interval``, 1 s):

- probes ``http://127.0.0.1:<port><health_path>`` with a timeout that fits inside the gap
  threshold (so a hanging release shows as failed probes, never as a gap), and every
  ``metrics_every`` probes scrapes ``/metrics`` when the service has it (kept as two counters
  of user traffic in the monitor file, nothing more);
- every ``engine_every`` (10 s) re-reads the stage (a new active release starts a new soak: a
  soak's samples are never mixed) and takes an engine sample of the active container;
- every ``judge_every`` (60 s; stretched if judging would take more than ``judge_budget``,
  2 % of a core) judges the soak and records the verdict. The monitor keeps the soak's samples
  in memory as it records them (loaded once on a resume; about 75 MiB for a week at 1 probe/s),
  so a verdict at the end of a week costs the judgement alone (~0.6 s), not a reload (~2 s).
  On a breach it applies the stage's policy: ``alert`` records it (verdict, ledger "soak"
  event); ``rollback`` runs the emergency rollback (under the stage lock, the warm slot probed
  first, a quarantined release refused), ends the soak as breached and stops.

A stage on SSH hosts (``soakgate:hosts``) is probed through every host's proxy at once, at
``http://<host>:<port>`` as its users reach it: one sample, ok only when every host answered
ok, with the slowest host's latency and each failing host named in its error. Who answered is
checked host by host, and the engines are read over each host's SSH connection (a sample is
the worst host's: most memory and CPU, restarts added up; a host whose engine or SSH does not
answer makes a gap).

Who answered counts, not only that something did: every answer through the proxy names the
slot it was routed to (``X-Soakgate-Slot``) and the address that answered
(``X-Soakgate-Upstream``). When either is not the active slot's — an engine restart made the
proxy serve the other slot, a hand-edited upstream — and a second look after a fresh read of
the stage agrees, the probe is stored failed (``"drift: …"``) and the soak is judged at once:
a soak whose traffic went to another release is no evidence for its own, so it is breached and
the policy applies. Only headers and the engine are used, never the service's body.

Engine down is a gap, not a breach. A failed probe is checked against the engine: when the
engine does not answer a ping, the probe is not recorded (the silence becomes a gap) until it
answers again; then, for at most ``recovery_grace`` (120 s) and until the first ok probe,
failed probes are not recorded either — the engine is still restarting the stage's
containers. The same grace when the monitor's first engine sample of a soak (as it begins or
resumes it) finds the active container starting: its Docker health check has not passed since
it started, as just after an engine restart or a host's reboot. A container that never
answers is recorded failing once the grace is over, and one that restarts later in the soak
gets none (a crash is the release's). Otherwise a failed probe while the engine answers is the
release's failure.

The graces (``recovery_grace``, ``failure_hold``, ``confirm_delay``) are the real world's
times — containers starting, an engine stopping — so they are wall-clock seconds on an
accelerated clock too (``soakgate demo``), not simulated ones.

Samples are committed in batches (``batch_seconds``, 5 s) with the monitor's heartbeat; a
SIGKILLed monitor loses at most the uncommitted batch, and a new one resumes the same soak.
SIGTERM (``soakgate soak stop``) or Ctrl-C commit the batch and leave the soak open, so the
week goes on when monitoring does; ``soak stop --end`` ends it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from soakgate.adapters.soak.monitor_file import (
    log_file,
    read_monitor_file,
    write_monitor_file,
)
from soakgate.adapters.stage.hosts_engine import HostsEngine
from soakgate.adapters.state.ledger import LedgerStore
from soakgate.adapters.state.soaks import Soak, SoakRecorder, SoakStore
from soakgate.app.stages import stage_engine
from soakgate.core.config import ProjectConfig, check_stage
from soakgate.core.hosts import Host
from soakgate.core.metrics import traffic_counters
from soakgate.core.project import Project
from soakgate.core.proxy_conf import answered_address
from soakgate.core.soak import (
    BREACHED,
    DRIFT,
    EngineSample,
    RoutedSample,
    Sample,
    SloConfig,
    Verdict,
    is_drift,
    judge_soak,
)
from soakgate.errors import ConfigError, SoakgateError

POLICIES = ("alert", "rollback")
ACTOR = "soakgate soak monitor"
MAX_OUTAGES = 50


class NothingDeployed(SoakgateError):
    """The stage runs no release, so there is nothing to soak."""


# --- ports -----------------------------------------------------------------------------------


class EngineReader(Protocol):
    """The Docker engine as the monitor sees it (``EngineStats`` is the real one)."""

    def ping(self) -> bool: ...

    def read(self, container: str, t: float) -> EngineSample | None: ...


@dataclass(frozen=True)
class StageTarget:
    """What the monitor watches: the stage's active slot, and the warm one behind it."""

    stage: str
    url: str  # the proxy, http://127.0.0.1:<port>
    active_slot: str | None = None
    release: str | None = None  # digest of the active release; None: nothing deployed
    container: str | None = None  # the active app container (name or id)
    warm_slot: str | None = None
    baseline: str | None = None  # digest of the warm slot's release (the previous one)
    warm_running: bool = False


@dataclass(frozen=True)
class MonitorSettings:
    """How often the monitor does what; the probe interval comes from the SLO config."""

    probe_interval: float = 1.0
    probe_timeout: float | None = None  # None: 80 % of (gap threshold - probe interval), ≤ 2 s
    engine_every: float = 10.0
    judge_every: float = 60.0
    judge_budget: float = 0.02  # share of a core judging may take (stretches judge_every)
    metrics_every: int = 60  # probes between /metrics scrapes; 0: never
    batch_seconds: float = 5.0
    recovery_grace: float = 120.0
    confirm_delay: float = 0.25  # before the second look at a probe another release answered
    failure_hold: float = 3.0  # a failed probe waits this long: an engine going down takes it
    time_scale: float = 1.0  # > 1: the clock is accelerated (soakgate demo); kept on the soak

    @classmethod
    def for_slo(cls, slo: SloConfig, **overrides: Any) -> MonitorSettings:
        return cls(probe_interval=slo.probe_interval_seconds, **overrides)

    def wall(self, seconds: float) -> float:
        """``seconds`` of the wall clock, in the monitor's clock (simulated when accelerated)."""
        return seconds * self.time_scale

    def timeout(self, slo: SloConfig) -> float:
        if self.probe_timeout is not None:
            return self.probe_timeout
        room = max(0.2, slo.gap_threshold - self.probe_interval)
        return min(2.0, 0.8 * room)


@dataclass(frozen=True)
class Tick:
    """What one probe interval did (for ``on_tick``: progress lines, tests)."""

    t: float
    sample: Sample | None  # None when the probe was not recorded
    dropped: str | None  # why not: "engine down", "engine recovering", "release starting"
    engine_down: bool
    soak_id: int
    probes: int  # recorded by this run
    verdict: Verdict | None = None  # set when the soak was judged in this tick


@dataclass
class MonitorResult:
    """How a monitor run ended."""

    soak_id: int
    release: str
    stopped_because: str
    verdict: Verdict | None = None
    probes: int = 0  # recorded by this run
    dropped: int = 0  # not recorded: the engine was down or recovering, or the release starting
    engine_samples: int = 0
    outages: list[dict[str, float | None]] = field(default_factory=list)
    rollback: dict[str, Any] | None = None


# --- stage and probes --------------------------------------------------------------------------


def stage_locator(project: Project, stage: str) -> Callable[[], StageTarget]:
    """Reads the stage from the engine and the proxy's upstream file (the truth, not Pulumi)."""
    engine = stage_engine(project, stage)
    if isinstance(engine, HostsEngine):
        url = next(iter(host_urls(project, stage, engine.proxy_port).values()))
    else:
        url = f"http://127.0.0.1:{engine.proxy_port}"

    def locate() -> StageTarget:
        table = engine.read_slots()
        active = table.active_slot
        if active is None or active.empty or not active.digest:
            return StageTarget(stage, url)
        warm = table.slot(table.inactive_name)
        return StageTarget(
            stage,
            url,
            active.name,
            active.digest,
            active.container or engine.names.app(active.name),
            warm.name,
            warm.digest if not warm.empty else None,
            warm.running,
        )

    return locate


def host_urls(project: Project, stage: str, port: int) -> dict[str, str]:
    """Each SSH host's proxy, ``http://ADDRESS:PORT``, by the host's name (as HostsEngine
    names them): the monitor probes them as users reach them."""
    from soakgate.adapters.stage.stack_file import stack_config

    hosts: tuple[Host, ...] = tuple(stack_config(project.root, stage).get("hosts", ()))
    return {
        host.name: f"http://{f'[{host.address}]' if ':' in host.address else host.address}:{port}"
        for host in hosts
    }


def hosts_adapters(
    project: Project, stage: str, engine: HostsEngine, timeout: float, metrics: bool
) -> tuple[Callable[[float], Sample], Callable[[], str | None], Callable[[], None],
           Callable[[RoutedSample, StageTarget], str | None], EngineReader]:  # fmt: skip
    """The probe (every host's proxy at once), its scrape and close, the route check and
    the engine reader of a stage on SSH hosts."""
    from soakgate.adapters.docker.stats import EngineStats
    from soakgate.adapters.soak.hosts_probe import HostsEngineStats, HostsProbe, HostsRouteCheck

    path = project.config.service.health_path
    urls = host_urls(project, stage, engine.proxy_port)
    probe = HostsProbe(
        {host: url + path for host, url in urls.items()},
        timeout,
        next(iter(urls.values())) + "/metrics" if metrics else None,
    )
    route = HostsRouteCheck(
        {host: RouteCheck(one.address, time.time) for host, one in engine.engines.items()}
    )
    reader = HostsEngineStats(
        {host: EngineStats(connect=one.io.docker) for host, one in engine.engines.items()}
    )
    return probe, probe.scrape, probe.close, route, reader


class RouteCheck:
    """Did the active release answer? The slot header must name the active slot and the
    address that answered must be the active container's. Addresses come from the engine,
    cached for ``ttl`` seconds and looked up afresh before a mismatch counts (an engine restart
    gives containers new addresses: that is not drift).

        check = RouteCheck(engine.address, clock=time.time)
        check(sample, target)     # None, or "the proxy routed to green, the active slot is blue"
    """

    def __init__(
        self, address: Callable[[str], str], clock: Callable[[], float], ttl: float = 5.0
    ) -> None:
        self.address = address
        self.clock = clock
        self.ttl = ttl
        self._cache: dict[str, tuple[str, float]] = {}

    def _address(self, container: str, fresh: bool) -> str | None:
        cached = self._cache.get(container)
        if not fresh and cached is not None and self.clock() - cached[1] < self.ttl:
            return cached[0]
        try:
            found = self.address(container)
        except Exception:  # gone, or the engine does not answer: unknown, not drift
            self._cache.pop(container, None)
            return None
        self._cache[container] = (found, self.clock())
        return found

    def __call__(self, sample: RoutedSample, target: StageTarget) -> str | None:
        """What is wrong with who answered ``sample``, or None (also when it is not known)."""
        if not sample.ok or sample.slot is None or target.active_slot is None:
            return None
        if sample.slot != target.active_slot:
            return f"the proxy routed to {sample.slot}, the active slot is {target.active_slot}"
        if not sample.upstream or target.container is None:
            return None
        answered = answered_address(sample.upstream)
        expected = self._address(target.container, fresh=False)
        if expected is None or answered == expected:
            return None
        expected = self._address(target.container, fresh=True)
        if expected is None or answered == expected:
            return None
        return (
            f"answered by {answered}, but the active slot {target.active_slot}"
            f" ({target.container}) is at {expected}"
        )


def resolve_policy(
    state: Path, stage: str, config: ProjectConfig, store: SoakStore, explicit: str | None
) -> str:
    """``--policy``, else the one the open soak was started with, else the stage's config
    (``[stages.<name>] policy``), else "alert"."""
    if explicit is not None:
        policy = explicit
    else:
        previous = read_monitor_file(state, stage)
        open_soak = store.open_soak(stage)
        configured = getattr(config.stages.get(stage), "policy", None)
        if open_soak is not None and previous.get("soak_id") == open_soak.id:
            policy = str(previous.get("policy") or configured or "alert")
        else:
            policy = str(configured or "alert")
    if policy not in POLICIES:
        raise ConfigError(f"unknown soak policy {policy!r}", hint="use rollback or alert")
    return policy


# --- the monitor -------------------------------------------------------------------------------


RollbackAction = Callable[[str, Verdict], dict[str, Any]]


class _Monitor:
    def __init__(
        self,
        stage: str,
        state: Path,
        slo: SloConfig,
        settings: MonitorSettings,
        *,
        store: SoakStore,
        locate: Callable[[], StageTarget],
        probe: Callable[[float], Sample],
        scrape: Callable[[], str | None] | None,
        engine: EngineReader,
        clock: Callable[[], float],
        sleep: Callable[[float], object],
        stop: threading.Event,
        policy: str,
        rollback: RollbackAction,
        ledger: Callable[..., object],
        warn: Callable[[str], None],
        skip_paths: tuple[str, ...],
        route: Callable[[RoutedSample, StageTarget], str | None] | None = None,
    ) -> None:
        self.stage = stage
        self.route = route
        self.state = state
        self.slo = slo
        self.settings = settings
        self.store = store
        self.locate = locate
        self.probe = probe
        self.scrape = scrape
        self.engine = engine
        self.clock = clock
        self.sleep = sleep
        self.stop = stop
        self.policy = policy
        self.rollback_action = rollback
        self.ledger = ledger
        self.warn = warn
        self.skip_paths = skip_paths
        self.recorder: SoakRecorder | None = None
        self.target = StageTarget(stage, "")
        self.baseline_latencies: list[float] = []
        # the soak's samples, kept as they are recorded: judging then needs no reload
        self.probes: list[Sample] = []
        self.engines: list[EngineSample] = []
        self.result: MonitorResult | None = None
        self.down_since: float | None = None
        self.recovering_until: float | None = None
        self.recovering_why = "engine recovering"  # or "release starting"
        self.first_sample = True  # the soak's first engine sample is still to come
        self.last_beat = 0.0
        self.last_state: str | None = None
        self.breach_reported = False
        self.metrics_misses = 0
        self.traffic: dict[str, Any] = {}
        self._counter_last: tuple[float, float] | None = None
        self.started_at = clock()
        self.engine_trouble = False
        self.held: list[Sample] = []  # failed probes not recorded yet (see probe_tick)
        self.drift_judged = False  # a drift streak was judged at once: not on every probe
        self.finished = False  # the soak was ended (rollback, stage gone): nothing to close

    # bookkeeping
    @property
    def soak(self) -> Soak:
        assert self.recorder is not None
        return self.recorder.soak

    def begin(self, target: StageTarget) -> None:
        assert target.release is not None
        if self.recorder is not None:
            self.recorder.flush()
        self.recorder = self.store.begin(
            self.stage,
            target.release,
            target.baseline,
            clock=self.clock,
            batch_size=1000,
            batch_seconds=self.settings.batch_seconds,
            warn=self.warn,
            time_scale=self.settings.time_scale,
            anew=self.settings.time_scale != 1 and self.recorder is None,
        )
        self.target = target
        self.last_beat = self.clock()
        self.baseline_latencies = self.store.baseline_latencies_ms(self.recorder.soak)
        self.probes = self.store.probe_samples(self.recorder.soak.id)
        self.engines = self.store.engine_samples(self.recorder.soak.id)
        soak = self.recorder.soak
        if self.result is None:
            self.result = MonitorResult(soak.id, soak.release, "running")
        else:
            self.result.soak_id, self.result.release = soak.id, soak.release
        previous = read_monitor_file(self.state, self.stage)
        if previous.get("soak_id") == soak.id:  # a resume: keep what the last monitor saw
            self.result.outages = list(previous.get("engine_outages") or [])
            self.traffic = dict(previous.get("traffic") or {})
        else:
            self.result.outages, self.traffic = [], {}
        self._counter_last = None
        self.last_state = soak.state
        self.breach_reported = soak.state == BREACHED
        self.first_sample = True
        kind = "resumed" if soak.started_at < self.last_beat - 1e-3 else "started"
        self.warn(
            f"soak #{soak.id} of {soak.release} on {self.stage} {kind}"
            f" (baseline {soak.baseline or 'none'}, policy {self.policy})"
        )
        self.save("running")

    def save(self, status: str, because: str | None = None) -> None:
        assert self.result is not None
        verdict = self.result.verdict
        write_monitor_file(
            self.state,
            self.stage,
            {
                "stage": self.stage,
                "pid": os.getpid(),
                "policy": self.policy,
                "status": status,
                "stopped_because": because,
                "log": str(log_file(self.state, self.stage)),
                "monitor_started_at": self.started_at,
                "updated_at": self.clock(),
                "soak_id": self.result.soak_id,
                "release": self.result.release,
                "engine_outages": self.result.outages[-MAX_OUTAGES:],
                "traffic": self.traffic,
                "verdict": None
                if verdict is None
                else {
                    "state": verdict.state,
                    "judged_at": verdict.judged_at,
                    "observed_seconds": verdict.observed_seconds,
                },
            },
        )

    # the loop
    def run(
        self,
        until: float | None,
        max_samples: int | None,
        on_tick: Callable[[Tick], None] | None,
    ) -> MonitorResult:
        target = self.locate()
        if target.release is None:
            raise NothingDeployed(
                f"nothing deployed on {self.stage}: deploy first",
                hint=f"soakgate deploy {self.stage} --release DIGEST",
            )
        self.begin(target)
        assert self.result is not None
        settings = self.settings
        interval = settings.probe_interval
        now = self.clock()
        next_probe, next_engine, next_judge = now, now, now + settings.judge_every
        taken = 0
        because = "stopped"
        try:
            while True:
                now = self.clock()
                if self.stop.is_set():
                    break
                if until is not None and now >= until:
                    because = "duration reached"
                    break
                if max_samples is not None and taken >= max_samples:
                    because = "max samples reached"
                    break
                if now >= next_engine and self.down_since is None:
                    next_engine = now + settings.engine_every
                    if self.engine_tick(now) is not None:
                        return self.result
                sample, dropped = self.probe_tick(now)
                if self.finished:
                    return self.result
                taken += 1
                if settings.metrics_every and self.scrape and taken % settings.metrics_every == 0:
                    self.scrape_tick()
                drifted = sample is not None and is_drift(sample)
                judge_now = drifted and not self.drift_judged  # drift breaches at once
                self.drift_judged = drifted
                verdict = None
                if self.clock() >= next_judge or judge_now:
                    verdict, cost = self.judge()
                    next_judge = self.clock() + max(
                        settings.judge_every, cost / settings.judge_budget
                    )
                    ended = self.act(verdict)
                    if ended is not None:
                        because = ended
                if on_tick is not None:
                    on_tick(
                        Tick(
                            now,
                            sample,
                            dropped,
                            self.down_since is not None,
                            self.soak.id,
                            self.result.probes,
                            verdict,
                        )
                    )
                if self.finished:
                    return self.result
                next_probe += interval
                later = self.clock()
                if next_probe < later - interval:  # fell behind (a suspend): no burst
                    next_probe = later
                if next_probe > later and self.sleep(next_probe - later) is True:
                    break  # a stop event's wait() says it was set
        except BaseException:
            with contextlib.suppress(SoakgateError):
                self.save("crashed", "error")
            raise
        self.finish_run(because)
        return self.result

    def finish_run(self, because: str) -> None:
        """Commit, judge once more, let go of the soak (it stays open for a resume)."""
        assert self.result is not None and self.recorder is not None
        if self.down_since is not None:
            self.result.outages[-1]["end"] = self.clock()
        else:
            self.release_held(None)
        self.recorder.flush()
        verdict, _ = self.judge()
        self.result.verdict = verdict
        self.recorder.close()
        self.result.stopped_because = because
        self.save("stopped", because)
        self.warn(f"monitor stopped ({because}); soak #{self.soak.id} stays open for a resume")

    def engine_tick(self, now: float) -> str | None:
        """Re-read the stage and take an engine sample; a reason to stop, or None."""
        assert self.result is not None and self.recorder is not None
        try:
            target = self.locate()
            sample = None
            if target.release == self.target.release and target.container is not None:
                sample = self.engine.read(target.container, now)
        except Exception as exc:  # the engine's: DockerError, the Docker SDK's, requests', OS
            if not self.engine_trouble:
                self.warn(f"engine sample skipped: {type(exc).__name__}: {exc}")
            self.engine_trouble = True
            return None
        self.engine_trouble = False
        if target.release is None:
            because = "stage not deployed any more"
            self.recorder.finish(because=because)
            self.finished = True
            self.result.stopped_because = because
            self.save("stopped", because)
            self.warn(f"{self.stage} runs no release any more: soak ended, monitor stops")
            return because
        if target.release != self.target.release:
            self.warn(f"{self.stage} now runs {target.release}: a new soak begins")
            self.begin(target)
            return None
        self.target = target
        if sample is not None and self.first_sample:
            self.first_sample = False
            if sample.starting and (self.recovering_until is None or self.recovering_until <= now):
                self.recovering_until = now + self.settings.wall(self.settings.recovery_grace)
                self.recovering_why = "release starting"
                self.warn(
                    f"{self.stage}'s active container is starting (its health check has not"
                    " passed yet): failed probes are not recorded until it answers, for at most"
                    f" {self.settings.recovery_grace:.0f} s"
                )
        if sample is not None:
            self.recorder.add_engine(sample)
            self.engines.append(sample)
            self.result.engine_samples += 1
        return None

    def probe_tick(self, now: float) -> tuple[Sample | None, str | None]:
        """Probe once; record the sample unless it failed for the engine's sake."""
        assert self.result is not None and self.recorder is not None
        sample = self.probe(now)
        if isinstance(sample, RoutedSample):
            sample = self.routed(sample, now)
            if self.finished:
                return None, "stage not deployed"
        if self.down_since is not None and self.engine.ping():
            self.warn(f"Docker engine answers again after {now - self.down_since:.0f}s")
            self.result.outages[-1]["end"] = now
            self.down_since = None
            self.recovering_until = now + self.settings.wall(self.settings.recovery_grace)
            self.recovering_why = "engine recovering"
            self.save("running")
        dropped: str | None = None
        if sample.ok:
            self.recovering_until = None
        elif self.down_since is not None:
            dropped = "engine down"
        elif not self.engine.ping():
            self.down_since = now
            self.result.outages.append({"start": now, "end": None})
            self.warn("Docker engine does not answer: probes are not recorded (a gap)")
            self.save("running")
            dropped = "engine down"
        elif self.recovering_until is not None and now < self.recovering_until:
            dropped = self.recovering_why
        if dropped is not None:
            # the failures just before the engine stopped answering were its outage too (a
            # stopping engine kills the containers first, while it still answers a ping)
            self.result.dropped += len(self.held) if dropped == "engine down" else 0
            if dropped == "engine down":
                self.held.clear()
            self.result.dropped += 1
            if self.clock() - self.last_beat >= self.settings.batch_seconds:
                self.recorder.beat()  # no samples come: keep the heartbeat fresh
                self.last_beat = self.clock()
            return None, dropped
        hold = self.settings.wall(self.settings.failure_hold)
        if not sample.ok and hold > 0 and not is_drift(sample):
            self.held.append(sample)
            self.release_held(now - hold)
            return None, None
        self.release_held(None)
        self._record(sample)
        return sample, None

    def _record(self, sample: Sample) -> None:
        assert self.result is not None and self.recorder is not None
        self.recorder.add(sample)
        self.probes.append(sample)
        self.result.probes += 1

    def release_held(self, before: float | None) -> None:
        """Record the held failed probes taken before ``before`` (None: all of them)."""
        while self.held and (before is None or self.held[0].t <= before):
            self._record(self.held.pop(0))

    def routed(self, sample: RoutedSample, now: float) -> Sample:
        """The sample to store: failed with ``"drift: …"`` when another release answered it,
        twice — the second look follows a fresh read of the stage, so a switch (a deploy, a
        rollback) that the monitor has not seen yet is a new soak, not drift."""
        if self.route is None:
            return sample.plain()
        problem = self.route(sample, self.target)
        if problem is None:
            return sample.plain()
        if self.engine_tick(now) is not None or self.finished:
            return sample.plain()
        self.sleep(self.settings.wall(self.settings.confirm_delay))
        again = self.probe(self.clock())
        if not isinstance(again, RoutedSample):
            return again
        problem = self.route(again, self.target)
        if problem is None:
            return again.plain()
        if not self.drift_judged:
            self.warn(f"drift on {self.stage}: {problem}")
        return again.plain(DRIFT + problem)

    def scrape_tick(self) -> None:
        assert self.scrape is not None
        text = self.scrape()
        if text is None:
            self.metrics_misses += 1
            if self.metrics_misses >= 3:
                self.scrape = None  # the service has no /metrics: stop asking
            return
        self.metrics_misses = 0
        requests, errors = traffic_counters(text, self.skip_paths)
        last = self._counter_last
        self._counter_last = (requests, errors)
        if last is None:
            self.traffic.setdefault("requests", 0.0)
            self.traffic.setdefault("errors_5xx", 0.0)
            return
        # counters only grow; a drop means the service restarted: count from zero
        self.traffic["requests"] = self.traffic.get("requests", 0.0) + (
            requests - last[0] if requests >= last[0] else requests
        )
        self.traffic["errors_5xx"] = self.traffic.get("errors_5xx", 0.0) + (
            errors - last[1] if errors >= last[1] else errors
        )
        self.traffic["scraped_at"] = self.clock()

    def judge(self) -> tuple[Verdict, float]:
        """Judge the soak now and record its state; (verdict, seconds it took)."""
        assert self.result is not None and self.recorder is not None
        started = time.perf_counter()
        self.recorder.flush()
        soak = self.soak
        verdict = judge_soak(
            self.probes,
            self.engines,
            self.baseline_latencies,
            self.slo,
            now=self.clock(),
            started_at=soak.started_at,
        )
        self.recorder.record_state(verdict.state)
        self.last_beat = self.clock()
        self.result.verdict = verdict
        if verdict.state != self.last_state:
            why = f": {verdict.reasons[0]}" if verdict.reasons else ""
            self.warn(f"verdict {self.last_state} → {verdict.state}{why}")
            self.last_state = verdict.state
        self.save("running")
        return verdict, time.perf_counter() - started

    def act(self, verdict: Verdict) -> str | None:
        """Apply the policy to a breach; a reason to stop, or None."""
        assert self.result is not None and self.recorder is not None
        if verdict.state != BREACHED:
            self.breach_reported = False
            return None
        if self.policy == "alert":
            if not self.breach_reported:
                self.breach_reported = True
                self.ledger(
                    "soak",
                    actor=ACTOR,
                    stage=self.stage,
                    to_release=self.soak.release,
                    data=_breach_data(verdict, "alert"),
                )
            return None
        reason = "soak breached: " + "; ".join(verdict.reasons[:3])
        self.warn(f"policy rollback: {reason}")
        self.recorder.flush()
        try:
            outcome = self.rollback_action(reason, verdict)
        except SoakgateError as exc:
            because = f"breached; rollback failed: {exc.message}"
            self.ledger(
                "soak",
                actor=ACTOR,
                stage=self.stage,
                to_release=self.soak.release,
                data={**_breach_data(verdict, "rollback"), "rollback_error": exc.message},
            )
            self.recorder.finish(state=BREACHED, because=because)
            self.finished = True
            self.result.stopped_because = because
            self.save("stopped", because)
            self.warn(because)
            raise
        self.result.rollback = outcome
        self.ledger(
            "soak",
            actor=ACTOR,
            stage=self.stage,
            from_release=outcome.get("from_release") or self.soak.release,
            to_release=outcome.get("to_release"),
            data={**_breach_data(verdict, "rollback"), "rollback": outcome},
        )
        to = outcome.get("to_release") or self.target.baseline or "the warm slot"
        because = f"rolled back to {to}: {reason}"
        self.recorder.finish(state=BREACHED, because=because)
        self.finished = True
        self.result.stopped_because = because
        self.save("stopped", because)
        self.warn(because)
        return because


def _breach_data(verdict: Verdict, policy: str) -> dict[str, Any]:
    return {
        "verdict": verdict.state,
        "policy": policy,
        "reasons": list(verdict.reasons),
        "rows": [
            {"name": r.name, "measured": r.measured, "threshold": r.threshold, "ok": r.ok}
            for r in verdict.slo_rows
            if r.ok is not None
        ],
        "observed_seconds": round(verdict.observed_seconds, 3),
        "probes": verdict.probes,
    }


# --- the policy's rollback -------------------------------------------------------------------


def policy_rollback(project: Project, stage: str) -> RollbackAction:
    """The rollback the policy runs: :func:`soakgate.app.rollback.emergency_rollback` — under
    the stage lock, planned under it, the warm slot probed before the flip, a quarantined warm
    release refused (RollbackFailed) — which records its own "rollback" ledger event; the
    monitor adds a "soak" event with the verdict."""

    def act(reason: str, verdict: Verdict) -> dict[str, Any]:
        from soakgate.app.rollback import emergency_rollback  # the CLI's status needs none

        result = emergency_rollback(project, stage, reason=reason, actor=ACTOR)
        outcome: dict[str, Any] = dict(result.as_dict())
        outcome.update(
            from_release=getattr(result.plan, "from_release", None),
            to_release=getattr(result.plan, "to_release", None),
        )
        return outcome

    return act


# --- the use cases -----------------------------------------------------------------------------


def run_monitor(
    project: Project,
    stage: str,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], object] | None = None,
    probe: Callable[[float], Sample] | None = None,
    scrape: Callable[[], str | None] | None = None,
    engine_reader: EngineReader | None = None,
    locate: Callable[[], StageTarget] | None = None,
    until: float | None = None,
    max_samples: int | None = None,
    on_tick: Callable[[Tick], None] | None = None,
    policy: str | None = None,
    rollback: RollbackAction | None = None,
    route: Callable[[RoutedSample, StageTarget], str | None] | None = None,
    settings: MonitorSettings | None = None,
    stop: threading.Event | None = None,
    warn: Callable[[str], None] = lambda message: None,
) -> MonitorResult:
    """Soak ``stage`` until ``until`` (a ``clock()`` time), ``max_samples`` probes, or ``stop``.

    Every adapter is injectable (a week runs in seconds with a fake clock, probe and engine);
    the defaults are the real ones: :class:`HttpProbe` through the stage's proxy,
    :class:`~soakgate.adapters.docker.stats.EngineStats`, the engine's slot table.

        run_monitor(project, "staging", until=time.time() + 60, policy="alert")
    """
    check_stage(stage)
    slo = project.config.slo
    settings = settings or MonitorSettings.for_slo(slo)
    stop = stop or threading.Event()
    store = SoakStore.open(project.state)
    closers: list[Callable[[], None]] = [store.close]
    try:
        chosen = resolve_policy(project.state, stage, project.config, store, policy)
        locate = locate or stage_locator(project, stage)
        on_hosts = stage_engine(project, stage) if probe is None else None
        if isinstance(on_hosts, HostsEngine):
            probe, found_scrape, close_probe, found_route, hosts_reader = hosts_adapters(
                project, stage, on_hosts, settings.timeout(slo), bool(settings.metrics_every)
            )
            closers += [close_probe, getattr(hosts_reader, "close", lambda: None)]
            scrape = scrape or found_scrape
            route = route or found_route
            engine_reader = engine_reader or hosts_reader
        if probe is None:
            target = locate()
            base = target.url or f"http://127.0.0.1:{project.config.stages[stage].port}"
            from soakgate.adapters.soak.probe import HttpProbe

            http = HttpProbe(
                base + project.config.service.health_path,
                settings.timeout(slo),
                base + "/metrics" if settings.metrics_every else None,
            )
            closers.append(http.close)
            probe = http
            scrape = scrape or http.scrape
            if route is None:
                route = RouteCheck(stage_engine(project, stage).address, clock)
        if engine_reader is None:
            from soakgate.adapters.docker.stats import EngineStats

            stats = EngineStats()
            closers.append(stats.close)
            engine_reader = stats
        ledger = LedgerStore.open(project.state)
        closers.append(ledger.close)
        monitor = _Monitor(
            stage,
            project.state,
            slo,
            settings,
            store=store,
            locate=locate,
            probe=probe,
            scrape=scrape,
            engine=engine_reader,
            clock=clock,
            sleep=sleep or stop.wait,
            stop=stop,
            policy=chosen,
            rollback=rollback or policy_rollback(project, stage),
            ledger=ledger.append,
            warn=warn,
            skip_paths=(project.config.service.health_path, "/metrics"),
            route=route,
        )
        return monitor.run(until, max_samples, on_tick)
    finally:
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                close()
