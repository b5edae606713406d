"""Performance comparison: the candidate release against the release running in the target
stage, as two temporary containers side by side (one internal network, the same limits), the
same bounded load on each, interleaved so that drift and bursts of the host hit both alike.

    document = compare_releases("sha256:base…", "sha256:cand…", workload=config.service.workload)
    document["candidate"]["p95"]        # ms; core.evidence.parse_bench reads the document
    document["changes"]["p95_increase"] # {"estimate": 1.2, "low": -0.9, "high": 3.4} percent

The load is the service's workload (``[[service.workload]]``: path, method, body, weight and
the status a good answer has), as one cycle in which each request appears ``weight`` times,
spread evenly (:func:`weighted_cycle`). Method (the default :class:`PerfPlan`): one keep-alive
connection per container, closed loop; every request of the cycle goes to one container and
then to the other, the order flipping every cycle, for ``seconds`` of measured load after a
warm-up. This is the finest interleaving there is: a burst of other work on the host (tens of
ms) hits both sides alike. Measured here under a load average of 3 to 5 from other jobs, it
kept same-code differences within ±3 % where 5-second rounds, or even alternating whole
cycles, let them reach 8 to 10 %. Throughput is good answers per second of the time spent
waiting on that side; p50/p95 and the raw samples are client-side latencies of good answers in
ms. Both containers get ``PYTHONHASHSEED=0``, so hash randomisation (a few % between two
processes of the same code) is not one of the differences.

Noise as noise: each figure's change comes with a confidence interval (90 % two-sided, a paired
moving-block bootstrap over the cycles, see ``core.evidence.compare_cycles``), and the gate
passes only when the whole interval is within its limit, fails only when the whole interval
is beyond it. While the interval straddles ``plan.limit``, the same containers measure another
round of ``extra_seconds`` (at most ``extra_rounds``, none that would end after
``max_seconds``), and the rounds are pooled: the interval narrows with more data and a real
regression stays where it is. What is still inconclusive then is written down as such.

``SAMPLE_WORKLOAD`` is the sample service's mix: 8 light requests (a pydantic round trip), one
medium (asyncio fan-out) and one heavy (pure-Python primes), so p50 lands inside the light
class and p95 inside the heavy one: each percentile then sits where samples are dense, which
keeps it steady between runs. The mix averages about 7 ms a request, so the smallest planted
regression (``SERVICE_DELAY_MS=1``) is about +15 %; ``bench/perf_gate.py`` measures the noise
(same code) and the detection of a 5 % slowdown.
"""

from __future__ import annotations

import contextlib
import http.client
import math
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import docker.errors

from soakgate.adapters.docker import engine as docker_engine
from soakgate.adapters.evidence.tests import LABELS
from soakgate.adapters.images.interpreter_info import build_of
from soakgate.adapters.stage.engine import hardening
from soakgate.adapters.state.evidence import CollectFailed
from soakgate.core.config import WorkloadRequest
from soakgate.core.evidence import (
    BENCH_CONFIDENCE,
    INCONCLUSIVE,
    BenchComparison,
    compare_cycles,
)
from soakgate.core.interpreter_build import comparison_note
from soakgate.core.stats import percentile
from soakgate.errors import SoakgateError

SAMPLE_WORKLOAD = (
    WorkloadRequest("/work/pydantic?items=400", weight=8),  # ~3 ms on Python 3.14 here
    WorkloadRequest("/work/fanout?tasks=2000"),
    WorkloadRequest("/work/cpu?n=30000"),  # ~20 ms
)
SIDES = ("baseline", "candidate")


@dataclass(frozen=True)
class PerfPlan:
    """How the comparison runs; the defaults take about 45 s on a 2-core machine when the
    first round decides, at most ``max_seconds`` (plus start-up) when it does not."""

    seconds: float = 40.0  # measured load of the first round, both sides together
    extra_rounds: int = 2  # more rounds while the verdict at ``limit`` is inconclusive
    extra_seconds: float = 20.0  # measured load of each extra round
    max_seconds: float = 110.0  # no extra round that would end later than this after the start
    limit: float = 5.0  # percent: the gate's limit the rounds are judged against
    confidence: float = BENCH_CONFIDENCE
    resamples: int = 1000  # bootstrap resamples per interval
    warmup_seconds: float = 2.0
    cpus: float = 1.0
    memory_mb: int = 256
    health_timeout: float = 60.0
    request_timeout: float = 10.0
    max_error_rate: float = 0.01  # more failed requests than this fails the comparison


