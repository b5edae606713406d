"""Performance gate benchmark: does the three-way verdict (pass / fail / inconclusive) judge
noise as noise, with a CPU hog running beside it?

- no false alarm: REPEATS comparisons of a release against a second build of the same code
  (an image FROM it with one more label), each the full ``compare_releases`` run with the
  gate's own plan; a FAIL verdict is a false alarm, INCONCLUSIVE is counted apart (it blocks
  and says "measure again", it never passes a regression);
- a planted 5 % slowdown: PLANTED comparisons against an image FROM the release with
  ``ENV SERVICE_SLOWDOWN_PERCENT=5`` (every /work request spends 5 % more CPU time than it
  took, before it answers); it must be caught (FAIL) or called INCONCLUSIVE, never PASS. (The
  drill's CPU duty cycle was tried first: at 1/1.05 of a CPU it measured about +1.5 %, since a
  closed-loop server is runnable only part of the time, so it is no 5 % plant.)

A CPU hog (one busy process, as many as ``HOGS``) runs for the whole benchmark, bounded in
time; the host's load average is recorded around every run.

    .venv/bin/python -m bench.perf_gate                 # newest Python 3.14 release of the state
    .venv/bin/python -m bench.perf_gate sha256:…        # or any release image of the sample
    # writes bench/results/perf_gate.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.common import present_release, toolchain_env, write_result
from soakgate.adapters.docker import engine as docker_engine
from soakgate.adapters.evidence.perf import SAMPLE_WORKLOAD, PerfPlan, compare_releases
from soakgate.core.evidence import FAIL, INCONCLUSIVE, PASS, parse_bench
from soakgate.core.gates import DEFAULT_THRESHOLDS

REPEATS = int(os.environ.get("PERF_GATE_REPEATS", "20"))
PLANTED = int(os.environ.get("PERF_GATE_PLANTED", "5"))
HOGS = 1
HOG_MAX_SECONDS = 3 * 3600  # the hog stops by itself even if this process is killed
SLOWDOWN_PERCENT = 5.0
LIMIT = DEFAULT_THRESHOLDS["dev_to_staging"].performance
HOG = (  # one busy core for argv[1] seconds at most
    "import sys, time\n"
    "end = time.monotonic() + float(sys.argv[1])\n"
    "while time.monotonic() < end:\n"
    "    pass\n"
)


def release_image() -> str:
    """The image to compare: argv[1], else the newest 3.14 release (built if there is none)."""
    if len(sys.argv) > 1:
        return sys.argv[1]
    return str(present_release("3.14").digest)


def derived(base: str, lines: list[str]) -> str:
    return str(docker_engine.build_from(base, lines).id)


def slowed(base: str) -> str:
    """``base`` with the sample's proportional slowdown switched on."""
    return derived(base, [f"ENV SERVICE_SLOWDOWN_PERCENT={SLOWDOWN_PERCENT:g}"])


def measure(base: str, other: str, runs: int, label: str, log: Callable[[str], None]) -> list[Any]:
    results = []
    plan = PerfPlan(limit=LIMIT)
    for index in range(runs):
        load_before = os.getloadavg()[0]
        started = time.monotonic()
        document = compare_releases(base, other, plan=plan, workload=SAMPLE_WORKLOAD)
        bench = parse_bench(json.dumps(document))
        result = {
            "verdict": bench.verdict(LIMIT),
            "rounds": len(bench.rounds),
            "changes": document["changes"],
            "seconds": round(time.monotonic() - started, 1),
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        }
        results.append(result)
        log(f"{label} {index + 1}/{runs}: {json.dumps(result)}")
    return results


def counts(runs: list[dict[str, Any]]) -> dict[str, int]:
    return {v: sum(run["verdict"] == v for run in runs) for v in (PASS, INCONCLUSIVE, FAIL)}


def main() -> None:
    toolchain_env()
    base = release_image()
    engine = docker_engine.client()
    rebuild = derived(base, ["LABEL soakgate.bench=rebuild"])
    slow = slowed(base)
    hogs = [
        subprocess.Popen([sys.executable, "-c", HOG, str(HOG_MAX_SECONDS)]) for _ in range(HOGS)
    ]
    started = time.monotonic()
    try:
        same = measure(base, rebuild, REPEATS, "same code", print)
        planted = measure(base, slow, PLANTED, f"planted {SLOWDOWN_PERCENT:g} %", print)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        for image in (rebuild, slow):
            engine.images.remove(image, force=True)
    same_counts, planted_counts = counts(same), counts(planted)
    write_result(
        "perf_gate",
        {
            "release": base,
            "gate_limit_percent": LIMIT,
            "cpu_hogs": HOGS,
            "seconds": round(time.monotonic() - started, 1),
            "same_code": {
                "runs": same,
                "verdicts": same_counts,
                "false_alarms": same_counts[FAIL],
                "worst_estimate_percent": max(
                    max(run["changes"][figure]["estimate"] for figure in FIGURES) for run in same
                ),
            },
            "planted_slowdown": {
                "slowdown_percent": SLOWDOWN_PERCENT,
                "runs": planted,
                "verdicts": planted_counts,
                "passed": planted_counts[PASS],
            },
        },
    )


FIGURES = ("throughput_drop", "p50_increase", "p95_increase")

if __name__ == "__main__":
    main()
