"""Performance comparison: the candidate release against the release running in the target
stage, as two temporary containers side by side (one internal network, the same limits), the
same bounded load on each, interleaved so that drift and bursts of the host hit both alike.

    document = compare_releases("sha256:base…", "sha256:cand…")
    document["candidate"]["p95"]        # ms; core.evidence.parse_bench reads the document

Method (the default :class:`PerfPlan`): one keep-alive connection per container, closed loop.
The load is a fixed cycle of requests on the work endpoints; every request of the cycle goes
to one container and then to the other, the order flipping every cycle, for ``seconds`` of
measured load after a warm-up. This is the finest interleaving there is: a burst of other work
on the host (tens of ms) hits both sides alike. Measured here under a load average of 3 to 5 from
other jobs, it kept same-code differences within ±3 % where 5-second rounds, or even
alternating whole cycles, let them reach 8 to 10 %. Throughput is successful requests per second
of the time spent waiting on that side; p50/p95 and the raw samples are client-side latencies
of successful requests in ms.

The cycle is 8 light requests (a pydantic round trip), one medium (asyncio fan-out) and one
heavy (pure-Python primes), so p50 lands inside the light class and p95 inside the heavy one:
each percentile then sits where samples are dense, which keeps it steady between runs. The mix
averages about 7 ms a request, so the smallest planted regression (``SERVICE_DELAY_MS=1``) is
about +15 %; ``bench/perf_gate.py`` measures the noise (same code) and that detection.
"""

from __future__ import annotations

import contextlib
import http.client
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import docker.errors

from soakgate.adapters.docker import engine as docker_engine
from soakgate.adapters.evidence.tests import LABELS
from soakgate.adapters.stage.engine import hardening
from soakgate.adapters.state.evidence import CollectFailed
from soakgate.core.stats import percentile

LIGHT = "/work/pydantic?items=400"  # ~3 ms on Python 3.14 here
DEFAULT_CYCLE = (
    LIGHT,
    LIGHT,
    LIGHT,
    LIGHT,
    "/work/fanout?tasks=2000",
    LIGHT,
    LIGHT,
    LIGHT,
    LIGHT,
    "/work/cpu?n=30000",  # ~20 ms
)
SIDES = ("baseline", "candidate")


@dataclass(frozen=True)
class PerfPlan:
    """How the comparison runs; the defaults take about 53 s on a 2-core machine."""

    cycle: tuple[str, ...] = DEFAULT_CYCLE
    seconds: float = 48.0  # measured load, both sides together
    warmup_seconds: float = 2.0
    cpus: float = 1.0
    memory_mb: int = 256
    health_timeout: float = 60.0
    request_timeout: float = 10.0
    max_error_rate: float = 0.01  # more failed requests than this fails the comparison


@dataclass
class SideStats:
    """Raw results of one side."""

    release: str
    samples: list[float] = field(default_factory=list)  # ms, successful requests
    errors: int = 0
    busy_seconds: float = 0.0
    first_errors: list[str] = field(default_factory=list)

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


def run_kwargs(image: str, name: str, network: str, plan: PerfPlan, port: int) -> dict[str, Any]:
    """Docker SDK ``containers.run`` arguments: hardened like a stage's app container, with
    the same limits on both sides and no log driver (logging every request costs the engine
    CPU that would blur the measurement)."""
    return {
        "image": image,
        "name": name,
        "detach": True,
        "network": network,
        "environment": {"PORT": str(port), "SOAKGATE_RELEASE": image},
        **hardening(plan.memory_mb, plan.cpus),
        "log_config": {"Type": "none", "Config": {}},
        "labels": LABELS,
    }


class _Target:
    """One container reached over a keep-alive connection."""

    def __init__(self, host: str, port: int, timeout: float, stats: SideStats) -> None:
        self.host, self.port, self.timeout, self.stats = host, port, timeout, stats
        self.connection: http.client.HTTPConnection | None = None

    def get(self, path: str) -> tuple[int, float]:
        """(status or 0 on a connection error, latency in ms)."""
        started = time.perf_counter()
        try:
            if self.connection is None:
                self.connection = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout
                )
            self.connection.request("GET", path)
            response = self.connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            self._error(f"{path}: {type(exc).__name__}")
            return 0, (time.perf_counter() - started) * 1000
        return status, (time.perf_counter() - started) * 1000

    def _error(self, text: str) -> None:
        self.stats.errors += 1
        if len(self.stats.first_errors) < 5:
            self.stats.first_errors.append(text)

    def send(self, path: str, record: bool) -> None:
        """One request; when ``record``, its latency (if 2xx) and its time count."""
        status, latency = self.get(path)
        if not record:
            return
        self.stats.busy_seconds += latency / 1000
        if 200 <= status < 300:
            self.stats.samples.append(latency)
        elif status:
            self._error(f"{path}: HTTP {status}")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def drive(targets: Sequence[_Target], plan: PerfPlan) -> None:
    """The interleaved load: each request of the cycle goes to both targets in turn, the order
    flipping every cycle, so a burst of other work on the host hits both sides alike."""
    for seconds, record in ((plan.warmup_seconds, False), (plan.seconds, True)):
        deadline = time.monotonic() + seconds
        index = 0
        while time.monotonic() < deadline:
            order = targets if index % 2 == 0 else list(reversed(targets))
            for path in plan.cycle:
                for target in order:
                    target.send(path, record)
            index += 1


def _address(container: Any, network: str) -> str:
    container.reload()
    return str(container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"])


def _wait_healthy(container: Any, host: str, port: int, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        if container.status not in ("created", "running"):
            state = container.attrs.get("State", {})
            raise CollectFailed(
                f"{container.name} exited (code {state.get('ExitCode')},"
                f" OOM killed: {state.get('OOMKilled')}) before {path} answered"
            )
        with contextlib.suppress(OSError, http.client.HTTPException):
            connection = http.client.HTTPConnection(host, port, timeout=2)
            try:
                connection.request("GET", path)
                if connection.getresponse().status == 200:
                    return
            finally:
                connection.close()
        time.sleep(0.2)
    raise CollectFailed(f"{container.name}: {path} did not answer 200 within {timeout:.0f} s")


def compare_releases(
    baseline: str,
    candidate: str,
    *,
    port: int = 8000,
    health_path: str = "/health",
    plan: PerfPlan | None = None,
    namespace: str = "",
) -> dict[str, Any]:
    """Benchmark ``candidate`` against ``baseline`` (image digests or tags); return the bench
    document. Containers and network are removed afterwards, even on failure."""
    plan = plan or PerfPlan()
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
            host = _address(container, network.name)
            _wait_healthy(container, host, port, health_path, plan.health_timeout)
            targets.append(_Target(host, port, plan.request_timeout, side_stats))
        try:
            drive(targets, plan)
        finally:
            for target in targets:
                target.close()
        for side, side_stats in zip(SIDES, stats, strict=True):
            total = len(side_stats.samples) + side_stats.errors
            if not total or side_stats.errors / total > plan.max_error_rate:
                raise CollectFailed(
                    f"{side} failed {side_stats.errors} of {total} requests"
                    f" ({', '.join(side_stats.first_errors) or 'none answered'})"
                )
        return {
            "baseline": stats[0].summary(),
            "candidate": stats[1].summary(),
            "method": {
                "plan": {**asdict(plan), "cycle": list(plan.cycle)},
                "interleaving": "per request, order flipping every cycle",
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
