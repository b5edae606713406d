"""``soakgate compare``: two releases, or a release and its variant, side by side on this host.

soakgate compare 3f2a9c1b0d4e 8be01c7d2a55          # 3.12 against 3.14
soakgate compare 8be01c7d2a55 --variant jit         # 3.14 against itself with the JIT on
soakgate compare 8be01c7d2a55 --variant eager-tasks --json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from soakgate.app.compare import CompareRequest
from soakgate.cli.output import console, safe
from soakgate.core.compare import INCONCLUSIVE, SAME, Comparison, table_rows
from soakgate.errors import ConfigError

_VERDICT_STYLES = {"faster": "green", "smaller": "green", "slower": "red", "larger": "red"}
_VERDICT_STYLES |= {SAME: "dim", INCONCLUSIVE: "yellow"}


def render_comparison(comparison: Comparison) -> Table:
    a_label, b_label = comparison.labels
    table = Table(
        title=f"{safe(b_label)} against {safe(a_label)}: {safe(comparison.overall())}",
        caption=f"change of B against A, {comparison.confidence:.0%} intervals;"
        f" threshold ±{comparison.threshold:g} %",
    )
    for column, justify in (("figure", "left"), ("A", "right"), ("B", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    table.add_column("change [interval]", justify="right")
    table.add_column("verdict")
    for name, a, b, change, verdict in table_rows(comparison):
        style = _VERDICT_STYLES.get(verdict, "")
        table.add_row(
            safe(name), a, b, change, f"[{style}]{safe(verdict)}[/]" if style else safe(verdict)
        )
    return table


def compare(
    release_a: Annotated[
        str | None,
        typer.Argument(metavar="RELEASE_A", help="The reference: digest, 12+ prefix or tag."),
    ] = None,
    release_b: Annotated[
        str | None,
        typer.Argument(metavar="[RELEASE_B]", help="Measured against A (default: A itself)."),
    ] = None,
    variant: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="Run B as this variant: jit, free-threaded, eager-tasks, or one of"
            " [service.variants].",
        ),
    ] = None,
    threshold: Annotated[
        float, typer.Option(metavar="PERCENT", help="A smaller change is no difference.")
    ] = 5.0,
    seconds: Annotated[
        float, typer.Option(metavar="S", help="Measured load of the first round.")
    ] = 30.0,
    max_seconds: Annotated[
        float, typer.Option(metavar="S", help="No further round after this much load.")
    ] = 120.0,
    test_rounds: Annotated[
        int,
        typer.Option(metavar="N", help="Timed runs of the service's test suite a side (0: none)."),
    ] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON document.")] = False,
    report: Annotated[
        Path | None,
        typer.Option(
            metavar="HTML",
            dir_okay=False,
            help="Write the migration's comparison page (every stored comparison, the"
            " roadmap's expected gains next to the measured ones) to this file.",
        ),
    ] = None,
    readiness: Annotated[
        Path | None,
        typer.Option(
            metavar="JSON",
            exists=True,
            dir_okay=False,
            help="With --report: a readiness table (soakgate readiness --format json).",
        ),
    ] = None,
) -> None:
    """Compare two releases side by side under the service's workload: throughput and latency
    per request kind, start-up, memory, image size, the test suite's duration; medians with
    confidence intervals.
    With --report alone, write the migration's page from the comparisons stored so far."""
    from soakgate.app.compare import check_request, write_report
    from soakgate.app.compare import compare as run
    from soakgate.cli.project import current_project

    if release_a is None:
        if report is None:
            raise ConfigError(
                "compare needs a release (or --report to write the page of stored ones)",
                hint="soakgate compare RELEASE_A RELEASE_B, or soakgate compare --report FILE",
            )
        written = write_report(current_project(), report, readiness)
        console.print(f"[dim]written: {safe(written)}[/]")
        return
    request = CompareRequest(
        release_a, release_b, variant, threshold, seconds, max_seconds, test_rounds
    )
    check_request(request)
    project = current_project()
    with console.status("comparing (about two minutes)"):
        result = run(project, request)
    if as_json:
        print(json.dumps(result.comparison.as_dict(), indent=2))
        if report is not None:
            write_report(project, report, readiness)
        return
    console.print(render_comparison(result.comparison))
    for note in result.comparison.notes:
        console.print(f"[yellow]note:[/] {safe(note)}")
    console.print(f"[dim]written: {safe(result.folder)}/comparison.{{json,md,svg}}[/]")
    if report is not None:
        console.print(f"[dim]written: {safe(write_report(project, report, readiness))}[/]")
