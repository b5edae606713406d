"""The ``soakgate`` command: one function per subcommand; errors become one line and an exit."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from soakgate.adapters.envfile import find_project, load_env
from soakgate.cli.boundary import run_app
from soakgate.cli.output import console, err_console, safe
from soakgate.cli.project import project_root
from soakgate.errors import (
    ConfigError,
    GateFailed,
    VerifyFailed,
)

app = typer.Typer(
    name="soakgate",
    help="Ship a Python web service through dev, staging and production; bring it back fast.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_state = {"verbose": False}


def _register_subcommands() -> None:
    from soakgate.cli.images import images_app

    app.add_typer(images_app, name="images", help="Base images made offline.")
    from soakgate.cli.evidence import evidence_app
    from soakgate.cli.soak import soak_app

    app.add_typer(evidence_app, name="evidence", help="Evidence for the promotion gates.")

    app.add_typer(soak_app, name="soak", help="Soak monitoring of a stage.")


_register_subcommands()


@app.callback()
def _options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks.")] = False,
) -> None:
    _state["verbose"] = verbose


@app.command()
def doctor(
    with_test_tools: Annotated[
        bool,
        typer.Option("--with-test-tools", help="Also require what only the tests need (Chromium)."),
    ] = False,
) -> None:
    """Check every prerequisite of every command, each with its fix; non-zero if one is missing."""
    from soakgate.adapters.toolchain_probe import read_toolchain
    from soakgate.app.doctor import doctor as run_doctor
    from soakgate.cli.doctor import missing_lines, render_doctor

    report = run_doctor(project_root(), read_toolchain, with_test_tools=with_test_tools)
    console.print(render_doctor(report))
    if report.missing:
        error, hint = missing_lines(report)
        err_console.print(error, markup=False, highlight=False)
        err_console.print(hint, markup=False, highlight=False)
    raise typer.Exit(report.exit_code)


@app.command()
def up(
    python: Annotated[str, typer.Option(help="Which release to run in dev.")] = "3.14",
) -> None:
    """The main job on local defaults: base images, both service images, dev deployed."""
    from soakgate.adapters.config_file import load_config
    from soakgate.adapters.images.proxy_image import make_proxy_image
    from soakgate.adapters.images.rootfs import DebootstrapBuilder
    from soakgate.adapters.state.releases import state_dir
    from soakgate.app.bases import make_bases
    from soakgate.app.build import build as run_build
    from soakgate.app.deploy import DeployRequest
    from soakgate.app.deploy import deploy as run_deploy
    from soakgate.cli.progress import PulumiProgress
    from soakgate.cli.stages import render_stages

    project = project_root()
    config = load_config(project)
    if python not in config.images.pythons:
        raise ConfigError(
            f"--python {python}: not one of the built Pythons ({', '.join(config.images.pythons)})",
            hint="pick one of them, or add it to [images] pythons in soakgate.toml",
        )
    with console.status("base images (debootstrap + docker import; minutes the first time)"):
        results = make_bases(
            config.images.pythons,
            config.images.base_prefix,
            None,
            False,
            builder=DebootstrapBuilder(),
        )
        for result in results:
            if result.error is not None:
                raise result.error
        make_proxy_image()
    console.print("base images: " + ", ".join(f"{r.reference} ({r.state})" for r in results))
    with PulumiProgress(console, "building images") as progress:
        built = run_build(project, on_event=progress)
    for image in built:
        console.print(f"Python {image.python}: {image.digest}")
    with PulumiProgress(console, "deploying to dev") as progress:
        run_deploy(
            project,
            config,
            state_dir(),
            DeployRequest("dev", python=python),
            on_event=progress,
            warn=_warn,
        )
    console.print(render_stages(_views(["dev"])))
    _verify("dev")


@app.command()
def build() -> None:
    """Build the service's images for every configured Python (through the dev stack)."""
    from soakgate.app.build import build as run_build
    from soakgate.cli.progress import PulumiProgress

    with PulumiProgress(console, "building images") as progress:
        built = run_build(project_root(), on_event=progress)
    for image in built:
        console.print(f"Python {image.python}: {image.digest}  {' '.join(image.tags)}")


