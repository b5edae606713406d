"""Interpreter-only calibration: how much faster one base image's Python runs the same
pure-Python CPU work than another's, so that a release comparison across two interpreters can
tell the interpreter's share from the code's.

    plan = CalibrationPlan(rounds=10)
    order = schedule(["3.12", "3.14", "3.14+JIT"], plan.rounds)   # ABC, CBA, ABC, …
    run = parse_run(container_output, arm="3.14", round_index=0)     # one container's timings
    document = summarize(runs, arms, plan)      # medians, intervals, speedups (JSON-ready)
    document["summary"]   # "the interpreter alone: 3.14 vs 3.12 +46.1 % [+43.7, +48.0]; …"
    net_of_interpreter(release_change, speedup)  # a release's change less the interpreter's

The workload (:data:`WORKLOAD_SCRIPT`) is fixed and deterministic, nothing is downloaded:
six kernels in the spirit of pyperformance (nbody, a Richards-like task scheduler, spectral
norm, fannkuch, a JSON round trip, regular expressions). One container runs each kernel once
to warm up, then ``passes`` timed passes; the run's figure is the geometric mean over kernels
of each kernel's median pass (seconds, lower is faster). Arms run in interleaved rounds, the
order reversed every round (A B, B A, …), so drift of the host hits every arm alike; a round
is one run of every arm. The speedup of B over A is the median over rounds of the per-round
ratio A/B, minus one; its interval is a paired moving-block bootstrap over rounds
(:func:`soakgate.core.stats.block_bootstrap`: a resample draws the same rounds for all arms).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from statistics import median
from typing import Any

from soakgate.core.stats import block_bootstrap

KERNELS = ("nbody", "richards", "spectral_norm", "fannkuch", "json_roundtrip", "regex")
MAX_ROUNDS = 50
MIN_ROUNDS = 2
SCHEMA = 1
# Every arm: one hash seed, and no PYTHONPATH of the image shadowing the standard library.
_ENVIRONMENT = {"PYTHONHASHSEED": "0", "PYTHONPATH": ""}

# Run as ``python3 -S -c WORKLOAD_SCRIPT PASSES SCALE``; prints one JSON object.
WORKLOAD_SCRIPT = r"""
import json, re, sys, time


def nbody(scale):
    pi = 3.14159265358979323
    solar_mass = 4 * pi * pi
    days = 365.24
    bodies = [
        [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], solar_mass],
        [[4.84143144246472090e00, -1.16032004402742839e00, -1.03622044471123109e-01],
         [1.66007664274403694e-03 * days, 7.69901118419740425e-03 * days,
          -6.90460016972063023e-05 * days], 9.54791938424326609e-04 * solar_mass],
        [[8.34336671824457987e00, 4.12479856412430479e00, -4.03523417114321381e-01],
         [-2.76742510726862411e-03 * days, 4.99852801234917238e-03 * days,
          2.30417297573763929e-05 * days], 2.85885980666130812e-04 * solar_mass],
        [[1.28943695621391310e01, -1.51111514016986312e01, -2.23307578892655734e-01],
         [2.96460137564761618e-03 * days, 2.37847173959480950e-03 * days,
          -2.96589568540237556e-05 * days], 4.36624404335156298e-05 * solar_mass],
        [[1.53796971148509165e01, -2.59193146099879641e01, 1.79258772950371181e-01],
         [2.68067772490389322e-03 * days, 1.62824170038242295e-03 * days,
          -9.51592254519715870e-05 * days], 5.15138902046611451e-05 * solar_mass],
    ]
    pairs = [(bodies[i], bodies[j]) for i in range(5) for j in range(i + 1, 5)]
    dt = 0.01
    for _ in range(int(10000 * scale)):
        for ([x1, y1, z1], v1, m1), ([x2, y2, z2], v2, m2) in pairs:
            dx, dy, dz = x1 - x2, y1 - y2, z1 - z2
            mag = dt * ((dx * dx + dy * dy + dz * dz) ** -1.5)
            b1, b2 = m1 * mag, m2 * mag
            v1[0] -= dx * b2
            v1[1] -= dy * b2
            v1[2] -= dz * b2
            v2[0] += dx * b1
            v2[1] += dy * b1
            v2[2] += dz * b1
        for r, [vx, vy, vz], _m in bodies:
            r[0] += dt * vx
            r[1] += dt * vy
            r[2] += dt * vz
    return round(bodies[0][0][0], 9)


