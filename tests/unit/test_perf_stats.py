"""The performance comparison's statistics and the three-way gate: block bootstrap, paired
intervals, pass/fail/inconclusive, the bench document's ``changes``, the weighted cycle and the
bounded extra rounds (with fake targets: no Docker)."""

from __future__ import annotations

import json
import random
import statistics
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from soakgate.adapters.evidence.perf import (
    SAMPLE_WORKLOAD,
    PerfPlan,
    SideStats,
    Target,
    check_errors,
    measure,
    weighted_cycle,
)
from soakgate.adapters.state.evidence import CollectFailed
from soakgate.core.config import WorkloadRequest
from soakgate.core.evidence import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    BenchComparison,
    BenchStats,
    EvidenceError,
    compare_cycles,
    parse_bench,
)
from soakgate.core.gates import DEFAULT_THRESHOLDS, GateResult, evaluate_gates
from soakgate.core.stats import block_bootstrap, block_length, resample_blocks

BASE = BenchStats(throughput=1000.0, p50=10.0, p95=40.0, release="sha256:" + "b" * 64)
NEW = BenchStats(throughput=1000.0, p50=10.0, p95=40.0, release="sha256:" + "c" * 64)


def cycles(count: int, scale: float, seed: int) -> list[tuple[list[float], float]]:
    """Cycles of 8 light, 1 medium and 1 heavy request with lognormal noise, ``scale`` times."""
    rng = random.Random(seed)
    made = []
    for _ in range(count):
        means = [3.0] * 8 + [8.0, 20.0]
        latencies = [m * scale * rng.lognormvariate(0, 0.15) for m in means]
        made.append((latencies, sum(latencies)))
    return made


# --- the bootstrap --------------------------------------------------------------------------


def test_block_length_grows_as_the_cube_root() -> None:
    assert [block_length(n) for n in (0, 1, 8, 343, 1000)] == [1, 1, 2, 7, 10]


def test_a_resample_keeps_each_round_its_size_and_its_own_cycles() -> None:
    indices = resample_blocks([10, 5], random.Random(1))
    assert len(indices) == 15
    assert all(0 <= i < 10 for i in indices[:10]) and all(10 <= i < 15 for i in indices[10:])
    assert resample_blocks([10, 5], random.Random(1)) == indices  # seeded: reproducible


def test_block_bootstrap_covers_the_mean() -> None:
    rng = random.Random(3)
    values = [rng.gauss(100, 10) for _ in range(400)]
    ((low, high),) = block_bootstrap(
        [len(values)], lambda chosen: [statistics.fmean(values[i] for i in chosen)]
    )
    assert low < statistics.fmean(values) < high
    assert low > 98 and high < 102  # about ±1.645 standard errors (0.5) each side
    with pytest.raises(ValueError, match="confidence"):
        block_bootstrap([3], lambda _: [0.0], confidence=1.0)
    with pytest.raises(ValueError, match="units"):
        block_bootstrap([0], lambda _: [0.0])


# --- paired comparison ----------------------------------------------------------------------


def test_same_code_intervals_hold_zero_and_the_plain_ratios() -> None:
    comparison = compare_cycles(cycles(300, 1.0, 1), cycles(300, 1.0, 2), [200, 100])
    for figure in ("throughput_drop", "p50_increase", "p95_increase"):
        low, high = comparison.intervals[figure]
        # two finite samples of one distribution: near zero, well inside the 5 % limit (a 90 %
        # interval misses zero itself for about one figure in ten)
        assert -5 < low <= high < 5 and high - low < 8, (figure, low, high)
        assert low <= getattr(comparison, figure) <= high
    assert comparison.verdict(5.0) == PASS
    assert comparison.rounds == (200, 100) and comparison.confidence == 0.9
    assert len(comparison.baseline.samples) == 3000


