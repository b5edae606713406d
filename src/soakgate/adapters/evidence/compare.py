"""Two releases side by side on this host: start-up, memory idle and under load, throughput and
latency per request kind, image size; the same engine as the performance gate
(``adapters.evidence.perf``: one internal network, the same limits, the load interleaved per
request with the order flipping every cycle).

    side_a = Side("sha256:a…", "3.12")
    side_b = Side("sha256:b…", "3.14 + JIT", {"PYTHON_JIT": "1"})
    result = compare_images(side_a, side_b, workload=config.service.workload)
    result.overall()      # core.compare: "faster", "slower", "no difference", "inconclusive"

Start-up is timed from the engine's create call to the first 200 on the health path, ``starts``
times per side, alternating which side starts first; memory is the container's working set
(as ``docker stats`` counts it), read a few times idle after start-up and every half second
under load. The load runs in rounds until the headline verdict is no longer inconclusive or
the time is up. Containers and network are removed afterwards, even on failure or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import docker.errors

from soakgate.adapters.docker import engine as docker_engine
from soakgate.adapters.docker.stats import EngineStats
from soakgate.adapters.evidence.perf import (
    PerfPlan,
    SideStats,
    Target,
    address,
    check_errors,
    drive,
    run_kwargs,
    wait_healthy,
    weighted_cycle,
)
from soakgate.adapters.evidence.tests import LABELS
from soakgate.adapters.state.evidence import CollectFailed
from soakgate.core.compare import (
    DEFAULT_THRESHOLD,
    INCONCLUSIVE,
    LOWER,
    Comparison,
    Figure,
    exact_figure,
    load_figures,
    repeated_figure,
)
from soakgate.core.config import WorkloadRequest

MIB = 1024 * 1024


@dataclass(frozen=True)
class Side:
    """One release as it is compared: its image, a label, and environment added to its
    container (a variant: ``PYTHON_JIT=1``, a service's own setting)."""

    image: str
    label: str
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ComparePlan:
    """How long and how often; the defaults take about a minute and a half on 2 cores."""

    seconds: float = 30.0  # measured load of the first round, both sides together
    extra_seconds: float = 20.0  # each further round while the verdict is inconclusive
    max_seconds: float = 120.0  # no round that would end later than this after the load began
    warmup_seconds: float = 3.0
    starts: int = 3  # start-up measurements per side
    memory_reads: int = 5  # idle memory readings per side
    threshold: float = DEFAULT_THRESHOLD
    confidence: float = 0.90
    resamples: int = 1000
    cpus: float = 1.0
    memory_mb: int = 512
    health_timeout: float = 60.0
    request_timeout: float = 10.0
    max_error_rate: float = 0.01

    def perf(self) -> PerfPlan:
        return PerfPlan(
            cpus=self.cpus,
            memory_mb=self.memory_mb,
            health_timeout=self.health_timeout,
            request_timeout=self.request_timeout,
            max_error_rate=self.max_error_rate,
        )


class _MemoryWatch:
    """Reads both containers' memory every ``interval`` seconds in a daemon thread."""

    def __init__(self, reader: EngineStats, names: Sequence[str], interval: float = 0.5) -> None:
        self.reader, self.names, self.interval = reader, names, interval
        self.readings: list[list[float]] = [[] for _ in names]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            for index, name in enumerate(self.names):
                sample = self.reader.read(name, t=time.time())
                if sample is not None and sample.memory_bytes > 0:
                    self.readings[index].append(sample.memory_bytes / MIB)

    def __enter__(self) -> _MemoryWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def _idle_memory(reader: EngineStats, names: Sequence[str], reads: int) -> list[list[float]]:
    readings: list[list[float]] = [[] for _ in names]
    for _ in range(reads):
        time.sleep(0.2)
        for index, name in enumerate(names):
            sample = reader.read(name, t=time.time())
            if sample is not None and sample.memory_bytes > 0:
                readings[index].append(sample.memory_bytes / MIB)
    return readings


def compare_images(
    a: Side,
    b: Side,
    *,
    port: int = 8000,
    health_path: str = "/health",
    workload: Sequence[WorkloadRequest] = (),
    plan: ComparePlan | None = None,
    namespace: str = "",
    notes: Sequence[str] = (),
) -> Comparison:
    """Measure ``b`` against ``a``; see the module docstring."""
    plan = plan or ComparePlan()
    perf = plan.perf()
    workload = tuple(workload) or (WorkloadRequest(health_path),)
    cycle = weighted_cycle(workload)
    client = docker_engine.client()
    sizes = []
    for side in (a, b):
        try:
            sizes.append(float(client.images.get(side.image).attrs["Size"]) / 1e6)
        except docker.errors.ImageNotFound:
            raise CollectFailed(f"image {side.image} is not on this Docker host") from None
    prefix = f"{namespace}-" if namespace else ""
    run_id = uuid.uuid4().hex[:8]
    network = None
    running: dict[str, Any] = {}
    reader = EngineStats()
    began = time.monotonic()
    try:
        network = client.networks.create(
            f"{prefix}soakgate-compare-{run_id}", driver="bridge", internal=True, labels=LABELS
        )
        startups: list[list[float]] = [[], []]
        hosts, names = ["", ""], ["", ""]  # of the containers that stay: the last turn's
        for turn in range(plan.starts):
            order = (0, 1) if turn % 2 == 0 else (1, 0)
            for index in order:
                side = (a, b)[index]
                name = f"{prefix}soakgate-compare-{run_id}-{'ab'[index]}{turn}"
                started = time.monotonic()
                container = client.containers.run(
                    **run_kwargs(side.image, name, network.name, perf, port, side.environment)
                )
                running[name] = container
                host = address(container, network.name)
                startups[index].append(
                    wait_healthy(
                        container,
                        host,
                        port,
                        health_path,
                        plan.health_timeout,
                        started=started,
                        interval=0.02,
                    )
                )
                hosts[index], names[index] = host, name
                if turn < plan.starts - 1:
                    container.remove(force=True)
                    del running[name]
        idle = _idle_memory(reader, names, plan.memory_reads)
        stats = [SideStats(a.image), SideStats(b.image)]
        targets = [Target(hosts[i], port, plan.request_timeout, stats[i]) for i in (0, 1)]
        try:
            with _MemoryWatch(reader, names) as watch:
                rounds, load = _load_rounds(targets, cycle, plan, a, b, perf)
        finally:
            for target in targets:
                target.close()
        figures: list[Figure] = [
            *load,
            repeated_figure("start-up", "s", LOWER, startups[0], startups[1]),
            repeated_figure("memory idle", "MiB", LOWER, idle[0], idle[1]),
            repeated_figure("memory under load", "MiB", LOWER, *watch.readings),
            exact_figure("image size", "MB", sizes[0], sizes[1]),
        ]
        return Comparison(
            a.image,
            b.image,
            figures,
            threshold=plan.threshold,
            confidence=plan.confidence,
            labels=(a.label, b.label),
            notes=tuple(notes),
            method={
                "plan": asdict(plan),
                "environment": {"a": dict(a.environment), "b": dict(b.environment)},
                "workload": [asdict(request) for request in workload],
                "interleaving": "per request, order flipping every cycle",
                "intervals": "paired moving-block bootstrap over cycles, stratified by round;"
                " start-up and memory: bootstrap of the ratio of medians",
                "rounds": rounds,
                "requests": [s.summary()["requests"] for s in stats],
                "seconds": round(time.monotonic() - began, 1),
            },
        )
    except docker.errors.APIError as exc:
        raise CollectFailed(f"cannot run the comparison's containers: {exc.explanation}") from exc
    finally:
        reader.close()
        for container in running.values():
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
        if network is not None:
            with contextlib.suppress(docker.errors.APIError):
                network.remove()


def _load_rounds(
    targets: Sequence[Target],
    cycle: Sequence[WorkloadRequest],
    plan: ComparePlan,
    a: Side,
    b: Side,
    perf: PerfPlan,
) -> tuple[list[int], list[Figure]]:
    """Warm-up, then rounds until the headline verdict is not inconclusive or time is up."""
    stats = [target.stats for target in targets]
    drive(targets, cycle, plan.warmup_seconds, record=False)
    started = time.monotonic()
    rounds: list[int] = []
    seconds = plan.seconds
    while True:
        rounds.append(drive(targets, cycle, seconds, record=True))
        check_errors(stats, perf)
        figures = load_figures(
            stats[0].kind_cycles,
            stats[1].kind_cycles,
            rounds,
            confidence=plan.confidence,
            resamples=plan.resamples,
        )
        verdict = Comparison(a.image, b.image, figures, threshold=plan.threshold).overall()
        seconds = plan.extra_seconds
        if verdict != INCONCLUSIVE or time.monotonic() - started + seconds > plan.max_seconds:
            return rounds, figures