class Packet:
    __slots__ = ("link", "kind", "value")

    def __init__(self, link, kind, value):
        self.link, self.kind, self.value = link, kind, value


class Task:
    def __init__(self, number, priority):
        self.number, self.priority, self.queue, self.count = number, priority, [], 0

    def run(self, scheduler):
        raise NotImplementedError


class Worker(Task):
    def run(self, scheduler):
        packet = self.queue.pop(0)
        self.count += packet.value
        packet.value = (packet.value * 7 + self.number) % 101
        scheduler.send(packet, (self.number + packet.kind) % scheduler.size)


class Handler(Task):
    def run(self, scheduler):
        packet = self.queue.pop(0)
        self.count += 1
        packet.kind = (packet.kind + 1) % 3
        scheduler.send(packet, (self.number * 3 + 1) % scheduler.size)


class Scheduler:
    def __init__(self, size):
        self.size = size
        self.tasks = [(Worker if i % 2 else Handler)(i, i % 5) for i in range(size)]
        self.sent = 0

    def send(self, packet, target):
        self.sent += 1
        self.tasks[target].queue.append(packet)

    def schedule(self, steps):
        for step in range(steps):
            for task in sorted(self.tasks, key=lambda t: (-t.priority, t.number)):
                if task.queue:
                    task.run(self)
        return sum(task.count for task in self.tasks)


def richards(scale):
    scheduler = Scheduler(16)
    for i in range(64):
        scheduler.send(Packet(None, i % 3, i), i % 16)
    return scheduler.schedule(int(12000 * scale))


def spectral_norm(scale):
    n = int(110 * scale) or 1

    def a(i, j):
        return 1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)

    def times(u):
        return [sum(a(i, j) * u_j for j, u_j in enumerate(u)) for i in range(n)]

    def times_transposed(u):
        return [sum(a(j, i) * u_j for j, u_j in enumerate(u)) for i in range(n)]

    u = [1.0] * n
    for _ in range(10):
        v = times_transposed(times(u))
        u = times_transposed(times(v))
    vbv = sum(x * y for x, y in zip(u, v))
    vv = sum(x * x for x in v)
    return round((vbv / vv) ** 0.5, 9)


def fannkuch(scale):
    n = 8
    count = list(range(1, n + 1))
    perm1 = list(range(n))
    max_flips = checksum = sign_index = 0
    limit = int(40320 * scale) or 1
    r = n
    for _ in range(limit):
        while r != 1:
            count[r - 1] = r
            r -= 1
        perm = perm1[:]
        flips = 0
        k = perm[0]
        while k:
            perm[: k + 1] = perm[k::-1]
            flips += 1
            k = perm[0]
        max_flips = max(max_flips, flips)
        checksum += flips if sign_index % 2 == 0 else -flips
        sign_index += 1
        while r != n:
            perm1.insert(r, perm1.pop(0))
            count[r] -= 1
            if count[r] > 0:
                break
            r += 1
        else:
            break
    return max_flips, checksum


def document(seed, size):
    state = seed
    items = []
    for i in range(size):
        state = (state * 1103515245 + 12345) % 2147483648
        items.append({
            "id": i, "name": "item-%d-%x" % (i, state), "price": state / 1000.0,
            "tags": ["t%d" % (state % 7), "t%d" % (state % 11)], "ok": state % 2 == 0,
            "nested": {"depth": i % 5, "ratio": (state % 1000) / 7.0, "label": None},
        })
    return {"items": items, "count": size, "title": "catalogue \u00e9t\u00e9"}