def test_a_clear_regression_fails_and_one_at_the_limit_is_inconclusive() -> None:
    slow = compare_cycles(cycles(300, 1.0, 1), cycles(300, 1.15, 2), [300])
    assert slow.verdict(5.0) == FAIL
    assert slow.bounds("p50_increase")[0] > 5.0
    at_limit = compare_cycles(cycles(300, 1.0, 1), cycles(300, 1.05, 2), [300])
    assert at_limit.verdict(5.0) == INCONCLUSIVE


def test_paired_resampling_cancels_noise_both_sides_shared() -> None:
    """A load burst that slows both sides in the same cycles widens nothing much: the same
    cycles are drawn for both sides."""
    base, new = cycles(300, 1.0, 1), cycles(300, 1.0, 2)
    for index in range(0, 300, 30):  # every 30th cycle 3 times slower, on both sides
        for side in (base, new):
            latencies = [value * 3 for value in side[index][0]]
            side[index] = (latencies, sum(latencies))
    assert compare_cycles(base, new, [300]).verdict(5.0) == PASS


def test_compare_cycles_refuses_unpaired_input() -> None:
    with pytest.raises(ValueError, match="paired"):
        compare_cycles(cycles(3, 1.0, 1), cycles(4, 1.0, 1), [3])
    with pytest.raises(ValueError, match="successful"):
        compare_cycles([([], 1.0)], [([], 1.0)], [1])


@pytest.mark.parametrize(
    ("intervals", "verdict"),
    [
        ({}, PASS),  # no intervals: the point estimates (all 0 %)
        ({"p95_increase": (1.0, 5.0)}, PASS),  # at the limit
        ({"p95_increase": (1.0, 5.01)}, INCONCLUSIVE),
        ({"p95_increase": (5.01, 9.0)}, FAIL),
        ({"throughput_drop": (-2.0, 6.0), "p50_increase": (5.5, 7.0)}, FAIL),  # fail wins
        ({"throughput_drop": (-8.0, -6.0)}, PASS),  # faster
    ],
)
def test_verdict(intervals: dict[str, tuple[float, float]], verdict: str) -> None:
    assert BenchComparison(BASE, NEW, intervals, 0.9).verdict(5.0) == verdict


def test_without_intervals_the_point_estimate_decides() -> None:
    assert BenchComparison(BASE, replace(NEW, p95=42.0)).verdict(5.0) == PASS
    assert BenchComparison(BASE, replace(NEW, p95=42.01)).verdict(5.0) == FAIL


# --- the bench document ---------------------------------------------------------------------


def side(stats: BenchStats) -> dict[str, Any]:
    return {"release": stats.release, "throughput": stats.throughput, "p50": 10, "p95": 40}


def test_changes_read_back_and_old_documents_still_parse() -> None:
    comparison = compare_cycles(cycles(100, 1.0, 1), cycles(100, 1.0, 2), [60, 40])
    document = {"baseline": side(BASE), "candidate": side(NEW), "changes": comparison.changes()}
    parsed = parse_bench(json.dumps(document))
    assert parsed.rounds == (60, 40) and parsed.confidence == 0.9
    for figure, (low, high) in comparison.intervals.items():
        assert parsed.intervals[figure] == pytest.approx((low, high), abs=1e-3)
    old = parse_bench(json.dumps({"baseline": side(BASE), "candidate": side(NEW)}))
    assert old.intervals == {} and old.confidence is None and old.bounds("p95_increase") == (0, 0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ("x", "changes should be an object"),
        ({"confidence": 2}, "changes.confidence should be between 0 and 1"),
        ({"confidence": 0.9, "rounds": [-1]}, "changes.rounds should be a list of cycle counts"),
        ({"confidence": 0.9}, "changes.throughput_drop should be an object"),
        (
            {"confidence": 0.9, **{f: {"low": 1, "high": 0} for f in ("throughput_drop",)}},
            "changes.throughput_drop.high is below changes.throughput_drop.low",
        ),
        (
            {"confidence": 0.9, "throughput_drop": {"low": "x", "high": 1}},
            "changes.throughput_drop.low should be a number",
        ),
    ],
)
def test_bad_changes_are_refused(changes: object, message: str) -> None:
    document = {"baseline": side(BASE), "candidate": side(NEW), "changes": changes}
    with pytest.raises(EvidenceError, match=message):
        parse_bench(json.dumps(document))