def plan_with_first_round(seconds: float, limit: float) -> PerfPlan:
    """The default plan with a first round of ``seconds``: a shorter one gets the extra rounds
    that keep the most it may pool (and its time allowance) at least the default's, so a
    close call is still measured as long before it is left inconclusive."""
    default = PerfPlan()
    missing = max(0.0, default.seconds - seconds)
    extra = default.extra_rounds + math.ceil(missing / default.extra_seconds)
    slack = default.max_seconds - default.seconds - default.extra_rounds * default.extra_seconds
    return PerfPlan(
        seconds=seconds,
        extra_rounds=extra,
        max_seconds=seconds + extra * default.extra_seconds + slack,
        limit=limit,
    )


@dataclass
class SideStats:
    """Raw results of one side."""

    release: str
    samples: list[float] = field(default_factory=list)  # ms, good answers
    errors: int = 0
    busy_seconds: float = 0.0
    first_errors: list[str] = field(default_factory=list)
    cycles: list[tuple[list[float], float]] = field(default_factory=list)  # (good ms, busy ms)
    # the same cycles by request kind ("GET /path"): kind -> (good ms, busy ms)
    kind_cycles: list[dict[str, tuple[list[float], float]]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The side as ``core.evidence.parse_bench`` reads it (plus counts)."""
        p50, p95 = percentiles(self.samples)
        return {
            "release": self.release,
            "throughput": round(len(self.samples) / self.busy_seconds, 3)
            if self.busy_seconds
            else 0.0,
            "p50": round(p50, 3),
            "p95": round(p95, 3),
            "requests": len(self.samples) + self.errors,
            "errors": self.errors,
            "samples": [round(sample, 3) for sample in self.samples],
        }


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    """(p50, p95) with linear interpolation between order statistics (inclusive method)."""
    if len(samples) < 2:
        raise CollectFailed("too few successful requests to measure latency")
    ordered = sorted(samples)
    return percentile(ordered, 50), percentile(ordered, 95)


def weighted_cycle(workload: Iterable[WorkloadRequest]) -> tuple[WorkloadRequest, ...]:
    """One cycle of the load: each request ``weight`` times, spread evenly (smooth weighted
    round robin, as nginx spreads upstream weights): weights 8, 1, 1 give
    ``L L L M L L H L L L``, never the heavy ones in a row."""
    requests = list(workload)
    if not requests:
        raise CollectFailed("no workload: give [[service.workload]] at least one request")
    for request in requests:
        if request.weight < 1:
            raise CollectFailed(f"workload {request.path}: weight should be ≥ 1")
    total = sum(request.weight for request in requests)
    current = [0] * len(requests)
    cycle = []
    for _ in range(total):
        for index, request in enumerate(requests):
            current[index] += request.weight
        chosen = max(range(len(requests)), key=current.__getitem__)
        current[chosen] -= total
        cycle.append(requests[chosen])
    return tuple(cycle)


def run_kwargs(
    image: str,
    name: str,
    network: str,
    plan: PerfPlan,
    port: int,
    environment: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Docker SDK ``containers.run`` arguments: hardened like a stage's app container, with
    the same limits on both sides and no log driver (logging every request costs the engine
    CPU that would blur the measurement); ``environment`` adds to the container's."""
    return {
        "image": image,
        "name": name,
        "detach": True,
        "network": network,
        "environment": {
            "PORT": str(port),
            "SOAKGATE_RELEASE": image,
            "PYTHONHASHSEED": "0",
            **(environment or {}),
        },
        **hardening(plan.memory_mb, plan.cpus),
        "log_config": {"Type": "none", "Config": {}},
        "labels": LABELS,
    }


class Target:
    """One container reached over a keep-alive connection."""

    def __init__(self, host: str, port: int, timeout: float, stats: SideStats) -> None:
        self.host, self.port, self.timeout, self.stats = host, port, timeout, stats
        self.connection: http.client.HTTPConnection | None = None

    def get(self, request: WorkloadRequest) -> tuple[int, float]:
        """(status or 0 on a connection error, latency in ms)."""
        body = request.body.encode() if request.body else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        started = time.perf_counter()
        try:
            if self.connection is None:
                self.connection = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout
                )
            self.connection.request(request.method, request.path, body=body, headers=headers)
            response = self.connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            self._error(f"{request.method} {request.path}: {type(exc).__name__}")
            return 0, (time.perf_counter() - started) * 1000
        return status, (time.perf_counter() - started) * 1000

    def _error(self, text: str) -> None:
        self.stats.errors += 1
        if len(self.stats.first_errors) < 5:
            self.stats.first_errors.append(text)

    def start_cycle(self) -> None:
        self.stats.cycles.append(([], 0.0))
        self.stats.kind_cycles.append({})

    def send(self, request: WorkloadRequest, record: bool) -> None:
        """One request; when ``record``, its time counts, and its latency if the answer is the
        expected status (else it is an error), in the totals and in the current cycle."""
        status, latency = self.get(request)
        if not record:
            return
        latencies, busy = self.stats.cycles[-1]
        self.stats.cycles[-1] = (latencies, busy + latency)
        kinds = self.stats.kind_cycles[-1]
        kind = f"{request.method} {request.path}"
        kind_latencies, kind_busy = kinds.get(kind, ([], 0.0))
        kinds[kind] = (kind_latencies, kind_busy + latency)
        self.stats.busy_seconds += latency / 1000
        if status == request.status:
            self.stats.samples.append(latency)
            latencies.append(latency)
            kind_latencies.append(latency)
        elif status:
            self._error(f"{request.method} {request.path}: HTTP {status}")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def drive(
    targets: Sequence[Target], cycle: Sequence[WorkloadRequest], seconds: float, record: bool
) -> int:
    """The interleaved load for ``seconds``: each request of the cycle goes to both targets in
    turn, the order flipping every cycle, so a burst of other work on the host hits both sides
    alike. Whole cycles only (both sides always count the same); returns how many ran."""
    deadline = time.monotonic() + seconds
    index = 0
    while time.monotonic() < deadline:
        order = targets if index % 2 == 0 else list(reversed(targets))
        if record:
            for target in targets:
                target.start_cycle()
        for request in cycle:
            for target in order:
                target.send(request, record)
        index += 1
    return index