@app.command()
def releases(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    mark_bad: Annotated[
        str | None, typer.Option("--mark-bad", metavar="RELEASE", help="Quarantine a release.")
    ] = None,
    clear_bad: Annotated[
        str | None,
        typer.Option("--clear-bad", metavar="RELEASE", help="Lift a release's quarantine."),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (with --mark-bad/--clear-bad).")] = "",
) -> None:
    """List the releases (built images) soakgate knows, newest first, with their quarantine."""
    from soakgate.adapters.state.ledger import LedgerStore
    from soakgate.adapters.state.releases import StateDB, state_dir
    from soakgate.cli.releases import releases_json, render_releases
    from soakgate.core.rollback import QUARANTINE, bad_marks

    if mark_bad and clear_bad:
        raise ConfigError("give one of --mark-bad or --clear-bad")
    change = mark_bad or clear_bad
    if change and not reason.strip():
        raise ConfigError(
            f"--{'mark' if mark_bad else 'clear'}-bad needs --reason TEXT",
            hint="the reason is kept on the ledger",
        )
    with StateDB.open() as db:
        if change:
            digest = db.require_release(change).digest
        found = db.releases()
    with LedgerStore.open(state_dir()) as ledger:
        if change:
            ledger.append(
                "override",
                stage=None,
                from_release=None,
                to_release=digest,
                data={
                    "gate": QUARANTINE,
                    "action": "mark" if mark_bad else "clear",
                    "reason": reason,
                },
            )
        marks = bad_marks(ledger.events())
    if as_json:
        print(releases_json(found, marks))
    else:
        console.print(render_releases(found, marks))


def _views(stages: list[str]) -> list[Any]:
    from soakgate.adapters.config_file import load_config
    from soakgate.adapters.state.releases import StateDB, state_dir
    from soakgate.app.stages import view_stage

    project = project_root()
    config = load_config(project)
    with StateDB.open() as db:
        return [view_stage(project, config, state_dir(), stage, db) for stage in stages]


@app.command()
def deploy(
    stage: Annotated[str, typer.Argument(help="dev, staging or production")],
    release: Annotated[str | None, typer.Option(help="Release digest, prefix or tag.")] = None,
    python: Annotated[str | None, typer.Option(help="Newest release of this Python.")] = None,
    skip_verify: Annotated[bool, typer.Option(help="Do not run the host checks.")] = False,
    allow_bad: Annotated[
        bool, typer.Option("--allow-bad", help="Deploy a quarantined release (needs --reason).")
    ] = False,
    reason: Annotated[str, typer.Option(help="Why --allow-bad: kept on the ledger.")] = "",
    lock_wait: Annotated[
        float | None, typer.Option(help="Seconds to wait for the stage lock (default: refuse).")
    ] = None,
) -> None:
    """Deploy a release to a stage: inactive slot, health gate, graceful switch."""
    from soakgate.adapters.config_file import load_config
    from soakgate.adapters.state.releases import state_dir
    from soakgate.app.deploy import DeployRequest
    from soakgate.app.deploy import deploy as run_deploy
    from soakgate.cli.progress import PulumiProgress
    from soakgate.cli.stages import render_stages

    project = project_root()
    request = DeployRequest(stage, release, python, allow_bad, reason, _wait(lock_wait))
    with PulumiProgress(console, f"deploying to {stage}") as progress:
        chosen, _ = run_deploy(
            project, load_config(project), state_dir(), request, on_event=progress, warn=_warn
        )
    console.print(f"{stage} runs {chosen.digest} (Python {chosen.python})")
    console.print(render_stages(_views([stage])))
    if not skip_verify:
        _verify(stage)


def _wait(seconds: float | None) -> float | None:
    """A --lock-wait value: finite and not negative."""
    if seconds is not None and not 0 <= seconds < float("inf"):
        raise ConfigError(
            f"--lock-wait: should be a number of seconds >= 0, got {seconds}",
            hint="e.g. --lock-wait 30",
        )
    return seconds


def _warn(message: str) -> None:
    err_console.print(f"warning: {message}", markup=False, highlight=False)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Per stage: URL, active slot, release, Python, health, warm slot — read from the engine."""
    from soakgate.cli.stages import render_stages, stages_json
    from soakgate.core.config import STAGES

    views = _views(list(STAGES))
    if as_json:
        print(stages_json(views))
    else:
        console.print(render_stages(views))


@app.command()
def verify(stage: Annotated[str, typer.Argument(help="dev, staging or production")]) -> None:
    """Run the pytest-testinfra host checks against a stage; JUnit XML in reports/."""
    _verify(stage)


def _verify(stage: str) -> None:
    from soakgate.core.config import check_stage

    check_stage(stage)
    with console.status(f"verifying {stage}"):
        result = _host_checks(project_root(), stage)
    if result.ok:
        console.print(
            f"[green]verify {safe(stage)}: {result.passed} checks passed[/] ({safe(result.junit)})"
        )
        return
    for name in result.failed:
        err_console.print(f"failed: {name}", markup=False, highlight=False)
    raise VerifyFailed(f"verify {stage}: {len(result.failed)} checks failed (see {result.junit})")


def _host_checks(project: Path, stage: str) -> Any:
    """Run tests/hosts against the stage's real slot table; JUnit in reports/."""
    from soakgate.adapters.config_file import load_config
    from soakgate.app.verify import run_host_checks, stage_plan

    config = load_config(project)
    (view,) = _views([stage])
    plan = stage_plan(view, config.service.port, config.service.health_path)
    return run_host_checks(project, plan, project / "reports" / f"verify-{stage}.xml")


@app.command()
def gates(
    source: Annotated[str, typer.Argument(metavar="FROM", help="dev or staging")],
    target: Annotated[str, typer.Argument(metavar="TO", help="staging or production")],
    release: Annotated[
        str | None, typer.Option(help="Must be the release running in FROM.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The gates between two stages for the release running in FROM; non-zero if any fails."""
    from soakgate.adapters.config_file import load_config
    from soakgate.adapters.state.releases import state_dir
    from soakgate.app.promote import gate_report
    from soakgate.cli.gates import gates_json, render_gates

    project = project_root()
    report = gate_report(
        project, load_config(project), state_dir(), source, target, release_ref=release
    )
    if as_json:
        print(gates_json(report))
    else:
        console.print(render_gates(report))
    if not report.passed:
        raise typer.Exit(GateFailed.exit_code)


@app.command()
def promote(
    source: Annotated[str, typer.Argument(metavar="FROM", help="dev or staging")],
    target: Annotated[str, typer.Argument(metavar="TO", help="staging or production")],
    override: Annotated[
        list[str] | None, typer.Option("--override", help="Pass this gate anyway (repeatable).")
    ] = None,
    reason: Annotated[
        str | None, typer.Option(help="Why the override: kept on the ledger.")
    ] = None,
    soak: Annotated[
        bool, typer.Option(help="Start the soak monitor after a promotion to staging.")
    ] = True,
    allow_bad: Annotated[
        bool, typer.Option("--allow-bad", help="Promote a quarantined release (needs --reason).")
    ] = False,
    lock_wait: Annotated[
        float | None, typer.Option(help="Seconds to wait for the stage lock (default: refuse).")
    ] = None,
) -> None:
    """Promote the release running in FROM to TO by digest, through its gates."""
    from soakgate.adapters.config_file import load_config
    from soakgate.adapters.state.releases import state_dir
    from soakgate.app.deploy import DeployRequest
    from soakgate.app.deploy import deploy as run_deploy
    from soakgate.app.promote import GateReport
    from soakgate.app.promote import promote as run_promote
    from soakgate.cli.gates import render_gates
    from soakgate.cli.progress import PulumiProgress

    if (override or allow_bad) and not reason:
        raise ConfigError(
            f"{'--override' if override else '--allow-bad'} needs --reason TEXT",
            hint="the reason is kept on the ledger",
        )
    wait = _wait(lock_wait)
    project = project_root()
    config = load_config(project)
    state = state_dir()

    def deploy_release(chosen: Any) -> None:
        with PulumiProgress(console, f"promoting to {target}") as progress:
            request = DeployRequest(
                target, chosen.digest, allow_bad=allow_bad, reason=reason or "", lock_wait=wait
            )
            run_deploy(project, config, state, request, on_event=progress, warn=_warn)

    try:
        report: GateReport = run_promote(
            project,
            config,
            state,
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
    _verify(target)


@app.command()
def rollback(
    stage: Annotated[str, typer.Argument(help="dev, staging or production")],
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
    lock_wait: Annotated[
        float | None, typer.Option(help="Seconds to wait for the stage lock (default: refuse).")
    ] = None,
) -> None:
    """Roll a stage back to its last good release; timed against its RTO budget."""
    from soakgate.adapters.clock import process_started_at

    started = process_started_at()
    from soakgate.adapters.config_file import load_config
    from soakgate.adapters.state.releases import state_dir
    from soakgate.app.rollback import RollbackRequest
    from soakgate.app.rollback import rollback as run_rollback
    from soakgate.cli.rollback import render_plan, render_result

    project = project_root()
    config = load_config(project)
    if allow_bad and (not to or reason == "manual rollback"):
        raise ConfigError(
            "--allow-bad needs --to RELEASE and --reason TEXT",
            hint="no rollback picks a quarantined release on its own",
        )
    request = RollbackRequest(
        stage, to, python, emergency, reason, allow_bad=allow_bad, lock_wait=_wait(lock_wait)
    )
    result = run_rollback(
        project,
        config,
        state_dir(),
        request,
        started=started,
        dry_run=dry_run,
        verify=lambda name: _verify_quiet(project, name),
        warn=_warn,
    )
    if dry_run:
        console.print(render_plan(result.plan))
        return
    console.print(render_result(result))


def _verify_quiet(project: Path, stage: str) -> tuple[bool, list[str]]:
    result = _host_checks(project, stage)
    return result.ok, result.failed


@app.command()
def drill(stage: Annotated[str, typer.Argument(help="dev, staging or production")]) -> None:
    """Rehearse a rollback: deploy a slow copy of the running release, roll back, record the RTO."""
    from soakgate.adapters.config_file import load_config
    from soakgate.adapters.state.releases import state_dir
    from soakgate.app.deploy import DeployRequest
    from soakgate.app.deploy import deploy as run_deploy
    from soakgate.app.drill import drill as run_drill
    from soakgate.cli.rollback import render_result

    project = project_root()
    config = load_config(project)
    state = state_dir()

    def deploy_release(release: Any) -> None:
        with console.status(f"deploying the drill release {release.short} to {stage}"):
            run_deploy(project, config, state, DeployRequest(stage, release.digest), warn=_warn)

    result = run_drill(
        project,
        config,
        state,
        stage,
        deploy_release=deploy_release,
        verify=lambda name: _verify_quiet(project, name),
        warn=_warn,
    )
    console.print(
        f"drill on {stage}: {result.drill_release.short} (slow copy) deployed, then rolled back"
    )
    console.print(render_result(result.rollback))


@app.command()
def drills() -> None:
    """Recorded rollback drills: RTO percentiles per stage against the stage's budget."""
    from soakgate.adapters.config_file import load_config
    from soakgate.adapters.state.ledger import LedgerStore
    from soakgate.app.drill import drill_stats
    from soakgate.cli.rollback import render_drill_stats

    with LedgerStore.open() as store:
        events = store.events()
    console.print(render_drill_stats(drill_stats(events, load_config(project_root()))))


@app.command()
def history(
    stage: Annotated[str | None, typer.Argument(help="Only this stage.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The ledger: every build, deploy, promotion, override, rollback and drill."""
    from soakgate.adapters.state.ledger import LedgerStore
    from soakgate.cli.ledger import events_json, render_events

    with LedgerStore.open() as store:
        events = store.events(stage)
    if as_json:
        print(events_json(events))
    else:
        console.print(render_events(events))


ledger_app = typer.Typer(help="The tamper-evident ledger.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")


@ledger_app.command("verify")
def ledger_verify() -> None:
    """Check the ledger: an edited, deleted, reordered or truncated entry, or a rewritten chain,
    is named (the chain's head is also kept outside SQLite, in ledger.head)."""
    from soakgate.adapters.state.ledger import LedgerStore
    from soakgate.cli.ledger import run_verify

    with LedgerStore.open() as store:
        run_verify(store)


@ledger_app.command("anchor")
def ledger_anchor(
    reason: Annotated[str, typer.Option(help="Why the ledger is accepted as it is.")],
) -> None:
    """Accept the ledger as it is now (after checking it) and anchor its head again."""
    from soakgate.adapters.state.ledger import LedgerStore
    from soakgate.cli.ledger import run_anchor

    if not reason.strip():
        raise ConfigError("--reason must say why", hint="it is kept on the ledger")
    with LedgerStore.open() as store:
        run_anchor(store, reason)


def main() -> None:
    """Console-script entry point."""
    load_env(find_project())
    sys.exit(run_app(lambda: app(standalone_mode=False), lambda: bool(_state["verbose"])))
