"""``soakgate evidence``: collect the evidence the gates judge, into a bundle with the release.

    soakgate evidence collect 3f2a9c1b0d4e --for staging --advisories osv/
    soakgate evidence collect soakgate/service:1.0.0-py3.14-3f2a9c1b --skip perf \\
        --mutation mutants/mutmut-cicd-stats.json

Registered in the main CLI with ``app.add_typer(evidence_app, name="evidence")``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from soakgate.adapters.state.releases import StateDB
from soakgate.app.evidence import EvidenceBundle, EvidenceIncomplete
from soakgate.cli.advisories import DEFAULT_MAX_AGE, max_age_seconds
from soakgate.cli.options import stage_choice
from soakgate.cli.output import console, safe
from soakgate.core.evidence import PERF_SECONDS, PERF_SECONDS_RANGE
from soakgate.core.names import short_digest
from soakgate.errors import ConfigError

evidence_app = typer.Typer(
    help="Evidence for the gates: tests in the image, mutation, audit, performance.",
    no_args_is_help=True,
)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")
_STYLES = {
    "collected": "green",
    "supplied": "cyan",
    "reused": "green",
    "kept": "dim",
    "failed": "red",
    "skipped": "yellow",
    "missing": "yellow",
}

FileOption = Annotated[
    Path | None,
    typer.Option(exists=True, dir_okay=False, metavar="FILE", help="Use this file instead."),
]


def render_bundle(bundle: EvidenceBundle) -> Table:
    """One row per evidence kind: kind, status, what it measured, its file (or why not)."""
    table = Table(
        title=f"evidence of {safe(bundle.release.short)} (Python {safe(bundle.release.python)})",
        title_justify="left",
    )
    for column in ("kind", "status", "measured", "file"):
        table.add_column(column, overflow="fold")
    for row in bundle.rows:
        style = _STYLES.get(row.status, "")
        table.add_row(
            safe(row.kind),
            f"[{style}]{safe(row.status)}[/]" if style else safe(row.status),
            safe(row.measured or (row.reason or "")),
            safe(Path(row.file).name if row.file else ""),
        )
    table.caption = f"{safe(bundle.folder)} ({bundle.seconds:.0f} s)"
    return table


def _resolve(db: StateDB, ref: str, what: str) -> str:
    """The digest of a known release, or ``ref`` itself when it is a full digest."""
    release = db.find_release(ref)
    if release is not None:
        return release.digest
    if _DIGEST.match(ref):
        return ref  # an image soakgate did not build: allowed as a baseline
    raise ConfigError(
        f"{what} {ref!r}: no release has this digest, prefix (12+ hex digits) or tag,"
        " or the prefix matches several",
        hint="soakgate releases lists them",
    )


@evidence_app.command()
def collect(
    release: Annotated[
        str, typer.Argument(metavar="RELEASE", help="Release digest, 12+ hex prefix or tag.")
    ],
    baseline: Annotated[
        str | None,
        typer.Option(
            metavar="DIGEST",
            help="The release running in the target stage (digest, prefix or tag).",
        ),
    ] = None,
    advisories: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            file_okay=False,
            metavar="DIR",
            help="A directory of OSV advisories (soakgate advisories refresh).",
        ),
    ] = None,
    advisories_max_age: Annotated[
        str,
        typer.Option(metavar="AGE", help="An advisory directory older than this fails the audit."),
    ] = DEFAULT_MAX_AGE,
    junit: FileOption = None,
    coverage: FileOption = None,
    mutation: FileOption = None,
    audit: FileOption = None,
    bench: FileOption = None,
    bandit: FileOption = None,
    soak: FileOption = None,
    for_stage: Annotated[
        str | None,
        typer.Option(
            "--for",
            metavar="STAGE",
            parser=stage_choice,
            help="The stage it is to enter: the bench's baseline is what that stage runs"
            " (default: the stage after the furthest one running it).",
        ),
    ] = None,
    skip: Annotated[
        list[str] | None,
        typer.Option(
            metavar="KIND", help="Do not collect this piece: tests, mutation, audit or perf."
        ),
    ] = None,
    perf_seconds: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            help="Measured load of the perf bench's first round (10-600); more rounds follow"
            " while its verdict is inconclusive.",
        ),
    ] = PERF_SECONDS,
) -> None:
    """Collect the evidence of RELEASE into <state>/evidence/<digest>/ (manifest.json)."""
    from soakgate.app.evidence import check_request, collect_evidence
    from soakgate.cli.project import current_project

    max_age = max_age_seconds(advisories_max_age, "--advisories-max-age")
    low, high = PERF_SECONDS_RANGE
    if not low <= perf_seconds <= high:
        raise ConfigError(
            f"--perf-seconds {perf_seconds:g}: not between {low:g} and {high:g}",
            hint=f"give the perf bench's first round {low:g} s at least (default {PERF_SECONDS:g})",
        )
    project = current_project()
    with StateDB.open(project.state) as db:
        chosen = db.find_release(release)
        if chosen is None:
            raise ConfigError(
                f"release {release!r}: no release has this digest, prefix (12+ hex digits)"
                " or tag, or the prefix matches several",
                hint="soakgate releases lists them",
            )
        baseline_digest = _resolve(db, baseline, "--baseline") if baseline else None
    supplied = {
        kind: path
        for kind, path in (
            ("junit", junit),
            ("coverage", coverage),
            ("mutation", mutation),
            ("audit", audit),
            ("bench", bench),
            ("bandit", bandit),
            ("soak", soak),
        )
        if path is not None
    }
    skipped = set(skip or [])
    check_request(skipped, supplied)  # bad input is refused before anything is looked at
    target = for_stage
    if baseline_digest is None and "perf" not in skipped and bench is None:
        from soakgate.app.evidence import perf_baseline

        target, baseline_digest = perf_baseline(project, chosen, for_stage)
        if baseline_digest is None:
            where = f"nothing runs in {target}" if target else "it runs in the last stage"
            console.print(f"  [dim]perf: skipped: {where}, no baseline to compare with[/]")
            skipped.add("perf")
        else:
            console.print(
                f"  [dim]perf: against {short_digest(baseline_digest)}, what {target} runs[/]"
            )
    with console.status(f"collecting evidence of {chosen.short}") as status:

        def progress(message: str) -> None:
            status.update(f"collecting evidence of {chosen.short}: {safe(message)}")
            if not message.endswith(": collecting"):
                console.print(f"  [dim]{safe(message)}[/]", highlight=False)

        bundle = collect_evidence(
            project,
            chosen,
            baseline=baseline_digest,
            baseline_stage=target,
            advisories=advisories,
            files=supplied,
            skip=skipped,
            progress=progress,
            advisories_max_age=max_age,
            perf_seconds=perf_seconds,
        )
    console.print(render_bundle(bundle))
    if not bundle.complete:
        reasons = "; ".join(f"{piece}: {reason}" for piece, reason in bundle.failures.items())
        raise EvidenceIncomplete(
            f"evidence incomplete, {len(bundle.failures)} pieces failed ({reasons})",
            hint="their gates fail closed until collected again or supplied as files",
        )
