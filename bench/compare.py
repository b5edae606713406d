"""``soakgate compare`` benchmark: does it tell two builds of the same code apart (it must not),
and does it call a generic 10 % slowdown "slower" (it must)?

- same code: REPEATS comparisons of a release against a second build of it (an image FROM it
  with one more label); the verdict should be "no difference" every time;
- planted: PLANTED comparisons against a copy run by the drill's throttle launcher, stopped
  for 10 % of every 10 ms (``throttle_lines(..., cpus=0.9, period=0.01)``): nothing asked of
  the service; the verdict should be "slower" every time. The measured change is recorded
  beside the verdict, so what the plant really cost is on file.

Each run is the full ``compare_images`` with the command's default plan and threshold (5 %)
and the sample's workload; the host's load average is recorded around every run.

    .venv/bin/python -m bench.compare                  # newest Python 3.14 release of the state
    .venv/bin/python -m bench.compare sha256:…         # or any release image of the sample
    # writes bench/results/compare.json
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from bench.common import toolchain_env, write_result
from bench.perf_gate import derived, release_image
from soakgate.adapters.docker import engine as docker_engine
from soakgate.adapters.docker import throttle_launcher
from soakgate.adapters.evidence.compare import ComparePlan, Side, compare_images
from soakgate.adapters.evidence.perf import SAMPLE_WORKLOAD
from soakgate.core.compare import ALL
from soakgate.core.throttle import throttle_lines

REPEATS = int(os.environ.get("COMPARE_REPEATS", "10"))
PLANTED = int(os.environ.get("COMPARE_PLANTED", "10"))
CPUS, PERIOD = 0.9, 0.01  # stopped 1 ms of every 10 ms: 10 % of its time


def throttled(base: str) -> str:
    config = docker_engine.client().images.get(base).attrs["Config"]
    lines = throttle_lines(
        throttle_launcher.source(), config.get("Entrypoint"), config.get("Cmd"), CPUS, period=PERIOD
    )
    return derived(base, lines)


def measure(base: str, other: str, runs: int, label: str, log: Callable[[str], None]) -> list[Any]:
    results = []
    for index in range(runs):
        load_before = os.getloadavg()[0]
        comparison = compare_images(
            Side(base, "release"), Side(other, label), workload=SAMPLE_WORKLOAD, plan=ComparePlan()
        )
        headline = {
            f.name: {
                "change": round(f.change, 2),
                "interval": [round(v, 2) for v in f.interval or (f.change, f.change)],
                "verdict": f.verdict(comparison.threshold),
            }
            for f in comparison.figures
            if f.kind == ALL
        }
        result = {
            "verdict": comparison.overall(),
            "headline": headline,
            "rounds": comparison.method["rounds"],
            "seconds": comparison.method["seconds"],
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        }
        results.append(result)
        log(f"{label} {index + 1}/{runs}: {result['verdict']} {headline['throughput']}")
    return results


def counts(runs: list[dict[str, Any]]) -> dict[str, int]:
    found: dict[str, int] = {}
    for run in runs:
        found[run["verdict"]] = found.get(run["verdict"], 0) + 1
    return found


def main() -> None:
    toolchain_env()
    base = release_image()
    engine = docker_engine.client()
    rebuild = derived(base, ["LABEL soakgate.bench=rebuild"])
    slow = throttled(base)
    started = time.monotonic()
    try:
        same = measure(base, rebuild, REPEATS, "same code", print)
        planted = measure(base, slow, PLANTED, "throttled 10 %", print)
    finally:
        for image in (rebuild, slow):
            engine.images.remove(image, force=True)
    write_result(
        "compare",
        {
            "release": base,
            "threshold_percent": ComparePlan().threshold,
            "seconds": round(time.monotonic() - started, 1),
            "same_code": {"runs": same, "verdicts": counts(same)},
            "planted_slowdown": {
                "throttle": {"cpus": CPUS, "period_seconds": PERIOD},
                "runs": planted,
                "verdicts": counts(planted),
            },
        },
    )


if __name__ == "__main__":
    main()
