"""``soakgate rollback``, ``drill`` and ``drills``, and their tables: the plan (``--dry-run``),
the measured result, the drills' RTO percentiles."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from soakgate.cli.options import LockWait, StageArg, lock_wait_seconds, warn
from soakgate.cli.output import console, safe
from soakgate.cli.project import current_project
from soakgate.core.names import digest_ref
from soakgate.core.rollback import RollbackPlan

if TYPE_CHECKING:  # the emergency path must not import the Docker SDK through app.drill
    from soakgate.app.drill import DrillStats
    from soakgate.app.rollback import RollbackResult


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.2f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def render_plan(plan: RollbackPlan) -> Table:
    table = Table(
        title=f"rollback plan for {safe(plan.stage)} (dry run: nothing changed)",
        title_justify="left",
    )
    table.add_column("")
    table.add_column("")
    table.add_row("path", safe(plan.path))
    table.add_row("from", safe(plan.from_release or "-"))
    table.add_row("to", safe(plan.to_release))
    for number, step in enumerate(plan.steps, 1):
        table.add_row(f"step {number}", safe(step))
    return table


def render_result(result: RollbackResult) -> Table:
    plan = result.plan
    title = (
        f"rolled {safe(plan.stage)} back to {safe(digest_ref(plan.to_release))} ({safe(plan.path)})"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("measure")
    table.add_column("value")
    budget = result.budget
    table.add_row("traffic restored after", _duration(result.seconds_to_restored))
    if budget is not None:
        style = "green" if budget.within else "red"
        table.add_row("RTO budget", _duration(budget.budget_seconds))
        table.add_row(
            "margin",
            f"[{style}]{_duration(budget.margin_seconds)} ({budget.share_percent:.3f} % used)[/]",
        )
    table.add_row("command done after", _duration(result.seconds_total))
    table.add_row("Pulumi reconciled", "yes" if result.reconciled else "no")
    verified = {True: "[green]passed[/]", False: "[red]failed[/]", None: "not run"}[result.verified]
    table.add_row("host checks", verified)
    if result.resumed:
        table.add_row("note", "finished an interrupted rollback")
    return table


def render_drill_stats(stats: list[DrillStats]) -> Table:
    table = Table(title="rollback drills: time to traffic restored", title_justify="left")
    for column in ("stage", "drills", "p50", "p90", "worst", "RTO budget", "within"):
        table.add_column(column)
    for row in stats:
        within = "[green]yes[/]" if row.within else "[red]no[/]"
        times = (_duration(row.p50), _duration(row.p90), _duration(row.worst))
        table.add_row(
            safe(row.stage), str(row.drills), *times, _duration(row.budget_seconds), within
        )
    if not stats:
        table.caption = "no drills yet: soakgate drill STAGE"
    return table


def rollback(
    stage: StageArg,
    to: Annotated[str | None, typer.Option("--to", help="Release to restore.")] = None,
    python: Annotated[
        str | None, typer.Option("--python", help="Restore the last good release of this Python.")
    ] = None,
    emergency: Annotated[
        bool, typer.Option("--emergency", help="Only flip to the warm slot (seconds).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; change nothing.")
    ] = False,
    reason: Annotated[str, typer.Option(help="Why, for the ledger.")] = "manual rollback",
    allow_bad: Annotated[
        bool, typer.Option("--allow-bad", help="With --to: restore a quarantined release.")
    ] = False,
    lock_wait: LockWait = None,
) -> None:
    """Roll a stage back to its last good release; timed against its RTO budget."""
    from soakgate.adapters.clock import process_started_at

    started = process_started_at()
    from soakgate.app.rollback import RollbackRequest
    from soakgate.app.rollback import rollback as run_rollback
    from soakgate.cli.stages import verify_quiet
    from soakgate.errors import ConfigError

    if allow_bad and (not to or reason == "manual rollback"):
        raise ConfigError(
            "--allow-bad needs --to RELEASE and --reason TEXT",
            hint="no rollback picks a quarantined release on its own",
        )
    request = RollbackRequest(
        stage,
        to,
        python,
        emergency,
        reason,
        allow_bad=allow_bad,
        lock_wait=lock_wait_seconds(lock_wait),
    )
    result = run_rollback(
        current_project(),
        request,
        started=started,
        dry_run=dry_run,
        verify=verify_quiet,
        warn=warn,
    )
    if dry_run:
        console.print(render_plan(result.plan))
        return
    console.print(render_result(result))


def drill(stage: StageArg) -> None:
    """Rehearse a rollback: deploy a slow copy of the running release, roll back, record the RTO."""
    from soakgate.app.deploy import DeployRequest
    from soakgate.app.deploy import deploy as run_deploy
    from soakgate.app.drill import drill as run_drill
    from soakgate.cli.stages import verify_quiet
    from soakgate.core.release import Release

    project = current_project()

    def deploy_release(release: Release) -> None:
        with console.status(f"deploying the drill release {release.short} to {stage}"):
            run_deploy(project, DeployRequest(stage, release.digest), warn=warn)

    result = run_drill(
        project, stage, deploy_release=deploy_release, verify=verify_quiet, warn=warn
    )
    console.print(
        f"drill on {stage}: {result.drill_release.short} (slow copy) deployed, then rolled back"
    )
    console.print(render_result(result.rollback))


def drills() -> None:
    """Recorded rollback drills: RTO percentiles per stage against the stage's budget."""
    from soakgate.adapters.state.ledger import LedgerStore
    from soakgate.app.drill import drill_stats

    project = current_project()
    with LedgerStore.open(project.state) as store:
        events = store.events()
    console.print(render_drill_stats(drill_stats(events, project.config)))