def json_roundtrip(scale):
    doc = document(7, 400)
    total = 0
    for _ in range(int(30 * scale) or 1):
        text = json.dumps(doc, sort_keys=True)
        total += len(json.loads(text)["items"])
    return total


WORDS = ["alpha", "beta", "gamma", "delta", "mail", "host", "path", "value", "2026", "x9"]


def text(seed, size):
    state = seed
    out = []
    for i in range(size):
        state = (state * 1103515245 + 12345) % 2147483648
        word = WORDS[state % len(WORDS)]
        if state % 13 == 0:
            word = "%s.%s@%s.example" % (word, WORDS[(state >> 4) % 10], WORDS[(state >> 8) % 10])
        elif state % 7 == 0:
            word = "%d.%02d" % (state % 1000, state % 100)
        out.append(word)
    return " ".join(out)


def regex(scale):
    body = text(11, 6000)
    patterns = [
        re.compile(r"[\w.]+@[\w.]+\.example"),
        re.compile(r"\b\d+\.\d{2}\b"),
        re.compile(r"\b(?:alpha|gamma)\w*\b"),
        re.compile(r"(\w)\1"),
    ]
    found = 0
    for _ in range(int(8 * scale) or 1):
        for pattern in patterns:
            found += len(pattern.findall(body))
        found += len(re.sub(r"\s+", " ", body.upper()))
    return found


KERNELS = [nbody, richards, spectral_norm, fannkuch, json_roundtrip, regex]


def main():
    passes = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    scale = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    results = {}
    checks = {}
    for kernel in KERNELS:
        checks[kernel.__name__] = kernel(scale)  # warm-up, and the result to compare
        times = []
        for _ in range(passes):
            started = time.perf_counter()
            kernel(scale)
            times.append(time.perf_counter() - started)
        results[kernel.__name__] = times
    jit = getattr(sys, "_jit", None)
    print(json.dumps({
        "version": "%d.%d.%d" % sys.version_info[:3],
        "jit": bool(jit.is_enabled()) if jit else False,
        "checks": {name: repr(value) for name, value in checks.items()},
        "kernels": results,
    }, sort_keys=True))


main()
"""


class CalibrationError(ValueError):
    """A calibration run's output is malformed or does not match its arm; one line."""


@dataclass(frozen=True)
class CalibrationPlan:
    """How a calibration runs; the defaults took 40 s for three arms on 2 cores here (a
    container of 6 kernels, 4 passes each, is about 1.3 s)."""

    rounds: int = 10  # rounds wanted; each runs every arm once
    passes: int = 3  # timed passes of each kernel in one container (after one warm-up)
    scale: float = 1.0  # work per pass (1.0: about 0.05 s a kernel on 3.12 here)
    max_seconds: float = 600.0  # no round is started that would end later than this
    run_timeout: float = 180.0  # one container
    cpus: float = 1.0
    memory_mb: int = 256
    confidence: float = 0.90
    resamples: int = 2000

    def check(self) -> CalibrationPlan:
        """The plan itself, or CalibrationError naming the field out of bounds."""
        if not MIN_ROUNDS <= self.rounds <= MAX_ROUNDS:
            raise CalibrationError(
                f"rounds should be {MIN_ROUNDS} to {MAX_ROUNDS}, got {self.rounds}"
            )
        if not 1 <= self.passes <= 20:
            raise CalibrationError(f"passes should be 1 to 20, got {self.passes}")
        if not 0 < self.scale <= 10:
            raise CalibrationError(f"scale should be above 0 and at most 10, got {self.scale}")
        if self.max_seconds <= 0 or self.run_timeout <= 0:
            raise CalibrationError("max_seconds and run_timeout should be above 0")
        return self


