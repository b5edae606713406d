"""The toolchain end to end: the pinned CLI, soakgate's language host, a dynamic provider
over the Docker SDK creating a real container — through the plain CLI and the Automation API.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from pulumi import automation as auto

from soakgate.core.doctor import PULUMI_VERSION

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def pulumi(
    env: dict[str, str], *args: str, cwd: Path = ROOT, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["pulumi", *args, "--non-interactive"]
        if args[0] not in ("version",)
        else ["pulumi", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"pulumi {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


@pytest.fixture
def throwaway_stack(toolchain_env: dict[str, str], stack_name: str) -> Iterator[str]:
    """A stack of the repo's own project on the file backend; removed with its config file."""
    pulumi(toolchain_env, "stack", "init", stack_name, "--secrets-provider", "passphrase")
    try:
        yield stack_name
    finally:
        pulumi(toolchain_env, "stack", "rm", stack_name, "--yes", "--force", check=False)
        (ROOT / f"Pulumi.{stack_name}.yaml").unlink(missing_ok=True)


def container_named(
    engine: docker.DockerClient, name: str
) -> docker.models.containers.Container | None:
    try:
        return engine.containers.get(name)
    except docker.errors.NotFound:
        return None


def test_pulumi_cli_is_the_pinned_version(toolchain_env: dict[str, str]) -> None:
    assert pulumi(toolchain_env, "version").stdout.strip() == PULUMI_VERSION


def test_plain_cli_up_preview_destroy_makes_and_removes_a_real_container(
    toolchain_env: dict[str, str],
    engine: docker.DockerClient,
    toolbox_image: str,
    throwaway_stack: str,
    cleanup_containers: list[str],
) -> None:
    name = f"soakgate-probe-{throwaway_stack}"
    cleanup_containers.append(name)
    pulumi(
        toolchain_env,
        "config",
        "set",
        "soakgate:probeImage",
        toolbox_image,
        "--stack",
        throwaway_stack,
    )

    up = pulumi(toolchain_env, "up", "--yes", "--stack", throwaway_stack)
    assert "+ 2 created" in up.stdout  # the stack and the container
    container = container_named(engine, name)
    assert container is not None and container.status == "running"
    assert container.labels["soakgate.stack"] == throwaway_stack
    outputs = pulumi(
        toolchain_env, "stack", "output", "probe_container_id", "--stack", throwaway_stack
    )
    assert outputs.stdout.strip() == container.id

    pulumi(toolchain_env, "preview", "--expect-no-changes", "--stack", throwaway_stack)

    pulumi(toolchain_env, "destroy", "--yes", "--stack", throwaway_stack)
    assert container_named(engine, name) is None


def test_automation_api_up_preview_destroy(
    toolchain_env: dict[str, str],
    engine: docker.DockerClient,
    toolbox_image: str,
    stack_name: str,
    cleanup_containers: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in toolchain_env.items():
        monkeypatch.setenv(key, value)
    name = f"soakgate-probe-{stack_name}"
    cleanup_containers.append(name)
    workspace = auto.LocalWorkspace(
        work_dir=str(ROOT),
        pulumi_command=auto.PulumiCommand(
            root=str(Path(toolchain_env["SOAKGATE_HOME"])), skip_version_check=True
        ),
    )
    stack = auto.Stack.create(stack_name, workspace)
    try:
        stack.set_config("soakgate:probeImage", auto.ConfigValue(toolbox_image))
        result = stack.up()
        assert result.summary.resource_changes == {"create": 2}
        container = container_named(engine, name)
        assert container is not None and container.status == "running"
        assert result.outputs["probe_container_id"].value == container.id

        preview = stack.preview(expect_no_changes=True)
        assert preview.change_summary == {"same": 2}

        stack.destroy()
        assert container_named(engine, name) is None
    finally:
        workspace.remove_stack(stack_name, force=True)
        (ROOT / f"Pulumi.{stack_name}.yaml").unlink(missing_ok=True)


def test_refresh_sees_a_container_removed_behind_pulumis_back(
    toolchain_env: dict[str, str],
    engine: docker.DockerClient,
    toolbox_image: str,
    throwaway_stack: str,
    cleanup_containers: list[str],
) -> None:
    name = f"soakgate-probe-{throwaway_stack}"
    cleanup_containers.append(name)
    pulumi(
        toolchain_env,
        "config",
        "set",
        "soakgate:probeImage",
        toolbox_image,
        "--stack",
        throwaway_stack,
    )
    pulumi(toolchain_env, "up", "--yes", "--stack", throwaway_stack)
    engine.containers.get(name).remove(force=True)

    refresh = pulumi(toolchain_env, "refresh", "--yes", "--stack", throwaway_stack)
    assert "deleted" in refresh.stdout
    pulumi(toolchain_env, "up", "--yes", "--stack", throwaway_stack)
    assert container_named(engine, name) is not None
    pulumi(toolchain_env, "destroy", "--yes", "--stack", throwaway_stack)
