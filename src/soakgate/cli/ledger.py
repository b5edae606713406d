"""``soakgate history`` (the ledger as a table, newest last) and ``soakgate ledger verify`` /
``anchor``. None of them needs soakgate.toml: the ledger stays readable when it is broken.
``soakgate ledger import FILE`` adopts what the host-side runbooks did (it needs the project)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from soakgate.adapters.state.ledger import LedgerStore
from soakgate.cli.options import JsonFlag, LockWait, lock_wait_seconds, warn
from soakgate.cli.output import console, err_console
from soakgate.core.ledger import Event
from soakgate.core.names import short_digest
from soakgate.errors import ConfigError, LedgerBroken

SUMMARY_KEYS = (
    "path",
    "seconds_to_restored",
    "budget_seconds",
    "margin_seconds",
    "reason",
    "verified",
)


def _short(digest: str | None) -> str:
    return short_digest(digest) if digest else "-"


def _summary(event: Event) -> str:
    data = event.data
    parts = [f"{key}={data[key]}" for key in SUMMARY_KEYS if key in data and data[key] is not None]
    if "gates" in data:
        failed = [gate["name"] for gate in data["gates"] if not gate.get("passed")]
        parts.append("gates: " + (f"failed {', '.join(failed)}" if failed else "all passed"))
    if "seconds" in data:
        parts.append(f"seconds={data['seconds']}")
    if event.kind == "anchor":
        parts.append(f"anchored in {data.get('head')} after seq {data.get('after_seq')}")
    return "; ".join(parts)


def render_events(events: list[Event]) -> Table:
    table = Table(title="ledger", title_justify="left")
    for column in ("seq", "time", "kind", "stage", "from", "to", "actor", "details"):
        table.add_column(column)
    for event in events:
        cells = (
            str(event.seq),
            event.time[:19].replace("T", " "),
            event.kind,
            event.stage or "-",
            _short(event.from_release),
            _short(event.to_release),
            event.actor,
            _summary(event),
        )
        table.add_row(*(escape(cell) for cell in cells))  # user text is never markup
    if not events:
        table.caption = "no entries yet"
    return table


def events_json(events: list[Event]) -> str:
    return json.dumps([asdict(event) for event in events], indent=2)


REANCHOR_HINT = (
    "if a person can explain it (a restored backup, say), accept the ledger as it is:"
    " soakgate ledger anchor --reason TEXT (kept on the ledger)"
)


def run_verify(store: LedgerStore) -> None:
    """``soakgate ledger verify``: notes and problems printed, LedgerBroken (exit 10) on any.

    The error names what was found: the first seq that fails, or the kind of anchor problem
    (newest entries deleted, ledger emptied, chain rewritten, anchor missing or corrupt).
    """
    found = store.check()
    for note in found.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    if found.problems:
        for problem in found.problems:
            err_console.print(f"ledger: {problem}", markup=False, highlight=False, soft_wrap=True)
        first = found.problems[0]
        what = first.split(":")[0]
        if first.startswith("seq "):
            raise LedgerBroken(f"the ledger fails verification at {what}")
        raise LedgerBroken(f"the ledger fails verification: {what}", hint=REANCHOR_HINT)
    anchored = f", head anchored in {found.head_path}" if found.head_path else ""
    console.print(
        f"[green]ledger intact: {len(found.events)} entries, hash chain verified[/]"
        + escape(anchored),
        soft_wrap=True,
    )


def run_anchor(store: LedgerStore, reason: str) -> None:
    """``soakgate ledger anchor --reason TEXT``: accept the stored chain, re-anchor its head."""
    event = store.reanchor(reason)
    console.print(
        escape(f"ledger re-anchored at seq {event.seq} ({event.actor}: {reason})"),
        soft_wrap=True,
    )


def history(
    stage: Annotated[str | None, typer.Argument(help="Only this stage.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The ledger: every build, deploy, promotion, override, rollback and drill."""
    with LedgerStore.open() as store:
        events = store.events(stage)
    if as_json:
        print(events_json(events))
    else:
        console.print(render_events(events))


ledger_app = typer.Typer(help="The tamper-evident ledger.", no_args_is_help=True)


@ledger_app.command("verify")
def ledger_verify() -> None:
    """Check the ledger: an edited, deleted, reordered or truncated entry, or a rewritten chain,
    is named (the chain's head is also kept outside SQLite, in ledger.head)."""
    with LedgerStore.open() as store:
        run_verify(store)


@ledger_app.command("anchor")
def ledger_anchor(
    reason: Annotated[str, typer.Option(help="Why the ledger is accepted as it is.")],
) -> None:
    """Accept the ledger as it is now (after checking it) and anchor its head again."""
    if not reason.strip():
        raise ConfigError("--reason must say why", hint="it is kept on the ledger")
    with LedgerStore.open() as store:
        run_anchor(store, reason)


@ledger_app.command("import")
def ledger_import(
    record_file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            help="What rollback.yml wrote (record_file), or a host's runbook.log.",
            show_default=False,
        ),
    ],
    lock_wait: LockWait = None,
) -> None:
    """Put the flips the host-side runbooks made on the ledger: each run once (a second import
    adds nothing), finished as a rollback (stack reconciled, hosts verified)."""
    from soakgate.app.runbook_import import check_stages, import_runs
    from soakgate.cli.project import current_project
    from soakgate.cli.rollback import render_result
    from soakgate.cli.stages import verify_quiet
    from soakgate.core.runbook_records import RecordInvalid, parse_records

    try:
        text = record_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{record_file}: unreadable ({getattr(exc, 'strerror', None) or exc})",
            hint="give the file rollback.yml wrote (its record_file, by default"
            " ./soakgate-runbook.jsonl where ansible-playbook ran)",
        ) from None
    try:
        runs = parse_records(text, str(record_file))
    except RecordInvalid as exc:
        raise ConfigError(
            f"{exc}: nothing imported",
            hint="the file holds one JSON line per host from rollback.yml; fix or drop that line",
        ) from None
    if not runs:
        raise ConfigError(f"{record_file}: no runbook record in it", hint="nothing to import")
    project = current_project()
    check_stages(project, runs, str(record_file))
    for done in import_runs(
        project, runs, verify=verify_quiet, lock_wait=lock_wait_seconds(lock_wait), warn=warn
    ):
        if done.skipped:
            ids = ", ".join(run.run for run in done.skipped)
            then = "; its rollback is finished now" if done.result and not done.imported else ""
            console.print(escape(f"{done.stage}: already imported: {ids}{then}"))
        for run in done.imported:
            where = ", ".join(run.flipped) or "its host"
            left = f" (not on {', '.join(run.left)})" if run.left else ""
            console.print(
                escape(
                    f"{done.stage}: imported run {run.run}: {_short(run.from_release)} →"
                    f" {_short(run.to_release)} on {where}{left}, {run.seconds:.2f} s"
                )
            )
        if done.stale:
            stale = f"{done.stage} no longer serves what the newest run restored"
            warn(f"{stale}: on the ledger as not reconciled; nothing switched")
        if done.result is not None:
            console.print(render_result(done.result))
