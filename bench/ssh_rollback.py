"""Emergency rollback on two SSH hosts next to the same rollback on this machine, in one run
(median of RUNS each, under steady load through every proxy): command start → the restored
release answering through the proxy of the *last* host (the rollback's own record of
``seconds_to_restored``). The SSH stage is ``staging`` on two test hosts (network namespaces
with their own engine and sshd, prepared with log rotation as docker-host.yml leaves them);
the local one is ``production`` on this machine's engine.

    .venv/bin/python -m bench.ssh_rollback   # writes bench/results/ssh_rollback.json (root)
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from bench.common import summary, toolchain_env, write_result
from bench.rollback import clear_bad
from soakgate.adapters.docker import engine as docker_engine
from soakgate.adapters.load import LoadGenerator
from soakgate.scratch import ScratchProject, built_stages, past_gates
from tests.faults.ssh_hosts import SshHosts

RUNS = 5
GOAL_RATIO = 1.5  # restored on the last SSH host within 1.5x the local figure


def last_rollback(project: ScratchProject, stage: str) -> dict[str, float]:
    result = project.soakgate("history", stage, "--json")
    events = [event for event in json.loads(result.stdout) if event["kind"] == "rollback"]
    data: dict[str, float] = events[-1]["data"]
    return data


def rollbacks(project: ScratchProject, stage: str, urls: list[str]) -> tuple[list[float], int, int]:
    """RUNS emergency rollbacks of ``stage`` from 3.14 to 3.12 under load through ``urls``:
    (seconds to restored each, requests sent, failed)."""
    restored, sent, failed = [], 0, 0
    for run in range(RUNS):
        clear_bad(project, "3.14")
        for python in ("3.12", "3.14"):
            result = project.soakgate(
                "deploy", stage, "--python", python, "--skip-verify", *past_gates(stage)
            )
            assert result.returncode == 0, result.stdout + result.stderr
        loads = [LoadGenerator(url, rate=40, max_seconds=120) for url in urls]
        for load in loads:
            load.start()
        try:
            result = project.soakgate("rollback", stage, "--emergency", "--reason", f"bench {run}")
        finally:
            for load in loads:
                load.stop()
        assert result.returncode == 0, result.stdout + result.stderr
        sent += sum(load.report.sent for load in loads)
        failed += sum(load.report.failed for load in loads)
        restored.append(float(last_rollback(project, stage)["seconds_to_restored"]))
    return restored, sent, failed


def main() -> None:
    env = toolchain_env()
    engine = docker_engine.client()
    with tempfile.TemporaryDirectory(prefix="bench-ssh-rollback-") as work:
        build, project = built_stages(Path(work), env)
        try:
            with SshHosts.make(2, log_rotation=True) as hosts:
                project.env.update(hosts.env)
                listed = "".join(f"\n    - {url}" for url in hosts.urls)
                (project.root / "Pulumi.staging.yaml").write_text(
                    f"config:\n  soakgate:stage: staging\n  soakgate:hosts:{listed}\n"
                )
                port = project.ports["staging"]
                remote, remote_sent, remote_failed = rollbacks(
                    project, "staging", [f"http://{host.address}:{port}/health" for host in hosts]
                )
                project.pulumi("destroy", "--yes", "--stack", "staging")
            local, local_sent, local_failed = rollbacks(
                project, "production", [f"{project.url('production')}/health"]
            )
        finally:
            project.destroy(engine)
            build.destroy(engine)
    on_hosts, here = summary(remote), summary(local)
    ratio = on_hosts["median"] / here["median"]
    write_result(
        "ssh_rollback",
        {
            "two_ssh_hosts_restored_seconds": on_hosts,
            "local_restored_seconds": here,
            "ratio_of_medians": round(ratio, 2),
            "load": {
                "ssh_hosts": {"sent": remote_sent, "failed": remote_failed},
                "local": {"sent": local_sent, "failed": local_failed},
            },
            "note": "restored = process start of `soakgate rollback STAGE --emergency` → the"
            " restored release answering through the proxy of the last host to switch; the hosts"
            " switch in parallel, each over its own SSH connection",
            "targets": {"ratio_of_medians": GOAL_RATIO},
            "within_targets": {
                "ratio": ratio <= GOAL_RATIO,
                "no_failed_requests": remote_failed == local_failed == 0,
            },
        },
    )


if __name__ == "__main__":
    main()
