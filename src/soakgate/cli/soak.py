"""``soakgate soak …``: start, stop and run the soak monitor of a stage; its status, report and
the verdict file the production gate reads.

    soakgate soak start staging --policy rollback   # detached; log in .soakgate/soak/staging.log
    soakgate soak status                            # progress, SLOs, verdict, gaps, monitor
    soakgate soak report staging -o soak.html
    soakgate soak verdict sha256:… -o evidence/soak.json
    soakgate soak stop staging                      # the soak stays open; --end ends it

Registered in ``soakgate.cli.main`` as ``app.add_typer(soak_app, name="soak")``; also runnable
as ``python -m soakgate.cli.soak`` (that is how ``start`` spawns the monitor).
"""

from __future__ import annotations

import json
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from soakgate.cli.boundary import run_app
from soakgate.cli.options import StageArg
from soakgate.cli.output import console, safe
from soakgate.cli.project import current_project
from soakgate.core.names import short_digest
from soakgate.core.soak import BREACHED, HEALTHY, format_duration, plural
from soakgate.core.validation import ConfigInvalid, parse_duration
from soakgate.errors import ConfigError

if TYPE_CHECKING:
    from soakgate.app.soak.monitor import Tick
    from soakgate.app.soak.status import SoakStatus

soak_app = typer.Typer(
    help="Soak a stage: probe it, judge it against the SLOs, act on a breach.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

STATE_STYLES = {HEALTHY: "bold green", BREACHED: "bold red", "not enough data": "bold yellow"}
PolicyOption = Annotated[
    str | None,
    typer.Option(
        "--policy", help="On a breach: rollback (flip to the warm slot) or alert (record only)."
    ),
]


def _seconds(option: str, text: str | None) -> float | None:
    """``"90"``, ``"90s"``, ``"15m"``, ``"2h"`` → seconds: finite and above 0 (``nan`` would
    never stop the monitor, ``-1`` or ``0`` stop it before its first probe)."""
    if text is None:
        return None
    seconds: float | None = None
    if re.match(r"[0-9]{1,9}(?:\.[0-9]{1,9})?\Z", text.strip()):
        seconds = float(text)
    else:
        try:
            seconds = float(parse_duration(option, text))
        except ConfigInvalid:
            seconds = None
    if seconds is None or not 0 < seconds < float("inf"):
        raise ConfigError(
            f"{option}: should be a positive duration like 90, 90s, 15m or 2h, got {text!r}",
            hint=f"e.g. {option} 15m",
        )
    return seconds


def _count(option: str, value: int | None) -> int | None:
    """A positive whole number of an option (``--max-samples 0`` would never probe)."""
    if value is not None and value < 1:
        raise ConfigError(f"{option}: should be a whole number of at least 1, got {value}")
    return value


def _utc(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _log(stage: str, message: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"{stamp} soak {stage}: {message}", flush=True)


# --- commands ----------------------------------------------------------------------------------


@soak_app.command()
def start(stage: StageArg = "staging", policy: PolicyOption = None) -> None:
    """Start the stage's soak monitor in the background (resumes its open soak)."""
    from soakgate.app.soak.control import start_monitor

    started = start_monitor(current_project(), stage, policy=policy)
    console.print(
        f"soak monitor of {stage} started: pid {started.pid}, soak #{started.soak_id}"
        f" (up in {started.seconds:.1f}s)",
        highlight=False,
        markup=False,
    )
    console.print(f"log: {safe(started.log)}", highlight=False, soft_wrap=True)


@soak_app.command()
def stop(
    stage: StageArg = "staging",
    end: Annotated[
        bool, typer.Option("--end", help="Also end the soak: a later start begins a new one.")
    ] = False,
) -> None:
    """Stop the stage's soak monitor (SIGTERM: it commits what it holds); the soak stays open."""
    from soakgate.app.soak.control import stop_monitor

    stopped = stop_monitor(current_project().state, stage, end=end)
    what = f"monitor pid {stopped.pid} stopped" if stopped.pid else "no monitor was running"
    ended = f"; soak #{stopped.soak_id} ended" if stopped.ended else ""
    console.print(f"{stage}: {what}{ended}", highlight=False, markup=False)


@soak_app.command()
def run(
    stage: StageArg = "staging",
    policy: PolicyOption = None,
    duration: Annotated[
        str | None, typer.Option(help="Stop after this long (90, 90s, 15m, 2h).")
    ] = None,
    max_samples: Annotated[int | None, typer.Option(help="Stop after this many probes.")] = None,
    judge_every: Annotated[
        str | None, typer.Option(help="Time between verdicts (default 60s).")
    ] = None,
    engine_every: Annotated[
        str | None, typer.Option(help="Time between engine samples (default 10s).")
    ] = None,
    accelerate: Annotated[
        float | None,
        typer.Option(
            metavar="FACTOR",
            help="Run on a clock FACTOR times the wall clock's (a demo: needs --duration, which"
            " is then simulated time ending now); the soak is labelled accelerated.",
        ),
    ] = None,
) -> None:
    """Run the soak monitor in the foreground; Ctrl-C (or SIGTERM) stops it cleanly."""
    from soakgate.adapters.clock import AcceleratedClock
    from soakgate.app.soak.monitor import MonitorSettings, run_monitor

    overrides: dict[str, float] = {}
    every = _seconds("--judge-every", judge_every)
    if every is not None:
        overrides["judge_every"] = every
    every = _seconds("--engine-every", engine_every)
    if every is not None:
        overrides["engine_every"] = every
    length = _seconds("--duration", duration)
    max_samples = _count("--max-samples", max_samples)
    if accelerate is not None:
        if not 1 <= accelerate <= 1_000_000:
            raise ConfigError(
                f"--accelerate {accelerate:g}: not a factor between 1 and 1000000",
                hint="e.g. --accelerate 10080 --duration 7d runs a simulated week in a minute",
            )
        if length is None:
            raise ConfigError(
                "--accelerate needs --duration: the simulated time to soak",
                hint="e.g. --accelerate 10080 --duration 7d",
            )
        overrides["time_scale"] = accelerate
    project = current_project()
    settings = MonitorSettings.for_slo(project.config.slo, **overrides)
    stop_event = threading.Event()
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], object] | None = None
    if accelerate is not None and length is not None:
        accelerated = AcceleratedClock(accelerate, length, stop_event)
        clock, sleep = accelerated, accelerated.sleep
        _log(stage, f"ACCELERATED soak: clock x{accelerate:g}, {duration} simulated")

    def stop_now(signum: int, frame: object) -> None:
        stop_event.set()

    signal.signal(signal.SIGTERM, stop_now)
    signal.signal(signal.SIGINT, stop_now)

    def on_tick(tick: Tick) -> None:
        if tick.verdict is not None:
            verdict = tick.verdict
            _log(
                stage,
                f"{verdict.state}: observed {format_duration(verdict.observed_seconds)} of"
                f" {format_duration(verdict.required_seconds)}, {verdict.probes} probes,"
                f" {plural(len(verdict.gaps), 'gap')}",
            )

    result = run_monitor(
        project,
        stage,
        clock=clock,
        sleep=sleep,
        until=None if length is None else clock() + length,
        max_samples=max_samples,
        on_tick=on_tick,
        policy=policy,
        settings=settings,
        stop=stop_event,
        warn=lambda message: _log(stage, message),
    )
    _log(
        stage,
        f"done: soak #{result.soak_id}, {result.probes} probes recorded"
        f" ({result.dropped} not: engine down or release starting),"
        f" {result.engine_samples} engine samples;"
        f" {result.stopped_because}",
    )


