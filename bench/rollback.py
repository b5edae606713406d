"""Rollback benchmark (median of RUNS) on a production stage under steady load:
emergency rollback — command start → traffic restored (first healthy response of the restored
release through the proxy) and → command done (incl. Pulumi reconcile and testinfra) — and a
cold rollback (previous image present, not running) → traffic restored.

    .venv/bin/python -m bench.rollback      # writes bench/results/rollback.json
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from bench.common import summary, toolchain_env, write_result
from soakgate.adapters.docker import engine as docker_engine
from soakgate.adapters.load import LoadGenerator
from soakgate.adapters.stage.engine import StageEngine
from soakgate.core.proxy_conf import UpstreamTarget
from soakgate.scratch import built_stages, past_gates

GATES = past_gates("production")

RUNS = 5
TARGETS = {
    "emergency_restored_seconds": 1.0,
    "emergency_restored_must": 2.0,
    "emergency_done_seconds": 15.0,
    "cold_restored_seconds": 60.0,
}


def last_rollback(project: object) -> dict[str, float]:
    result = project.soakgate("history", "production", "--json")  # type: ignore[attr-defined]
    events = [event for event in json.loads(result.stdout) if event["kind"] == "rollback"]
    data: dict[str, float] = events[-1]["data"]
    return data


def clear_bad(project: object, python: str) -> None:
    """The bench rolls away from the same release again and again: lift its quarantine."""
    listed = json.loads(project.soakgate("releases", "--json").stdout)  # type: ignore[attr-defined]
    for release in listed:
        if release["quarantine"] and release["python"].startswith(python):
            done = project.soakgate(  # type: ignore[attr-defined]
                "releases", "--clear-bad", release["digest"], "--reason", "bench run"
            )
            assert done.returncode == 0, done.stderr


def flip_floor(project: object, samples: int = 10) -> list[float]:
    """The floor of a warm flip: rewrite the upstream file, SIGHUP to nginx's process,
    first healthy answer from the other slot through the proxy (no lock, no probe, no plan)."""
    engine = StageEngine(
        "production",
        project.state / "stages" / "production" / "proxy",  # type: ignore[attr-defined]
        project.ports["production"],  # type: ignore[attr-defined]
        project.namespace,  # type: ignore[attr-defined]
    )
    seconds = []
    for _ in range(samples):
        table = engine.read_slots()
        slot = table.inactive_name
        target = UpstreamTarget(slot, engine.names.app(slot), 8000, str(table.slot(slot).digest))
        started = time.monotonic()
        engine.write_upstream(target)
        engine.light.reload(engine.names.proxy)
        engine.wait_served_by(slot, "/health", 10.0, started)
        seconds.append(time.monotonic() - started)
        time.sleep(0.3)  # let nginx's old workers drain
    return seconds


def main() -> None:
    env = toolchain_env()
    engine = docker_engine.client()
    with tempfile.TemporaryDirectory(prefix="bench-rollback-") as work:
        build, project = built_stages(Path(work), env)
        restored, done, cold, failed, sent = [], [], [], 0, 0
        try:
            url = f"{project.url('production')}/version"
            for run in range(RUNS):
                clear_bad(project, "3.14")
                for python in ("3.12", "3.14"):
                    result = project.soakgate(
                        "deploy", "production", "--python", python, "--skip-verify", *GATES
                    )
                    assert result.returncode == 0, result.stderr
                with LoadGenerator(url, rate=50, max_seconds=120) as load:
                    result = project.soakgate(
                        "rollback", "production", "--emergency", "--reason", f"bench {run}"
                    )
                    assert result.returncode == 0, result.stdout + result.stderr
                failed += load.report.failed
                sent += load.report.sent
                data = last_rollback(project)
                restored.append(float(data["seconds_to_restored"]))
                done.append(float(data["seconds_total"]))
            floor = flip_floor(project)
            for run in range(RUNS):
                clear_bad(project, "3.14")
                for python in ("3.12", "3.14"):
                    assert (
                        project.soakgate(
                            "deploy", "production", "--python", python, "--skip-verify", *GATES
                        ).returncode
                        == 0
                    )
                warm = engine.containers.get(f"{project.namespace}-app-production-blue")
                warm.remove(force=True)  # the previous image is present, but nothing runs it
                result = project.soakgate(
                    "rollback", "production", "--python", "3.12", "--reason", f"cold {run}"
                )
                assert result.returncode == 0, result.stdout + result.stderr
                cold.append(float(last_rollback(project)["seconds_to_restored"]))
        finally:
            project.destroy(engine)
            build.destroy(engine)
    emergency = summary(restored)
    total = summary(done)
    cold_summary = summary(cold)
    write_result(
        "rollback",
        {
            "emergency_restored_seconds": emergency,
            "emergency_done_seconds": total,
            "warm_flip_floor_seconds": summary(floor),
            "cold_restored_seconds": cold_summary,
            "load_during_emergency": {"sent": sent, "failed": failed},
            "note": "restored = process start of `soakgate rollback` → first healthy response of"
            " the restored release through the proxy; done = command end incl. Pulumi reconcile and"
            " testinfra verification. Cold: previous image present, its container removed."
            " Floor: upstream rewritten + SIGHUP to nginx's process + first answer from the other"
            " slot, nothing else (no lock, no plan, no health probe).",
            "targets": TARGETS,
            "within_targets": {
                "emergency_restored": emergency["median"] <= TARGETS["emergency_restored_seconds"],
                "emergency_restored_must": emergency["median"]
                <= TARGETS["emergency_restored_must"],
                "emergency_done": total["median"] <= TARGETS["emergency_done_seconds"],
                "cold_restored": cold_summary["median"] <= TARGETS["cold_restored_seconds"],
                "no_failed_requests": failed == 0,
            },
        },
    )


if __name__ == "__main__":
    main()
