"""A Pulumi program that raises: its traceback is shown, ``pulumi up`` exits non-zero, and
nothing is left half-created (whatever was made is in the state, so destroy removes it)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import docker
import pytest

pytestmark = pytest.mark.integration

PROGRAM = """
import pulumi
from soakgate.pulumi.container import Container, ContainerArgs

def configure(image):
    Container("first", ContainerArgs(image=image, name="{name}", command=["sleep", "3600"],
                                     labels={{"soakgate.stack": pulumi.get_stack()}}))
    raise RuntimeError("planted failure in the program")

configure(pulumi.Config().require("image"))
"""


def run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pulumi", *args, "--non-interactive"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_failing_program_shows_traceback_and_leaves_nothing_orphaned(
    toolchain_env: dict[str, str],
    engine: docker.DockerClient,
    toolbox_image: str,
    stack_name: str,
    cleanup_containers: list[str],
    tmp_path: Path,
) -> None:
    name = f"soakgate-fail-{stack_name}"
    cleanup_containers.append(name)
    (tmp_path / "Pulumi.yaml").write_text("name: failing\nruntime: python\n")
    (tmp_path / "__main__.py").write_text(PROGRAM.format(name=name))
    assert (
        run(
            toolchain_env, tmp_path, "stack", "init", stack_name, "--secrets-provider", "passphrase"
        ).returncode
        == 0
    )
    try:
        assert run(toolchain_env, tmp_path, "config", "set", "image", toolbox_image).returncode == 0
        up = run(toolchain_env, tmp_path, "up", "--yes")
        output = up.stdout + up.stderr
        assert up.returncode != 0
        assert "RuntimeError: planted failure in the program" in output
        assert "line 8, in configure" in output
        assert "Traceback (most recent call last)" in output

        exported = run(toolchain_env, tmp_path, "stack", "export")
        state = json.loads(exported.stdout)
        recorded = {
            resource["outputs"].get("container_id")
            for resource in state["deployment"].get("resources", [])
            if resource["type"].startswith("pulumi-python:dynamic")
        }
        existing = {
            c.id
            for c in engine.containers.list(
                all=True, filters={"label": f"soakgate.stack={stack_name}"}
            )
        }
        assert existing <= recorded, "a container exists that the stack state does not know"

        assert run(toolchain_env, tmp_path, "destroy", "--yes").returncode == 0
        assert (
            engine.containers.list(all=True, filters={"label": f"soakgate.stack={stack_name}"})
            == []
        )
    finally:
        run(toolchain_env, tmp_path, "stack", "rm", stack_name, "--yes", "--force")