# --- the gate, three ways -------------------------------------------------------------------


def performance_gate(comparison: BenchComparison) -> GateResult:
    from soakgate.core.evidence import Evidence

    results = evaluate_gates(
        "dev_to_staging", DEFAULT_THRESHOLDS["dev_to_staging"], Evidence(performance=comparison)
    )
    return next(result for result in results if result.name == "performance")


def with_intervals(**intervals: tuple[float, float]) -> BenchComparison:
    full = {"throughput_drop": (-1.0, 1.0), "p50_increase": (-1.0, 1.0), "p95_increase": (-1, 1)}
    return BenchComparison(BASE, NEW, {**full, **intervals}, 0.9, (300, 150))


def test_gate_passes_when_every_interval_is_within_the_limit() -> None:
    result = performance_gate(with_intervals(p95_increase=(-0.5, 4.999)))
    assert result.passed and result.reasons == ()
    assert result.measured == (
        "throughput +0 % [-1, +1], p50 latency +0 % [-1, +1], p95 latency +0 % [-0.5, +5]"
        " (90 % intervals, 2 rounds)"
    )


def test_gate_fails_when_an_interval_is_wholly_beyond_the_limit() -> None:
    comparison = replace(
        with_intervals(throughput_drop=(6.2, 9.8)), candidate=replace(NEW, throughput=920.0)
    )
    result = performance_gate(comparison)
    assert not result.passed
    assert result.measured.startswith("throughput -8 % [-9.8, -6.2], ")
    assert result.reasons == (
        "throughput down 8 % (1000 → 920 rps), at least 6.2 % at 90 % confidence, more than 5 %",
    )


def test_gate_is_inconclusive_when_an_interval_straddles_the_limit() -> None:
    comparison = replace(with_intervals(p95_increase=(1.3, 7.1)), candidate=replace(NEW, p95=41.6))
    result = performance_gate(comparison)
    assert not result.passed and result.blocking
    assert result.measured.startswith("inconclusive: throughput +0 % [-1, +1], ")
    (reason,) = result.reasons
    assert reason.startswith(
        "inconclusive: measure again (soakgate evidence collect cccccccccccc --baseline"
        " bbbbbbbbbbbb --skip tests --skip mutation --skip audit): p95 latency up 4 % could be"
        " 1.3 to 7.1 % at 90 % confidence"
    )
    assert "regression" not in reason and "more than" not in reason
    assert GateResult.to_dict(result)["passed"] is False


def test_gate_on_an_old_bench_file_is_judged_as_before() -> None:
    result = performance_gate(BenchComparison(BASE, replace(NEW, p95=43.0)))
    assert result.measured == "throughput +0 %, p50 latency +0 %, p95 latency +7.5 %"
    assert result.reasons == ("p95 latency up 7.5 % (40 → 43 ms), more than 5 %",)


# --- the workload ---------------------------------------------------------------------------


def test_weights_spread_the_heavy_requests() -> None:
    cycle = [request.path.split("?")[0] for request in weighted_cycle(SAMPLE_WORKLOAD)]
    light, medium, heavy = "/work/pydantic", "/work/fanout", "/work/cpu"
    assert cycle == [light] * 3 + [medium] + [light] * 2 + [heavy] + [light] * 3
    a, b = WorkloadRequest("/a", weight=2), WorkloadRequest("/b")
    assert [r.path for r in weighted_cycle([a, b])] == ["/a", "/b", "/a"]
    assert weighted_cycle([b]) == (b,)
    with pytest.raises(CollectFailed, match="no workload"):
        weighted_cycle([])
    with pytest.raises(CollectFailed, match="weight"):
        weighted_cycle([replace(a, weight=0)])


class Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str, str, str]]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        self.seen.append((self.command, self.path, body, self.headers.get("Content-Type", "")))
        status = 201 if self.command == "POST" else 404
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_requests_send_method_and_body_and_expect_their_status(server: int) -> None:
    stats = SideStats("sha256:a")
    target = Target("127.0.0.1", server, 5.0, stats)
    post = WorkloadRequest("/orders", method="POST", body='{"n": 1}', status=201)
    target.start_cycle()
    target.send(post, record=True)
    target.send(WorkloadRequest("/missing"), record=True)
    target.close()
    assert Recorder.seen[-2:] == [
        ("POST", "/orders", '{"n": 1}', "application/json"),
        ("GET", "/missing", "", ""),
    ]
    assert len(stats.samples) == 1 and stats.errors == 1
    assert stats.first_errors == ["GET /missing: HTTP 404"]
    assert len(stats.cycles) == 1 and stats.cycles[0][0] == stats.samples
    assert stats.cycles[0][1] == pytest.approx(stats.busy_seconds * 1000)
    with pytest.raises(CollectFailed, match=r"baseline failed 1 of 2 requests .*service\.workload"):
        check_errors([stats, stats], PerfPlan())


# --- extra rounds ---------------------------------------------------------------------------


class FakeTarget:
    """Answers instantly with ``ms`` times lognormal noise of latency (no time passes)."""

    def __init__(self, ms: float, seed: int) -> None:
        self.stats = SideStats(f"sha256:{seed}")
        self.ms, self.rng = ms, random.Random(seed)

    def start_cycle(self) -> None:
        self.stats.cycles.append(([], 0.0))

    def send(self, request: WorkloadRequest, record: bool) -> None:
        if record:
            latency = self.ms * self.rng.lognormvariate(0, 0.2)
            latencies, busy = self.stats.cycles[-1]
            latencies.append(latency)
            self.stats.cycles[-1] = (latencies, busy + latency)
            self.stats.samples.append(latency)
            self.stats.busy_seconds += latency / 1000


FAST = PerfPlan(seconds=0.01, extra_seconds=0.005, warmup_seconds=0, resamples=50)


def run(candidate_ms: float, plan: PerfPlan) -> tuple[BenchComparison, list[int]]:
    targets: Any = [FakeTarget(10.0, 1), FakeTarget(candidate_ms, 2)]
    return measure(targets, (WorkloadRequest("/"),), plan)


def test_a_clear_answer_takes_one_round() -> None:
    assert len(run(10.0, FAST)[1]) == 1
    comparison, rounds = run(20.0, FAST)
    assert comparison.verdict(5.0) == FAIL and len(rounds) == 1


def test_an_unclear_answer_measures_again_bounded_and_pools() -> None:
    comparison, rounds = run(10.5, FAST)  # +5 %: at the limit, inconclusive however long
    assert len(rounds) == 3 and comparison.rounds == tuple(rounds)
    assert sum(rounds) == len(comparison.baseline.samples)
    assert len(run(10.5, replace(FAST, extra_rounds=0))[1]) == 1
    assert len(run(10.5, replace(FAST, max_seconds=0.012))[1]) == 1  # no time for another


@pytest.mark.parametrize("first", [10.0, 15.0, 25.0, 40.0, 90.0, 600.0])
def test_a_shorter_first_round_may_still_pool_as_much_as_the_default(first: float) -> None:
    from soakgate.adapters.evidence.perf import PerfPlan, plan_with_first_round

    default, plan = PerfPlan(), plan_with_first_round(first, limit=3.0)
    assert plan.seconds == first and plan.limit == 3.0
    most = plan.seconds + plan.extra_rounds * plan.extra_seconds
    assert most >= default.seconds + default.extra_rounds * default.extra_seconds
    # every extra round fits in its time allowance, with the default's slack for start-up
    assert plan.max_seconds - most == default.max_seconds - 80.0
    if first == default.seconds:
        assert plan == PerfPlan(limit=3.0)  # the default plan, unchanged