def check_errors(stats: Sequence[SideStats], plan: PerfPlan) -> None:
    """CollectFailed when a side failed more than ``plan.max_error_rate`` of its requests."""
    for side, side_stats in zip(SIDES, stats, strict=True):
        total = len(side_stats.samples) + side_stats.errors
        if not total or side_stats.errors / total > plan.max_error_rate:
            raise CollectFailed(
                f"{side} failed {side_stats.errors} of {total} requests"
                f" ({', '.join(side_stats.first_errors) or 'none answered'});"
                " [[service.workload]] in soakgate.toml names the requests and the status"
                " a good answer has"
            )


def judge(stats: Sequence[SideStats], rounds: Sequence[int], plan: PerfPlan) -> BenchComparison:
    """The pooled comparison of all rounds so far, with its intervals."""
    return compare_cycles(
        stats[0].cycles,
        stats[1].cycles,
        rounds,
        releases=(stats[0].release, stats[1].release),
        confidence=plan.confidence,
        resamples=plan.resamples,
    )


def measure(
    targets: Sequence[Target], cycle: Sequence[WorkloadRequest], plan: PerfPlan
) -> tuple[BenchComparison, list[int]]:
    """Warm-up, the first round, then extra rounds while the verdict is inconclusive and time
    allows; (pooled comparison, cycles of each round)."""
    started = time.monotonic()
    stats = [target.stats for target in targets]
    drive(targets, cycle, plan.warmup_seconds, record=False)
    rounds = [drive(targets, cycle, plan.seconds, record=True)]
    check_errors(stats, plan)
    comparison = judge(stats, rounds, plan)
    while (
        comparison.verdict(plan.limit) == INCONCLUSIVE
        and len(rounds) <= plan.extra_rounds
        and time.monotonic() - started + plan.extra_seconds <= plan.max_seconds
    ):
        rounds.append(drive(targets, cycle, plan.extra_seconds, record=True))
        check_errors(stats, plan)
        comparison = judge(stats, rounds, plan)
    return comparison, rounds


