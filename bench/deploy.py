"""Deploy benchmark (median of RUNS): no-change `pulumi up` per stage, and a deploy of a new
release from command to switched, with the image present.

    .venv/bin/python -m bench.deploy      # writes bench/results/deploy.json
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import summary, timed, toolchain_env, write_result
from soakgate.adapters.docker import engine as docker_engine
from soakgate.scratch import STAGES, built_stages, past_gates, releases_of

GATES = past_gates("staging")

RUNS = 5
TARGETS = {"no_change_up_seconds": 3.0, "deploy_seconds": 15.0}


def main() -> None:
    env = toolchain_env()
    engine = docker_engine.client()
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as work:
        build, project = built_stages(Path(work), env)
        releases = releases_of(build)
        try:
            for stage in STAGES:
                result = project.soakgate(
                    "deploy", stage, "--python", "3.12", "--skip-verify", *past_gates(stage)
                )
                assert result.returncode == 0, result.stderr
            no_change = {}
            for stage in STAGES:
                runs = []
                for _ in range(RUNS):
                    runs.append(
                        timed(lambda stage=stage: project.pulumi("up", "--yes", "--stack", stage))
                    )
                no_change[stage] = summary(runs)
            deploys = []
            for run in range(RUNS):
                python = "3.14" if run % 2 == 0 else "3.12"
                # a new release each time: alternate, and make the warm slot stale first so it is a
                # real deploy (start, health gate, switch), not a flip back to the warm slot
                warm = [
                    c
                    for c in engine.containers.list(filters={"name": project.namespace})
                    if "staging" in c.name
                ]
                for container in warm:
                    if container.labels.get("soakgate.release") == releases[python].digest:
                        container.remove(force=True)
                project.pulumi("refresh", "--yes", "--stack", "staging")
                seconds = timed(
                    lambda python=python: project.soakgate(
                        "deploy", "staging", "--python", python, "--skip-verify", *GATES
                    )
                )
                deploys.append(seconds)
        finally:
            project.destroy(engine)
            build.destroy(engine)
    deploy = summary(deploys)
    write_result(
        "deploy",
        {
            "no_change_up_seconds": no_change,
            "deploy_seconds": deploy,
            "deploy_note": "`soakgate deploy staging --python X --skip-verify`: command start to"
            " switched (new container started, health gate passed, proxy reloaded)",
            "targets": TARGETS,
            "within_targets": {
                "no_change_up": all(
                    s["median"] <= TARGETS["no_change_up_seconds"] for s in no_change.values()
                ),
                "deploy": deploy["median"] <= TARGETS["deploy_seconds"],
            },
        },
    )


if __name__ == "__main__":
    main()