@soak_app.command()
def status(
    stage: StageArg = "staging",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Observed time against the required soak, the SLO table, the verdict, gaps, monitor."""
    from soakgate.app.soak.status import soak_status

    project = current_project()
    found = soak_status(project.state, stage, project.config.slo)
    if as_json:
        print(json.dumps(found.as_dict(), indent=2))
        return
    console.print(render_status(found))


@soak_app.command()
def report(
    stage: StageArg = "staging",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="HTML file (default reports/soak-<stage>.html)."),
    ] = None,
) -> None:
    """Write the soak's self-contained HTML report and print its path."""
    from soakgate.app.soak.status import write_report

    project = current_project()
    path = output or project.report(f"soak-{stage}.html")
    written = write_report(project.state, stage, project.config.slo, path)
    print(written)


@soak_app.command()
def verdict(
    release: Annotated[str, typer.Argument(help="Release digest, 12+ digit prefix or tag.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="JSON file to write.")],
) -> None:
    """Write the verdict JSON of the release's soak (what the production gate reads)."""
    from soakgate.app.soak.status import release_verdict

    project = current_project()
    document = release_verdict(project.state, release, project.config.slo)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2) + "\n")
    style = STATE_STYLES.get(document["state"], "")
    console.print(
        f"{safe(document['release'])}: [{style}]{safe(document['state'])}[/] → {safe(output)}",
        highlight=False,
    )


# --- rendering ---------------------------------------------------------------------------------


def _short(digest: str | None) -> str:
    return "-" if not digest else short_digest(digest)


def render_status(found: SoakStatus) -> Group:
    """The status page: header, progress bar, verdict, SLO table, gaps, monitor."""
    soak, verdict, monitor = found.soak, found.verdict, found.monitor
    style = STATE_STYLES.get(verdict.state, "bold")
    header = Text.assemble(
        ("soak ", "bold"),
        (f"#{soak.id} of {found.stage}", "bold"),
        f" · release {_short(soak.release)} · baseline {_short(soak.baseline)}",
        f" · started {_utc(soak.started_at)}",
        f" · ended {_utc(soak.ended_at)} ({soak.end_reason})" if soak.ended_at else "",
        (f" · ACCELERATED x{soak.time_scale:g} (simulated time)", "bold magenta")
        if soak.time_scale > 1
        else "",
    )
    colour = style.split()[-1]
    bar = Table.grid(padding=(0, 1))
    bar.add_row(
        ProgressBar(
            total=max(verdict.required_seconds, 1.0),
            completed=verdict.observed_seconds,
            width=50,
            complete_style=colour,
            finished_style=colour,
        ),
        Text(
            f"{format_duration(verdict.observed_seconds)} of"
            f" {format_duration(verdict.required_seconds)} observed healthy"
            f" ({100 * verdict.progress:.0f} %) · {verdict.probes:,} probes"
            f" · not counted: {format_duration(verdict.gap_seconds)} in gaps,"
            f" {format_duration(verdict.breached_seconds)} in windows in breach"
        ),
    )
    state_line = Text.assemble(("verdict: ", "bold"), (verdict.state, style))
    reasons = Text("\n".join(f"  {reason}" for reason in verdict.reasons))

    slo = Table(title="SLOs", title_justify="left")
    for column in ("SLO", "threshold", "measured", "", "note"):
        slo.add_column(column)
    for row in verdict.slo_rows:
        unit = f" {row.unit}" if row.unit else ""
        mark = (
            Text("ok", "green")
            if row.ok
            else Text("BREACH", "bold red")
            if row.ok is False
            else Text("-", "dim")
        )
        threshold = f"{row.op} {row.threshold:g}{unit}"
        measured = row.shown + (unit if row.measured is not None else "")
        slo.add_row(safe(row.name), safe(threshold), safe(measured), mark, safe(row.note))

    gaps: Table | Text = Text("gaps: none", "dim")
    if verdict.gaps:
        gaps = Table(title="gaps (not counted)", title_justify="left")
        for column in ("from", "to", "length", "why"):
            gaps.add_column(column)
        outages = [
            (float(o.get("start") or 0), float(o.get("end") or time.time()))
            for o in monitor.outages
        ]
        for gap in verdict.gaps[-20:]:
            engine_down = any(start < gap.end and gap.start < end for start, end in outages)
            why = "Docker engine down" if engine_down else "no probes (no monitor running)"
            gaps.add_row(_utc(gap.start), _utc(gap.end), format_duration(gap.seconds), why)
        if len(verdict.gaps) > 20:
            gaps.caption = f"the last 20 of {len(verdict.gaps)}"

    if monitor.pid is None:
        who = Text("monitor: none", "yellow")
    else:
        alive = Text("alive", "green") if monitor.alive else Text("not running", "red")
        beat = (
            ""
            if monitor.heartbeat_age is None
            else f", heartbeat {format_duration(monitor.heartbeat_age)} ago"
        )
        who = Text.assemble(f"monitor: pid {monitor.pid} ", alive, beat)
    extra = []
    if monitor.policy:
        extra.append(f"policy {monitor.policy}")
    if monitor.stopped_because and not monitor.alive:
        extra.append(f"stopped: {monitor.stopped_because}")
    if monitor.traffic:
        extra.append(
            f"user traffic (from /metrics): {monitor.traffic.get('requests', 0):.0f} requests,"
            f" {monitor.traffic.get('errors_5xx', 0):.0f} 5xx"
        )
    if monitor.log:
        extra.append(f"log {monitor.log}")
    if extra:
        who.append(" · " + " · ".join(extra))
    return Group(header, bar, state_line, reasons, slo, gaps, who)


def main() -> None:
    """``python -m soakgate.cli.soak …``: the soak commands on their own (the spawned monitor)."""
    from soakgate.adapters.envfile import find_project, load_env

    load_env(find_project())
    verbose = "--verbose" in sys.argv
    argv = [arg for arg in sys.argv[1:] if arg != "--verbose"]
    sys.exit(
        run_app(
            lambda: soak_app(argv, prog_name="soakgate soak", standalone_mode=False),
            lambda: verbose,
        )
    )


if __name__ == "__main__":
    main()
