"""Use case: ``soakgate report``. Everything the project's state holds, gathered for one page:
the stages as they run, the ledger, the newest soaks with their samples, incidents, stored
comparisons and (given) a readiness table.

    write_report(project, Path("reports/soakgate.html"), readiness=None)
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from soakgate.adapters.evidence.migration_report import stored_comparisons
from soakgate.adapters.project_report import ReportInput, SoakPart, StageRow, render_project_report
from soakgate.adapters.soak.report import load_series
from soakgate.adapters.state.incidents import IncidentStore
from soakgate.adapters.state.ledger import LedgerStore
from soakgate.adapters.state.releases import StateDB
from soakgate.adapters.state.soaks import SoakStore
from soakgate.app.soak.status import judge_stored, judge_time
from soakgate.app.stages import StageView, view_stage
from soakgate.core.config import STAGES
from soakgate.core.project import Project
from soakgate.errors import ConfigError

SOAKS_SHOWN = 3


def stage_row(view: StageView) -> StageRow:
    active, warm = view.active_view, view.warm_view
    return StageRow(
        view.stage,
        view.url,
        view.active or "-",
        (active.digest if active and active.digest else "-"),
        active.python if active else "-",
        view.health,
        (warm.digest if warm and warm.digest else "-"),
    )


def read_readiness(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"--readiness {path}: not a readiness JSON document ({exc})",
            hint="write one with soakgate readiness REQUIREMENTS --format json > FILE",
        ) from None
    if not isinstance(document, dict):
        raise ConfigError(
            f"--readiness {path}: not a readiness JSON document (not an object)",
            hint="write one with soakgate readiness REQUIREMENTS --format json > FILE",
        )
    return document


def soak_parts(project: Project) -> list[SoakPart]:
    """The newest soaks that probed anything (at most SOAKS_SHOWN), judged, with their
    samples for the plots."""
    parts: list[SoakPart] = []
    with SoakStore.open(project.state) as store:
        for soak in store.soaks():
            if len(parts) == SOAKS_SHOWN:
                break
            if not store.probe_rows(soak.id):
                continue  # begun and never probed: nothing to plot or judge
            now = judge_time(store, soak, time.time())
            verdict = judge_stored(store, soak, project.config.slo, now)
            series = load_series(store, soak.id)
            parts.append(
                SoakPart(
                    soak.stage,
                    soak.release,
                    soak.baseline,
                    soak.time_scale,
                    verdict,
                    series,
                    project.config.slo,
                )
            )
    return parts


def write_report(project: Project, path: Path, readiness: Path | None = None) -> Path:
    """Gather the project's state and write the page to ``path``."""
    table = read_readiness(readiness)
    with StateDB.open(project.state) as db:
        rows = [stage_row(view_stage(project, stage, db)) for stage in STAGES]
    with LedgerStore.open(project.state) as ledger:
        events = ledger.events()
    data = ReportInput(
        title=f"soakgate: {project.config.service.image} through dev, staging and production",
        stages=rows,
        events=events,
        budgets={stage: float(project.config.stages[stage].rto_seconds) for stage in STAGES},
        soaks=soak_parts(project),
        incidents=IncidentStore(project.state).list(),
        comparisons=stored_comparisons(project.state),
        readiness=table,
    )
    return render_project_report(data, path)
