"""``soakgate deploy``, ``status`` and ``verify``, and their table of stages."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from soakgate.app.stages import StageView
from soakgate.cli.options import (
    JsonFlag,
    LockWait,
    Overrides,
    StageArg,
    lock_wait_seconds,
    override_map,
    warn,
)
from soakgate.cli.output import console, err_console, safe
from soakgate.cli.project import current_project
from soakgate.core.config import STAGES
from soakgate.core.hosts import Host
from soakgate.core.names import short_digest
from soakgate.core.rollout import Rollout
from soakgate.errors import GateFailed, VerifyFailed

if TYPE_CHECKING:  # running the host checks is imported only by the commands that do
    from soakgate.app.verify import VerifyResult


def _release(digest: str | None, python: str) -> str:
    if not digest:
        return "-"
    short = short_digest(digest)
    return f"{short} (py {python})" if python else short


def render_stages(views: list[StageView]) -> Table:
    table = Table(title="stages", title_justify="left")
    for column in ("stage", "url", "active", "release", "health", "warm slot", "recorded"):
        table.add_column(column)
    for view in views:
        active = view.active_view
        warm = view.warm_view
        recorded = view.recorded_release or "-"
        drift = active is not None and view.recorded_release not in (None, active.digest)
        health_style = "green" if view.health.startswith("healthy") else "red"
        table.add_row(
            view.stage,
            view.url,
            view.active or "-",
            _release(active.digest, active.python) if active else "-",
            f"[{health_style}]{view.health}[/]" if view.deployed else view.health,
            f"{warm.name}: {_release(warm.digest, warm.python)}" if warm else "-",
            ("[yellow]" if drift else "") + short_digest(recorded),
        )
    return table


def stages_json(views: list[StageView]) -> str:
    return json.dumps([asdict(view) for view in views], indent=2)


def stage_views(stages: list[str]) -> list[StageView]:
    """The truth about each stage, read from the engine (one state database connection)."""
    from soakgate.adapters.state.releases import StateDB
    from soakgate.app.stages import view_stage

    project = current_project()
    with StateDB.open(project.state) as db:
        return [view_stage(project, stage, db) for stage in stages]


def rollout_option(limit: int | None, wait: float | None) -> Rollout | None:
    """``--limit N --wait S`` as a Rollout (None when neither is given); one line when wrong."""
    from soakgate.core.rollout import make_rollout
    from soakgate.core.validation import ConfigInvalid
    from soakgate.errors import ConfigError

    if limit is None and wait is None:
        return None
    if limit is None:
        raise ConfigError(
            "--wait needs --limit: hosts switched all at once have nothing to wait between",
            hint="e.g. soakgate deploy production --limit 1 --wait 30",
        )
    if limit < 1:
        raise ConfigError(
            f"--limit: expected a number of hosts >= 1, got {limit}",
            hint="e.g. soakgate deploy production --limit 1 --wait 30",
        )
    try:
        return make_rollout("--limit/--wait", limit, wait)
    except ConfigInvalid as exc:
        raise ConfigError(str(exc), hint="e.g. --limit 1 --wait 30") from None


def deploy(
    stage: StageArg,
    release: Annotated[str | None, typer.Option(help="Release digest, prefix or tag.")] = None,
    python: Annotated[str | None, typer.Option(help="Newest release of this Python.")] = None,
    skip_verify: Annotated[bool, typer.Option(help="Do not run the host checks.")] = False,
    allow_bad: Annotated[
        bool, typer.Option("--allow-bad", help="Deploy a quarantined release (needs --reason).")
    ] = False,
    reason: Annotated[
        str, typer.Option(help="Why --allow-bad or --override: kept on the ledger.")
    ] = "",
    override: Overrides = None,
    lock_wait: LockWait = None,
    limit: Annotated[
        int | None,
        typer.Option(help="On SSH hosts: switch this many hosts at a time (a canary by hosts)."),
    ] = None,
    wait: Annotated[
        float | None,
        typer.Option(help="With --limit: seconds each switched group is watched before the next."),
    ] = None,
) -> None:
    """Deploy a release to a stage: inactive slot, health gate, graceful switch. Staging and
    production take only a release their gates admit (see soakgate gates)."""
    from soakgate.app.deploy import DeployRequest
    from soakgate.app.deploy import deploy as run_deploy
    from soakgate.app.promote import GateReport
    from soakgate.cli.gates import render_gates
    from soakgate.cli.progress import PulumiProgress

    request = DeployRequest(
        stage,
        release,
        python,
        allow_bad,
        reason,
        lock_wait_seconds(lock_wait),
        overrides=override_map(override, reason),
        rollout=rollout_option(limit, wait),
    )
    try:
        with PulumiProgress(console, f"deploying to {stage}") as progress:
            chosen, _ = run_deploy(current_project(), request, on_event=progress, warn=warn)
    except GateFailed as refused:
        if isinstance(refused.report, GateReport):
            console.print(render_gates(refused.report))
        raise
    console.print(f"{stage} runs {chosen.digest} (Python {chosen.python})")
    console.print(render_stages(stage_views([stage])))
    if not skip_verify:
        verify_stage(stage)


def status(as_json: JsonFlag = False) -> None:
    """Per stage: URL, active slot, release, Python, health, warm slot — read from the engine."""
    views = stage_views(list(STAGES))
    if as_json:
        print(stages_json(views))
    else:
        console.print(render_stages(views))


def verify(stage: StageArg) -> None:
    """Run the pytest-testinfra host checks against a stage; JUnit XML in reports/."""
    verify_stage(stage)


def verify_stage(stage: str) -> None:
    """The host checks of ``stage``, with their progress and result; VerifyFailed if any fails."""
    with console.status(f"verifying {stage}"):
        result = host_checks(stage)
    if result.ok:
        console.print(
            f"[green]verify {safe(stage)}: {result.passed} checks passed[/] ({safe(result.junit)})"
        )
        return
    for name in result.failed:
        err_console.print(f"failed: {name}", markup=False, highlight=False)
    raise VerifyFailed(f"verify {stage}: {len(result.failed)} checks failed (see {result.junit})")


def host_checks(stage: str) -> VerifyResult:
    """Run tests/hosts against the stage's real slot table (or, for a stage on SSH hosts, each
    host over SSH); JUnit in reports/."""
    from soakgate.adapters.stage.stack_file import stack_hosts
    from soakgate.app.verify import run_host_checks, stage_plan

    project = current_project()
    hosts = stack_hosts(project.root, stage)
    if hosts:
        return ssh_host_checks(stage, hosts)
    (view,) = stage_views([stage])
    plan = stage_plan(view, project.config.service.port, project.config.service.health_path)
    return run_host_checks(project.root, plan, project.report(f"verify-{stage}.xml"))


def ssh_host_checks(stage: str, hosts: tuple[Host, ...]) -> VerifyResult:
    """The checks of each SSH host of ``stage``, over OpenSSH with soakgate's host keys and key
    (an ``ssh -F`` file of its own, removed afterwards)."""
    import tempfile
    from pathlib import Path

    from soakgate.adapters.private_files import write_private
    from soakgate.adapters.ssh.host_keys import SshSettings, render_ssh_config
    from soakgate.app.verify import hosts_plan, run_host_checks, stage_plan

    project = current_project()
    ports = [config.port for config in project.config.stages.values()]
    (view,) = stage_views([stage])  # the table the hosts agree on (a split fails the checks)
    service = project.config.service
    deployed = stage_plan(view, service.port, service.health_path) if view.deployed else None
    with tempfile.TemporaryDirectory(prefix="soakgate-ssh-") as work:
        ssh_config = Path(work) / "ssh_config"
        write_private(ssh_config, render_ssh_config(SshSettings.from_env()))
        plan = hosts_plan(hosts, ports, ssh_config, deployed)
        return run_host_checks(project.root, plan, project.report(f"verify-{stage}.xml"))


def verify_quiet(stage: str) -> tuple[bool, list[str]]:
    """The host checks' verdict and failures, for a command that reports them itself."""
    result = host_checks(stage)
    return result.ok, result.failed
