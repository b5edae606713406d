"""``soakgate gates`` and ``soakgate promote``, and their gate table."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from soakgate.app.promote import GateReport
from soakgate.cli.options import (
    JsonFlag,
    LockWait,
    Overrides,
    lock_wait_seconds,
    needs_reason,
    warn,
)
from soakgate.cli.output import console, safe
from soakgate.cli.project import current_project
from soakgate.core.release import Release
from soakgate.errors import GateFailed

SourceArg = Annotated[str, typer.Argument(metavar="FROM", help="dev or staging")]
TargetArg = Annotated[str, typer.Argument(metavar="TO", help="staging or production")]


def render_gates(report: GateReport) -> Table:
    title = (
        f"gates {safe(report.source)} → {safe(report.target)} for {safe(report.release.short)}"
        f" (Python {safe(report.release.python)}): "
        + ("[green]pass[/]" if report.passed else "[red]refused[/]")
    )
    table = Table(title=title, title_justify="left")
    for column in ("gate", "threshold", "measured", "result", "evidence / what to do"):
        table.add_column(column, overflow="fold")  # paths and digests whole, off a TTY too
    for result in report.results:
        if result.passed:
            verdict = "[green]pass[/]"
        elif result.overridden_reason:
            verdict = f"[yellow]overridden[/]: {safe(result.overridden_reason)}"
        else:
            verdict = "[red]fail[/]"
        detail = result.evidence_file or ""
        if not result.passed and result.reasons:
            detail = "; ".join(result.reasons)
        table.add_row(
            safe(result.name), safe(result.threshold), safe(result.measured), verdict, safe(detail)
        )
    return table


def gates_json(report: GateReport) -> str:
    return json.dumps(
        {
            "source": report.source,
            "target": report.target,
            "release": report.release.digest,
            "passed": report.passed,
            "gates": [result.to_dict() for result in report.results],
        },
        indent=2,
    )


def gates(
    source: SourceArg,
    target: TargetArg,
    release: Annotated[
        str | None, typer.Option(help="Must be the release running in FROM.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """The gates between two stages for the release running in FROM; non-zero if any fails."""
    from soakgate.app.promote import gate_report

    report = gate_report(current_project(), source, target, release_ref=release)
    if as_json:
        print(gates_json(report))
    else:
        console.print(render_gates(report))
    if not report.passed:
        raise typer.Exit(GateFailed.exit_code)


def promote(
    source: SourceArg,
    target: TargetArg,
    override: Overrides = None,
    reason: Annotated[
        str | None, typer.Option(help="Why the override: kept on the ledger.")
    ] = None,
    soak: Annotated[
        bool, typer.Option(help="Start the soak monitor after a promotion to staging.")
    ] = True,
    allow_bad: Annotated[
        bool, typer.Option("--allow-bad", help="Promote a quarantined release (needs --reason).")
    ] = False,
    lock_wait: LockWait = None,
) -> None:
    """Promote the release running in FROM to TO by digest, through its gates."""
    from soakgate.app.deploy import DeployRequest
    from soakgate.app.deploy import deploy as run_deploy
    from soakgate.app.promote import promote as run_promote
    from soakgate.cli.progress import PulumiProgress
    from soakgate.cli.stages import verify_stage

    if override or allow_bad:
        needs_reason("--override" if override else "--allow-bad", reason)
    wait = lock_wait_seconds(lock_wait)
    project = current_project()

    def deploy_release(chosen: Release) -> None:
        with PulumiProgress(console, f"promoting to {target}") as progress:
            request = DeployRequest(
                target, chosen.digest, allow_bad=allow_bad, reason=reason or "", lock_wait=wait
            )
            run_deploy(project, request, on_event=progress, warn=warn)

    try:
        report = run_promote(
            project,
            source,
            target,
            overrides=dict.fromkeys(override or [], reason or ""),
            deploy_release=deploy_release,
        )
    except GateFailed as refused:
        if isinstance(refused.report, GateReport):
            console.print(render_gates(refused.report))
        raise
    console.print(render_gates(report))
    console.print(f"{target} runs {report.release.digest} (promoted from {source})")
    verify_stage(target)
    if soak and target == "staging":
        start_soak(target)


def start_soak(stage: str) -> None:
    """Start the soak of a release just promoted; the promotion stands when it cannot start."""
    from soakgate.app.soak.control import start_monitor
    from soakgate.errors import SoakgateError

    try:
        started = start_monitor(current_project(), stage)
    except SoakgateError as failed:
        warn(f"{failed.message}; the soak did not start: soakgate soak start {stage}")
        return
    console.print(
        f"soak monitor of {stage} started: pid {started.pid}, soak #{started.soak_id}"
        " (soakgate soak status)",
        highlight=False,
        markup=False,
    )
