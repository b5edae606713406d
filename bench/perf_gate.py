"""Performance gate benchmark: is the comparison quiet enough to trust a 5 % gate?

- no false alarm: REPEATS comparisons of a release against a second build of the same code
  (an image FROM it with one more label), each the full ``compare_releases`` run; the worst
  regression of throughput, p50 and p95 over all of them is the noise of the method;
- detection: PLANTED comparisons against an image FROM the release with
  ``ENV SERVICE_DELAY_MS=1`` (1 ms more on every /work request).

The host's load average is recorded around every run: on a shared 2-core machine other work
is the main source of noise.

    .venv/bin/python -m bench.perf_gate                 # newest Python 3.14 release of the state
    .venv/bin/python -m bench.perf_gate sha256:…        # or any release image
    # writes bench/results/perf_gate.json
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import toolchain_env, write_result
from soakgate.adapters.docker import engine as docker_engine
from soakgate.adapters.evidence.perf import PerfPlan, compare_releases
from soakgate.adapters.state.releases import StateDB, state_dir
from soakgate.core.evidence import parse_bench
from soakgate.core.gates import DEFAULT_THRESHOLDS

REPEATS = 10
PLANTED = 3
DELAY_MS = 1
LIMIT = DEFAULT_THRESHOLDS["dev_to_staging"].performance


def release_image() -> str:
    """The image to compare: argv[1], else the newest 3.14 release (built if there is none)."""
    if len(sys.argv) > 1:
        return sys.argv[1]
    db = StateDB.open(state_dir())
    try:
        found = [r for r in db.releases() if r.python_series == "3.14"]
    finally:
        db.close()
    engine = docker_engine.client()
    for release in found:
        try:
            engine.images.get(release.digest)
            return release.digest
        except Exception:  # gone from the engine: try the next one
            continue
    from soakgate.scratch import make_scratch

    project = make_scratch(
        Path(tempfile.mkdtemp(prefix="bench-perf-")), dict(os.environ), with_service=True
    )
    assert project.soakgate("build", timeout=1200).returncode == 0
    db = StateDB.open(project.state)
    try:
        return next(r.digest for r in db.releases() if r.python_series == "3.14")
    finally:
        db.close()


def derived(base: str, line: str) -> str:
    return str(docker_engine.build_from(base, [line]).id)


def measure(base: str, other: str, runs: int, label: str, log: Callable[[str], None]) -> list[Any]:
    results = []
    for index in range(runs):
        load_before = os.getloadavg()[0]
        started = time.monotonic()
        bench = parse_bench(json.dumps(compare_releases(base, other)))
        result = {
            "throughput_drop": round(bench.throughput_drop, 2),
            "p50_increase": round(bench.p50_increase, 2),
            "p95_increase": round(bench.p95_increase, 2),
            "worst": round(max(bench.throughput_drop, bench.p50_increase, bench.p95_increase), 2),
            "baseline": {
                "throughput": bench.baseline.throughput,
                "p50": bench.baseline.p50,
                "p95": bench.baseline.p95,
                "samples": len(bench.baseline.samples),
            },
            "seconds": round(time.monotonic() - started, 1),
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        }
        results.append(result)
        log(f"{label} {index + 1}/{runs}: {json.dumps(result)}")
    return results


def main() -> None:
    toolchain_env()
    base = release_image()
    engine = docker_engine.client()
    rebuild = derived(base, "LABEL soakgate.bench=rebuild")
    slow = derived(base, f"ENV SERVICE_DELAY_MS={DELAY_MS}")
    try:
        same = measure(base, rebuild, REPEATS, "same code", print)
        planted = measure(base, slow, PLANTED, f"planted {DELAY_MS} ms", print)
    finally:
        for image in (rebuild, slow):
            engine.images.remove(image, force=True)
    worst_same = max(run["worst"] for run in same)
    write_result(
        "perf_gate",
        {
            "release": base,
            "plan": {**PerfPlan().__dict__, "cycle": list(PerfPlan().cycle)},
            "gate_limit_percent": LIMIT,
            "same_code": {
                "runs": same,
                "max_regression_percent": worst_same,
                "false_alarms": sum(run["worst"] > LIMIT for run in same),
                "seconds_per_comparison_max": max(run["seconds"] for run in same),
            },
            "planted_slowdown": {
                "delay_ms": DELAY_MS,
                "runs": planted,
                "detected": sum(run["worst"] > LIMIT for run in planted),
                "min_worst_percent": min(run["worst"] for run in planted),
                "min_throughput_drop_percent": min(run["throughput_drop"] for run in planted),
            },
        },
    )


if __name__ == "__main__":
    main()
