"""Interpreter-only calibration: the same pure-Python workload in throwaway containers of two
base images (and the second with ``PYTHON_JIT=1`` when its interpreter has a JIT), in
interleaved rounds, bounded in count and time.

    document = calibrate("soakgate/python:3.12", "soakgate/python:3.14", CalibrationPlan())
    document["comparisons"]["3.14 vs 3.12"]["speedup_percent"]  # {"estimate": 46.1, …}
    path = write_calibration(document, state_dir())   # <state>/calibration/<fp>-<fp>.json
    find_speedup(state_dir(), build_of(baseline), build_of(candidate))  # {"estimate": 46.1, …}

Each container is hardened like an app container (read-only root, no capabilities, the same
CPU and memory limits for every arm), has no network and is removed afterwards, also on
failure or Ctrl-C. The workload and the statistics are in :mod:`soakgate.core.calibration`.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker.errors

from soakgate.adapters.atomic_file import write_atomic
from soakgate.adapters.docker import engine as docker_engine
from soakgate.adapters.images.interpreter_info import ImageBuild, read_build
from soakgate.adapters.stage.engine import hardening
from soakgate.core.calibration import (
    Arm,
    CalibrationError,
    CalibrationPlan,
    Run,
    arms_for,
    calibration_name,
    interpreter_speedup,
    parse_calibration,
    parse_run,
    schedule,
    summarize,
)
from soakgate.core.interpreter_build import InterpreterBuild
from soakgate.core.names import LABEL_MANAGED, LABEL_PURPOSE
from soakgate.errors import DockerError, SoakgateError

Progress = Callable[[str], None]
LABELS = {LABEL_MANAGED: "true", LABEL_PURPOSE: "calibration"}
CALIBRATION_DIR = "calibration"


class CalibrationFailed(SoakgateError):
    """A calibration could not run or its output made no sense; the message says which."""


def run_kwargs(arm: Arm, plan: CalibrationPlan) -> dict[str, Any]:
    """Docker SDK ``containers.run`` arguments of one calibration run."""
    return {
        "image": arm.image,
        "entrypoint": arm.command(plan),
        "environment": dict(arm.environment),
        "detach": True,
        "network_disabled": True,
        "labels": LABELS,
        **hardening(plan.memory_mb, plan.cpus),
    }


def run_arm(arm: Arm, plan: CalibrationPlan, round_index: int) -> Run:
    """Run the workload once in a container of ``arm``; return its timings."""
    client = docker_engine.client()
    container = None
    try:
        container = client.containers.run(**run_kwargs(arm, plan))
        status = container.wait(timeout=plan.run_timeout)
        output = container.logs(stdout=True, stderr=False).decode(errors="replace")
        errors = container.logs(stdout=False, stderr=True).decode(errors="replace")
    except docker.errors.APIError as exc:
        raise DockerError(f"calibration run of {arm.name} failed: {exc.explanation}") from exc
    except docker.errors.DockerException as exc:
        raise DockerError(f"calibration run of {arm.name} failed: {exc}") from exc
    except Exception as exc:  # the wait's read timeout (requests) and the like
        raise CalibrationFailed(
            f"calibration run of {arm.name} did not finish in {plan.run_timeout:.0f} s"
            f" ({type(exc).__name__})",
            hint="lower --scale or --passes, or check the host's load",
        ) from exc
    finally:
        if container is not None:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
    code = status.get("StatusCode")
    if code != 0:
        last = (errors.strip().splitlines() or ["no output"])[-1]
        raise CalibrationFailed(f"calibration run of {arm.name} exited {code}: {last}")
    try:
        return parse_run(output, arm, round_index)
    except CalibrationError as exc:
        raise CalibrationFailed(str(exc)) from None


def _names(a: ImageBuild, b: ImageBuild) -> tuple[str, str]:
    if a.build.series != b.build.series:
        return a.build.series, b.build.series
    return "baseline", "candidate"


def calibrate(
    baseline: str,
    candidate: str,
    plan: CalibrationPlan,
    *,
    with_jit: bool | None = None,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Time the workload in ``baseline`` and ``candidate`` (and ``candidate`` with its JIT on:
    ``with_jit`` None means when its interpreter has one); return the calibration document."""
    try:
        plan.check()
    except CalibrationError as exc:
        raise CalibrationFailed(str(exc), hint="e.g. --rounds 10 --passes 3") from None
    say = progress or (lambda message: None)
    builds = [read_build(baseline), read_build(candidate)]
    names = _names(*builds)
    jit = builds[1].build.jit_available if with_jit is None else with_jit
    arms = arms_for(builds[0].image_id, builds[1].image_id, names=names, with_jit=jit)
    summaries = {arm.name: builds[0 if arm.image == builds[0].image_id else 1] for arm in arms}
    runs: list[Run] = []
    started = clock()
    order = schedule([arm.name for arm in arms], plan.rounds)
    by_name = {arm.name: arm for arm in arms}
    for index, names_in_order in enumerate(order):
        elapsed = clock() - started
        if index and elapsed + elapsed / index > plan.max_seconds:
            say(f"stopping after {index} rounds: another would end after {plan.max_seconds:.0f} s")
            break
        for name in names_in_order:
            run = run_arm(by_name[name], plan, index)
            runs.append(run)
        say(
            f"round {index + 1}/{plan.rounds}: "
            + ", ".join(f"{run.arm} {run.figure * 1000:.1f} ms" for run in runs[-len(arms) :])
        )
    try:
        document = summarize(
            runs,
            arms,
            plan,
            # a JIT arm's runs reported the JIT on (parse_run checks it): say so
            builds={
                arm.name: replace(summaries[arm.name].build, jit_enabled=arm.jit).summary()
                for arm in arms
            },
        )
    except CalibrationError as exc:
        raise CalibrationFailed(str(exc), hint="raise --max-seconds or --rounds") from None
    # a JIT arm's build is its image's with the JIT on: its own fingerprint
    document["images"] = {
        arm.name: {
            "reference": summaries[arm.name].reference,
            "image_id": summaries[arm.name].image_id,
            "fingerprint": replace(summaries[arm.name].build, jit_enabled=arm.jit).fingerprint(),
        }
        for arm in arms
    }
    document["seconds"] = round(clock() - started, 1)
    document["created"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with contextlib.suppress(OSError):
        document["host"] = {"cpus": os.cpu_count(), "load_average": list(os.getloadavg())}
    return document


def calibration_path(state: Path, document: dict[str, Any]) -> Path:
    """Where a calibration is kept: by the fingerprints of its first comparison's two builds."""
    first = next(iter(document["comparisons"].values()))
    images = document["images"]
    fingerprints = [images[first[side]]["fingerprint"] for side in ("baseline", "candidate")]
    return state / CALIBRATION_DIR / calibration_name(fingerprints)


def write_calibration(document: dict[str, Any], state: Path, output: Path | None = None) -> Path:
    """Write the document to ``<state>/calibration/`` (and to ``output`` when given); return
    where it was kept."""
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    path = calibration_path(state, document)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text, mode=0o644)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(output, text, mode=0o644)
    return path


def find_speedup(
    state: Path, baseline: InterpreterBuild, candidate: InterpreterBuild
) -> dict[str, Any] | None:
    """The newest calibrated speedup of ``candidate``'s interpreter over ``baseline``'s (percent:
    estimate, low, high, and the file it came from), or None when no calibration measured
    that pair. For a JIT variant, pass the build with ``jit_enabled=True``."""
    directory = state / CALIBRATION_DIR
    if not directory.is_dir():
        return None
    files = sorted(directory.glob("*.json"), key=lambda path: path.stat().st_mtime, reverse=True)
    for path in files:
        try:
            document = parse_calibration(path.read_text())
        except (OSError, CalibrationError):
            continue
        found = interpreter_speedup(document, baseline.fingerprint(), candidate.fingerprint())
        if found is not None:
            return {**found, "file": str(path), "created": document.get("created", "")}
    return None