def address(container: Any, network: str) -> str:
    container.reload()
    return str(container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"])


def wait_healthy(
    container: Any,
    host: str,
    port: int,
    path: str,
    timeout: float,
    *,
    started: float | None = None,
    interval: float = 0.2,
) -> float:
    """Seconds from ``started`` (default: now) to the first 200 on ``path``, polled every
    ``interval``; whether the container died is asked of the engine about twice a second
    (CollectFailed when it did, or when ``timeout`` passes first)."""
    started = time.monotonic() if started is None else started
    deadline = started + timeout
    check_every = max(1, round(0.5 / interval))
    polls = 0
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException):
            connection = http.client.HTTPConnection(host, port, timeout=2)
            try:
                connection.request("GET", path)
                if connection.getresponse().status == 200:
                    return time.monotonic() - started
            finally:
                connection.close()
        polls += 1
        if polls % check_every == 0:
            container.reload()
            if container.status not in ("created", "running"):
                state = container.attrs.get("State", {})
                raise CollectFailed(
                    f"{container.name} exited (code {state.get('ExitCode')},"
                    f" OOM killed: {state.get('OOMKilled')}) before {path} answered"
                )
        time.sleep(interval)
    raise CollectFailed(f"{container.name}: {path} did not answer 200 within {timeout:.0f} s")


def interpreters(baseline: str, candidate: str) -> dict[str, str | None]:
    """Both images' interpreter builds side by side, and "not like with like" when they differ
    (a gap measured across differently built interpreters is partly the build's). An image
    whose interpreter cannot be read says so; the comparison itself stands."""
    try:
        old, new = build_of(baseline), build_of(candidate)
    except SoakgateError as exc:
        return {"baseline": None, "candidate": None, "note": f"interpreters not read: {exc}"}
    return {
        "baseline": old.summary(),
        "candidate": new.summary(),
        "note": comparison_note(old, new),
    }


def compare_releases(
    baseline: str,
    candidate: str,
    *,
    port: int = 8000,
    health_path: str = "/health",
    plan: PerfPlan | None = None,
    namespace: str = "",
    workload: Sequence[WorkloadRequest] = (),
) -> dict[str, Any]:
    """Benchmark ``candidate`` against ``baseline`` (image digests or tags) under ``workload``
    (default: one GET of ``health_path``); return the bench document. Containers and network
    are removed afterwards, even on failure."""
    plan = plan or PerfPlan()
    workload = tuple(workload) or (WorkloadRequest(health_path),)
    cycle = weighted_cycle(workload)
    client = docker_engine.client()
    for image in (baseline, candidate):
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            raise CollectFailed(f"image {image} is not on this Docker host") from None
    prefix = f"{namespace}-" if namespace else ""
    run_id = uuid.uuid4().hex[:8]
    network = None
    containers: list[Any] = []
    started = time.monotonic()
    try:
        network = client.networks.create(
            f"{prefix}soakgate-perf-{run_id}", driver="bridge", internal=True, labels=LABELS
        )
        for side, image in zip(SIDES, (baseline, candidate), strict=True):
            name = f"{prefix}soakgate-perf-{run_id}-{side}"
            containers.append(
                client.containers.run(**run_kwargs(image, name, network.name, plan, port))
            )
        stats = [SideStats(baseline), SideStats(candidate)]
        targets = []
        for container, side_stats in zip(containers, stats, strict=True):
            host = address(container, network.name)
            wait_healthy(container, host, port, health_path, plan.health_timeout)
            targets.append(Target(host, port, plan.request_timeout, side_stats))
        try:
            comparison, rounds = measure(targets, cycle, plan)
        finally:
            for target in targets:
                target.close()
        return {
            "baseline": stats[0].summary(),
            "candidate": stats[1].summary(),
            "changes": comparison.changes(),
            "interpreters": interpreters(baseline, candidate),
            "method": {
                "plan": asdict(plan),
                "workload": [asdict(request) for request in workload],
                "cycle": [request.path for request in cycle],
                "interleaving": "per request, order flipping every cycle",
                "intervals": "paired moving-block bootstrap over cycles, stratified by round",
                "verdict": comparison.verdict(plan.limit),
                "rounds": len(rounds),
                "connections": 1,
                "seconds": round(time.monotonic() - started, 1),
            },
        }
    except docker.errors.APIError as exc:
        raise CollectFailed(f"cannot run the benchmark containers: {exc.explanation}") from exc
    finally:
        for container in containers:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
        if network is not None:
            with contextlib.suppress(docker.errors.APIError):
                network.remove()
