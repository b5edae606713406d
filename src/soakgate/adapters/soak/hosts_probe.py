"""The soak monitor's view of a stage on several SSH hosts: every host's proxy probed at once
(one sample: ok only when every host answered ok, the slowest host's latency), who answered
checked host by host, and the engines sampled host by host.

    probe = HostsProbe({"10.0.0.21": "http://10.0.0.21:18082/health", ...}, timeout=1.6)
    sample = probe(time.time())         # HostsSample(ok=False, error="10.0.0.22: ConnectError")
    route = HostsRouteCheck({host: RouteCheck(engine.address, time.time) for ...})
    engines = HostsEngineStats({host: EngineStats(connect=io.docker) for ...})

The probes go straight to each host's proxy (it listens on the host's addresses), as users'
requests do; the engines are reached over each host's SSH connection. A host whose engine or
SSH does not answer makes the whole stage a gap in the soak, not a failure of the release.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from soakgate.adapters.docker.stats import EngineDown
from soakgate.adapters.soak.probe import HttpProbe
from soakgate.core.soak import EngineSample, RoutedSample, Sample


@dataclass(frozen=True, slots=True)
class HostsSample(RoutedSample):
    """One probe of every host's proxy; ``answers`` holds each host's own sample."""

    answers: tuple[tuple[str, Sample], ...] = ()


def combine(t: float, answers: list[tuple[str, Sample]]) -> HostsSample:
    """Every host's answer as one sample: failed when any host failed (each named), the
    slowest latency, and the slot when all hosts name the same one."""
    failed = [(host, sample) for host, sample in answers if not sample.ok]
    latencies = [s.latency_ms for _, s in answers if s.latency_ms is not None]
    slots = {getattr(sample, "slot", None) for _, sample in answers}
    first = failed[0][1] if failed else answers[0][1]
    return HostsSample(
        t,
        not failed,
        first.status,
        max(latencies) if latencies else None,
        "; ".join(f"{host}: {sample.error or 'failed'}" for host, sample in failed) or None,
        slots.pop() if len(slots) == 1 else None,
        None,
        tuple(answers),
    )


class HostsProbe:
    """One GET of the health path through every host's proxy, in parallel, each a fresh
    connection with the monitor's timeout; ``/metrics`` from the first host only."""

    def __init__(
        self, urls: Mapping[str, str], timeout: float, metrics_url: str | None = None
    ) -> None:
        if not urls:
            raise ValueError("a stage on hosts needs at least one host to probe")
        hosts = list(urls)
        self.probes = {
            host: HttpProbe(urls[host], timeout, metrics_url if host == hosts[0] else None)
            for host in hosts
        }
        self._pool = ThreadPoolExecutor(max_workers=min(8, len(hosts)))

    def __call__(self, t: float) -> Sample:
        hosts = list(self.probes)
        samples = list(self._pool.map(lambda host: self.probes[host](t), hosts))
        return combine(t, list(zip(hosts, samples, strict=True)))

    def scrape(self) -> str | None:
        return next(iter(self.probes.values())).scrape()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for probe in self.probes.values():
            probe.close()


RouteCheck = Callable[[RoutedSample, Any], str | None]


class HostsRouteCheck:
    """Who answered, host by host: the first host whose proxy routed to another slot, or
    whose answering address is not the active container's there, is named."""

    def __init__(self, checks: Mapping[str, RouteCheck]) -> None:
        self.checks = dict(checks)

    def __call__(self, sample: RoutedSample, target: Any) -> str | None:
        if not isinstance(sample, HostsSample):
            return None
        for host, answer in sample.answers:
            check = self.checks.get(host)
            if check is None or not isinstance(answer, RoutedSample):
                continue
            problem = check(answer, target)
            if problem is not None:
                return f"{host}: {problem}"
        return None


class EngineReader(Protocol):
    def ping(self) -> bool: ...

    def read(self, container: str, t: float) -> EngineSample | None: ...


class HostsEngineStats:
    """The engines of every host as one: answers a ping only when all do; a sample is the
    worst of the hosts' (the most memory and CPU, restarts added up, OOM on any, running on
    all, starting on any), so a leak or a crash loop on one host shows in the soak."""

    def __init__(self, readers: Mapping[str, EngineReader]) -> None:
        if not readers:
            raise ValueError("a stage on hosts needs at least one engine")
        self.readers = dict(readers)
        self._pool = ThreadPoolExecutor(max_workers=min(8, len(self.readers)))

    def ping(self) -> bool:
        def answers(reader: EngineReader) -> bool:
            try:
                return reader.ping()
            except Exception:  # an SSH connection that dropped: that host does not answer
                return False

        return all(self._pool.map(answers, self.readers.values()))

    def read(self, container: str, t: float) -> EngineSample | None:
        """The worst of the hosts' samples; EngineDown naming the host when one's engine (or
        SSH) does not answer."""

        def sample(host: str) -> EngineSample | None:
            try:
                return self.readers[host].read(container, t)
            except Exception as exc:
                raise EngineDown(f"{host}: {exc}") from exc

        samples = [s for s in self._pool.map(sample, list(self.readers)) if s is not None]
        if not samples:
            return None
        return EngineSample(
            t=t,
            restarts=sum(s.restarts for s in samples),
            oom_killed=any(s.oom_killed for s in samples),
            memory_bytes=max(s.memory_bytes for s in samples),
            cpu_percent=max(s.cpu_percent for s in samples),
            running=len(samples) == len(self.readers) and all(s.running for s in samples),
            starting=any(s.starting for s in samples),
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for reader in self.readers.values():
            close = getattr(reader, "close", None)
            if close is not None:
                close()