@dataclass(frozen=True)
class Arm:
    """One interpreter to time: an image and the environment its container gets."""

    name: str  # "3.12", "3.14", "3.14+JIT"
    image: str
    environment: Mapping[str, str] = field(default_factory=dict)
    jit: bool = False  # the run must report the JIT on (PYTHON_JIT=1) or off

    def command(self, plan: CalibrationPlan) -> list[str]:
        """The container's argv: no site, the workload, its passes and scale. Not ``-I`` or
        ``-E``: they make the interpreter ignore PYTHON_JIT and PYTHONHASHSEED."""
        return ["python3", "-S", "-c", WORKLOAD_SCRIPT, str(plan.passes), repr(plan.scale)]


def arms_for(base_a: str, base_b: str, *, names: tuple[str, str], with_jit: bool) -> list[Arm]:
    """The arms: ``base_a``, ``base_b`` and, when ``with_jit``, ``base_b`` with PYTHON_JIT=1.

    Every arm sets PYTHON_JIT explicitly (0 or 1), so an image's own setting plays no part;
    PYTHONHASHSEED is 0 and PYTHONPATH empty in all.
    """
    arms = [
        Arm(names[0], base_a, {**_ENVIRONMENT, "PYTHON_JIT": "0"}),
        Arm(names[1], base_b, {**_ENVIRONMENT, "PYTHON_JIT": "0"}),
    ]
    if with_jit:
        arms.append(Arm(f"{names[1]}+JIT", base_b, {**_ENVIRONMENT, "PYTHON_JIT": "1"}, True))
    return arms


def schedule(arms: Sequence[str], rounds: int) -> list[list[str]]:
    """The order of the arms in each round: as given, then reversed, alternately."""
    return [list(arms) if index % 2 == 0 else list(reversed(arms)) for index in range(rounds)]


@dataclass(frozen=True)
class Run:
    """One container's timings: seconds of each kernel's timed passes."""

    arm: str
    round_index: int
    version: str
    jit: bool
    kernels: Mapping[str, tuple[float, ...]]
    checks: Mapping[str, str]

    def kernel_seconds(self, name: str) -> float:
        """The median pass of one kernel."""
        return float(median(self.kernels[name]))

    @property
    def figure(self) -> float:
        """Geometric mean over kernels of each kernel's median pass, in seconds."""
        logs = [math.log(self.kernel_seconds(name)) for name in KERNELS]
        return math.exp(sum(logs) / len(logs))


