"""Helpers shared by the benchmarks: the toolchain env, scratch projects, JSON results."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from soakgate.adapters.envfile import ENV_FILE, parse_env_file  # noqa: E402


def toolchain_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(parse_env_file((ROOT / ENV_FILE).read_text(), env))
    os.environ.update(env)
    return env


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def summary(samples: list[float]) -> dict[str, Any]:
    return {
        "median": round(statistics.median(samples), 3),
        "min": round(min(samples), 3),
        "max": round(max(samples), 3),
        "runs": [round(sample, 3) for sample in samples],
    }


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = {"benchmark": name, "machine": f"{platform.machine()} {os.cpu_count()} cores", **data}
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps(data, indent=2))
    return path


def present_release(series: str = "3.14") -> Any:
    """The newest recorded release of ``series`` whose image the engine has; where there is
    none (a fresh machine: ``soakgate demo`` builds in its own workspace), one built now in a
    scratch project (its images stay, tagged soakgate-test/service)."""
    import tempfile

    import docker

    from soakgate.adapters.docker import engine as docker_engine
    from soakgate.adapters.state.releases import StateDB, state_dir
    from soakgate.scratch import make_scratch, releases_of

    engine = docker_engine.client()
    with StateDB.open(state_dir()) as db:
        found = [r for r in db.releases() if r.python_series == series]
    for release in found:
        try:
            engine.images.get(release.digest)
        except docker.errors.ImageNotFound:
            continue
        return release
    project = make_scratch(
        Path(tempfile.mkdtemp(prefix="bench-build-")), dict(os.environ), with_service=True
    )
    built = project.soakgate("build", timeout=1200)
    if built.returncode != 0:
        raise SystemExit(f"bench: soakgate build failed: {built.stdout[-2000:]}{built.stderr}")
    return releases_of(project)[series]
