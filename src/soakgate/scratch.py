"""Scratch copies of this checkout for the integration tests and the benchmarks: their own
state dir, Pulumi backend, ports and container namespace, so they never touch the checkout's
stages or each other's."""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import socket
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import docker

from soakgate.adapters.state.releases import StateDB
from soakgate.core.release import Release

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("dev", "staging", "production")
TEST_IMAGE = "soakgate-test/service"  # tests never move the checkout's image tags
# The sample services a scratch project can hold: the context under images/, and the
# soakgate.toml it starts from (the second one shares nothing with the first).
SERVICES = {
    "service": ROOT / "soakgate.toml",
    "plainsvc": ROOT / "images" / "plainsvc" / "soakgate.toml",
}


def past_gates(stage: str) -> tuple[str, ...]:
    """The options a test fixture adds to ``soakgate deploy`` into a gated stage: every gate
    bypassed, on the ledger as a bypass (the gates themselves are tested on their own)."""
    if stage == "dev":
        return ()
    return ("--override", "all", "--reason", "test fixture: its gates are tested elsewhere")


_HANDED_OUT: set[int] = set()  # a port given once is not given again by this process


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range, never one this process gave
    before: a port picked by binding 0 comes from that range, where any outgoing connection (a
    probe, the load generator) may take it before the stage's proxy binds it, and two stages of
    one project (or two projects of one test run) must not be given the same port before
    either binds it."""
    for _ in range(500):
        port = random.randint(20000, 32000)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError("no free port between 20000 and 32000 on 127.0.0.1")


@dataclass
class ScratchProject:
    root: Path
    env: dict[str, str]
    namespace: str
    ports: dict[str, int]

    @property
    def state(self) -> Path:
        return self.root / ".soakgate"

    def run(self, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv),
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def soakgate(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return self.run(str(ROOT / ".venv" / "bin" / "soakgate"), *args, timeout=timeout)

    def pulumi(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("pulumi", *args, "--non-interactive")

    def url(self, stage: str) -> str:
        return f"http://127.0.0.1:{self.ports[stage]}"

    def record(self, releases: list[Release]) -> None:
        with StateDB.open(self.state) as db:
            for release in releases:
                db.record_release(release)

    def admit(self, stage: str, release: Release, reason: str = "test fixture") -> None:
        """A passing gate decision for ``release`` into ``stage`` on the ledger, every gate
        bypassed with ``reason`` (what a plain ``pulumi up`` of a gated stage asks for)."""
        from soakgate.adapters.state.ledger import LedgerStore
        from soakgate.core.admission import GATE, decision_data, incoming

        gate = incoming(stage)
        assert gate is not None, f"{stage} has no incoming gate"
        with LedgerStore.open(self.state) as ledger:
            ledger.append(
                GATE,
                stage=stage,
                to_release=release.digest,
                data=decision_data(gate.transition, [], "test fixture", overrides={"all": reason}),
            )

    def stack_outputs(self, stage: str) -> dict[str, object]:
        result = self.pulumi("stack", "output", "--json", "--stack", stage)
        data: dict[str, object] = json.loads(result.stdout)
        return data

    def destroy(self, engine: docker.DockerClient) -> None:
        """Destroy every stack, then remove anything of this namespace that is left."""
        for stage in STAGES:
            if (
                self.state / "pulumi-state" / ".pulumi" / "stacks" / "soakgate" / f"{stage}.json"
            ).exists():
                self.pulumi("destroy", "--yes", "--stack", stage)
        for container in engine.containers.list(
            all=True, filters={"name": f"{self.namespace}-"}, ignore_removed=True
        ):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
        for network in engine.networks.list(
            names=[f"{self.namespace}-soakgate-{s}" for s in STAGES]
        ):
            with contextlib.suppress(docker.errors.APIError):
                network.remove()


def make_scratch(
    parent: Path,
    toolchain_env: dict[str, str],
    *,
    with_service: bool = False,
    service: str = "service",
) -> ScratchProject:
    """Copy the program, the host checks and the config into ``parent`` with fresh state;
    ``service`` names the sample (``"service"`` or ``"plainsvc"``) whose soakgate.toml the
    project gets, and whose context is copied ``with_service``."""
    root = parent / "project"
    root.mkdir(parents=True)
    for name in ("Pulumi.yaml", "pyproject.toml"):
        shutil.copy2(ROOT / name, root / name)
    # the accepted security findings of the sample's code, beside its soakgate.toml
    shutil.copy2(SERVICES[service].parent / "security-waivers.toml", root / "security-waivers.toml")
    shutil.copytree(ROOT / "infra", root / "infra", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        ROOT / "tests" / "hosts",
        root / "tests" / "hosts",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    if with_service:
        shutil.copytree(
            ROOT / "images" / service,
            root / "images" / service,
            ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", ".coverage"),
        )
    namespace = f"t{uuid.uuid4().hex[:8]}"
    ports = {stage: free_port() for stage in STAGES}
    text = SERVICES[service].read_text().replace('namespace = ""', f'namespace = "{namespace}"')
    text = text.replace(f'image = "soakgate/{service}"', f'image = "soakgate-test/{service}"')
    if "[stages." not in text:
        text += "".join(f"\n[stages.{stage}]\nport = {ports[stage]}\n" for stage in STAGES)
    for stage, default in (("dev", 18080), ("staging", 18081), ("production", 18082)):
        text = text.replace(f"port = {default}", f"port = {ports[stage]}")
    (root / "soakgate.toml").write_text(text)
    for stage in STAGES:
        (root / f"Pulumi.{stage}.yaml").write_text(f"config:\n  soakgate:stage: {stage}\n")
    state = root / ".soakgate"
    (state / "pulumi-state").mkdir(parents=True)
    env = dict(toolchain_env)
    env.update(
        SOAKGATE_HOME=str(state),
        PULUMI_BACKEND_URL=f"file://{state / 'pulumi-state'}",
        COLUMNS="200",
    )
    return ScratchProject(root, env, namespace, ports)


def releases_of(project: ScratchProject) -> dict[str, Release]:
    """The newest release of each Python series the project recorded: {"3.12": …, "3.14": …}."""
    with StateDB.open(project.state) as db:
        return {release.python_series: release for release in reversed(db.releases())}


def built_stages(
    parent: Path, toolchain_env: dict[str, str]
) -> tuple[ScratchProject, ScratchProject]:
    """A scratch project that built both releases, and one that knows them, for deploying."""
    build = make_scratch(parent / "build", toolchain_env, with_service=True)
    result = build.soakgate("build", timeout=1200)
    assert result.returncode == 0, result.stdout + result.stderr
    project = make_scratch(parent / "stages", toolchain_env)
    project.record(list(releases_of(build).values()))
    return build, project