def parse_run(text: str, arm: Arm, round_index: int) -> Run:
    """The run of ``arm`` in its container's output (last line, JSON); checks that every
    kernel ran and that the JIT is as the arm wants it."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    where = f"calibration run of {arm.name} (round {round_index + 1})"
    try:
        document = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"{where}: output is not JSON ({exc.msg})") from None
    if not isinstance(document, dict) or not isinstance(document.get("kernels"), dict):
        raise CalibrationError(f"{where}: no kernel timings in its output")
    kernels: dict[str, tuple[float, ...]] = {}
    for name in KERNELS:
        times = document["kernels"].get(name)
        if (
            not isinstance(times, list)
            or not times
            or not all(isinstance(t, int | float) and t > 0 for t in times)
        ):
            raise CalibrationError(f"{where}: kernel {name} has no positive timings")
        kernels[name] = tuple(float(t) for t in times)
    jit = document.get("jit") is True
    if jit != arm.jit:
        raise CalibrationError(
            f"{where}: the JIT was {'on' if jit else 'off'}, the arm wants it"
            f" {'on' if arm.jit else 'off'} (PYTHON_JIT={arm.environment.get('PYTHON_JIT')})"
        )
    checks = document.get("checks") or {}
    return Run(
        arm.name,
        round_index,
        str(document.get("version", "")),
        jit,
        kernels,
        {str(k): str(v) for k, v in checks.items()} if isinstance(checks, dict) else {},
    )


def complete_rounds(runs: Sequence[Run], arms: Sequence[str]) -> list[dict[str, Run]]:
    """The rounds in which every arm ran, in order, as {arm: run}."""
    by_round: dict[int, dict[str, Run]] = {}
    for run in runs:
        by_round.setdefault(run.round_index, {})[run.arm] = run
    return [by_round[index] for index in sorted(by_round) if set(by_round[index]) >= set(arms)]


def speedup_percent(slower_seconds: float, faster_seconds: float) -> float:
    """How much faster (percent) work that takes ``faster_seconds`` is than ``slower_seconds``:
    a throughput ratio, so 2.0 s against 1.6 s is +25 %."""
    return (slower_seconds / faster_seconds - 1.0) * 100.0


def net_of_interpreter(change_percent: float, interpreter_speedup_percent: float) -> float:
    """A release comparison's throughput change (percent, candidate over baseline) less the
    interpreter's share: what is left once the calibration's speedup is divided out."""
    factor = 1.0 + interpreter_speedup_percent / 100.0
    return ((1.0 + change_percent / 100.0) / factor - 1.0) * 100.0


def _estimate(estimate: float, bounds: tuple[float, float], digits: int = 3) -> dict[str, float]:
    low, high = bounds
    return {
        "estimate": round(estimate, digits),
        "low": round(low, digits),
        "high": round(high, digits),
    }


def pairs_of(arms: Sequence[Arm]) -> list[tuple[str, str]]:
    """(baseline, candidate) pairs compared: the second arm against the first, and a JIT arm
    against the same image without it."""
    names = [arm.name for arm in arms]
    pairs = [(names[0], names[1])]
    for arm in arms[2:]:
        plain = next(
            (other.name for other in arms if other.image == arm.image and not other.jit), None
        )
        if arm.jit and plain is not None:
            pairs.append((plain, arm.name))
    return pairs


def summarize(
    runs: Sequence[Run],
    arms: Sequence[Arm],
    plan: CalibrationPlan,
    *,
    builds: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The calibration document: each arm's median figure with its interval, the speedups with
    theirs, per-kernel speedups, and one summary line. ``builds`` gives each arm's interpreter
    build summary. Needs :data:`MIN_ROUNDS` complete rounds."""
    names = [arm.name for arm in arms]
    rounds = complete_rounds(runs, names)
    if len(rounds) < MIN_ROUNDS:
        raise CalibrationError(
            f"calibration: {len(rounds)} complete rounds, at least {MIN_ROUNDS} are needed"
        )
    figures = {name: [r[name].figure for r in rounds] for name in names}
    pairs = pairs_of(arms)

    def statistics_of(indices: Sequence[int]) -> list[float]:
        values = [float(median([figures[name][i] for i in indices])) for name in names]
        for old, new in pairs:
            ratios = [figures[old][i] / figures[new][i] for i in indices]
            values.append((float(median(ratios)) - 1.0) * 100.0)
        return values

    everything = list(range(len(rounds)))
    estimates = statistics_of(everything)
    intervals = block_bootstrap(
        [len(rounds)],
        statistics_of,
        resamples=plan.resamples,
        confidence=plan.confidence,
    )
    arm_documents = {}
    for position, arm in enumerate(arms):
        arm_documents[arm.name] = {
            "image": arm.image,
            "environment": dict(arm.environment),
            "version": rounds[0][arm.name].version,
            "build": (builds or {}).get(arm.name, ""),
            "median_seconds": _estimate(estimates[position], intervals[position], 6),
            "round_seconds": [round(value, 6) for value in figures[arm.name]],
            "kernel_seconds": {
                kernel: round(
                    float(median([r[arm.name].kernel_seconds(kernel) for r in rounds])), 6
                )
                for kernel in KERNELS
            },
        }
    comparisons = {}
    for offset, (old, new) in enumerate(pairs):
        index = len(names) + offset
        comparisons[f"{new} vs {old}"] = {
            "baseline": old,
            "candidate": new,
            "speedup_percent": _estimate(estimates[index], intervals[index]),
            "kernel_speedup_percent": {
                kernel: round(
                    (
                        float(
                            median(
                                [
                                    r[old].kernel_seconds(kernel) / r[new].kernel_seconds(kernel)
                                    for r in rounds
                                ]
                            )
                        )
                        - 1.0
                    )
                    * 100.0,
                    2,
                )
                for kernel in KERNELS
            },
        }
    first_checks = rounds[0][names[0]].checks
    disagree = sorted(
        {
            f"{run.arm}: {kernel}"
            for r in rounds
            for run in r.values()
            for kernel, value in run.checks.items()
            if first_checks.get(kernel) not in (None, value)
        }
    )
    document: dict[str, Any] = {
        "kind": "interpreter-calibration",
        "schema": SCHEMA,
        "workload": {
            "kernels": list(KERNELS),
            "passes": plan.passes,
            "scale": plan.scale,
            "script_sha256": hashlib.sha256(WORKLOAD_SCRIPT.encode()).hexdigest(),
            "figure": "geometric mean over kernels of each kernel's median pass, seconds",
        },
        "plan": asdict(plan),
        "confidence": plan.confidence,
        "rounds": len(rounds),
        "order": schedule(names, len(rounds)),
        "arms": arm_documents,
        "comparisons": comparisons,
        "results_disagree": disagree,
    }
    document["summary"] = summary_line(document)
    return document


