"""The gate table of ``soakgate gates`` and ``soakgate promote``."""

from __future__ import annotations

import json

from rich.table import Table

from soakgate.app.promote import GateReport
from soakgate.cli.output import safe


def render_gates(report: GateReport) -> Table:
    title = (
        f"gates {safe(report.source)} → {safe(report.target)} for {safe(report.release.short)}"
        f" (Python {safe(report.release.python)}): "
        + ("[green]pass[/]" if report.passed else "[red]refused[/]")
    )
    table = Table(title=title, title_justify="left")
    for column in ("gate", "threshold", "measured", "result", "evidence / what to do"):
        table.add_column(column)
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