def _interval_text(figure: Mapping[str, float]) -> str:
    return f"{figure['estimate']:+.1f} % [{figure['low']:+.1f}, {figure['high']:+.1f}]"


def summary_line(document: Mapping[str, Any]) -> str:
    """``the interpreter alone: 3.14 vs 3.12 +46.1 % [+43.7, +48.0]; JIT 3.14+JIT vs 3.14
    -0.7 % [-3.6, +6.6] (throughput, 90 % intervals, 10 rounds)`` (measured here)."""
    parts = []
    for index, comparison in enumerate(document["comparisons"].values()):
        speedup = comparison["speedup_percent"]
        label = f"{comparison['candidate']} vs {comparison['baseline']}"
        parts.append(f"{'JIT ' if index else ''}{label} {_interval_text(speedup)}")
    confidence = round(100 * float(document["confidence"]))
    return (
        f"the interpreter alone: {'; '.join(parts)}"
        f" (throughput, {confidence} % intervals, {document['rounds']} rounds)"
    )


def parse_calibration(text: str) -> dict[str, Any]:
    """A calibration document read back (for a comparison that divides out the interpreter);
    CalibrationError when it is not one."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"calibration JSON: {exc.msg}") from None
    if not isinstance(document, dict) or document.get("kind") != "interpreter-calibration":
        raise CalibrationError("calibration JSON: not an interpreter calibration")
    if document.get("schema") != SCHEMA or not isinstance(document.get("comparisons"), dict):
        raise CalibrationError(
            f"calibration JSON: schema {document.get('schema')!r}, want {SCHEMA}"
        )
    return document


def interpreter_speedup(
    document: Mapping[str, Any], baseline: str, candidate: str
) -> dict[str, float] | None:
    """The calibrated speedup (percent: estimate, low, high) of the interpreter build whose
    fingerprint is ``candidate`` over ``baseline``'s, from a calibration document; a pair
    measured the other way round is inverted. None when the document has no such pair."""
    images = document.get("images") or {}
    prints = {name: entry.get("fingerprint") for name, entry in images.items()}
    for comparison in document["comparisons"].values():
        pair = (prints.get(comparison["baseline"]), prints.get(comparison["candidate"]))
        figure = comparison["speedup_percent"]
        if pair == (baseline, candidate):
            return {key: float(figure[key]) for key in ("estimate", "low", "high")}
        if pair == (candidate, baseline):

            def inverse(percent: float) -> float:
                return round((1.0 / (1.0 + percent / 100.0) - 1.0) * 100.0, 3)

            return {
                "estimate": inverse(figure["estimate"]),
                "low": inverse(figure["high"]),
                "high": inverse(figure["low"]),
            }
    return None


def calibration_name(fingerprints: Sequence[str]) -> str:
    """The file name of a calibration of these interpreter builds (their fingerprints)."""
    return "-".join(fingerprints) + ".json"
