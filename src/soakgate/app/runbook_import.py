"""``soakgate ledger import FILE``: put what the host-side runbooks did on the ledger.

``rollback.yml`` run from a control machine without soakgate (its virtualenv gone) writes one
line per host it flipped into a record file. Importing it, per stage and under the stage lock:

1. the runs not imported yet are appended to ``<state>/runbook.log`` (one ``write(2)`` each),
   so that every path that adopts host-side flips (``soakgate rollback``, this import) sees
   them once: a run already there is skipped, and importing the same file twice adds nothing;
2. they are adopted as a rollback on the way, and finished as an interrupted rollback is: the
   hosts the runbook could not reach switch too when they answer now, the Pulumi stack is
   reconciled to the release the hosts serve, the stage is verified, and the ledger gets one
   rollback per run (the newest with its measured duration against the stage's budget).

A run whose release the stage no longer serves (a deploy came after it) still goes on the
ledger, marked not reconciled: it happened, and nothing is switched back to it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from soakgate.adapters.state.ledger import LedgerStore
from soakgate.app.ports import World, real_world
from soakgate.app.rollback import (
    RUNBOOK_LOG,
    RollbackRequest,
    RollbackResult,
    Warn,
    adopt_runbook_flips,
    finish_interrupted,
    read_journal,
)
from soakgate.core.project import Project
from soakgate.core.runbook_records import RunbookRun, logged_runs
from soakgate.errors import ConfigError


@dataclass
class StageImport:
    """What an import did on one stage."""

    stage: str
    imported: list[RunbookRun]
    skipped: list[RunbookRun]  # already in runbook.log: imported (or adopted) before
    result: RollbackResult | None = None  # the newest run, finished as a rollback
    stale: bool = False  # the stage no longer serves the newest run's release


def _append(log: Path, lines: list[str]) -> None:
    """Each line in one ``write(2)`` at the end (a torn last line is ended first)."""
    fd = os.open(log, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        for line in lines:
            size = os.fstat(fd).st_size
            torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
            data = (b"\n" if torn else b"") + line.encode() + b"\n"
            if os.write(fd, data) != len(data):
                raise OSError(f"short write to {log}")
        os.fsync(fd)
    finally:
        os.close(fd)


def check_stages(project: Project, runs: list[RunbookRun], source: str) -> None:
    """Refuse the whole file, before anything changes, when a run names an unknown stage."""
    known = list(project.config.stages)
    for run in runs:
        if run.stage not in known:
            raise ConfigError(
                f"{source}: run {run.run} is on stage {run.stage!r}, which this project lacks",
                hint=f"import it in the project it came from (stages here: {', '.join(known)})",
            )


def import_runs(
    project: Project,
    runs: list[RunbookRun],
    *,
    verify: Callable[[str], tuple[bool, list[str]]] | None = None,
    lock_wait: float | None = None,
    warn: Warn = lambda message: None,
    world: World | None = None,
) -> list[StageImport]:
    """Import ``runs`` (oldest first), stage by stage; see the module's docstring."""
    stages, stacks = world or real_world(project)
    done: list[StageImport] = []
    for stage in dict.fromkeys(run.stage for run in runs):
        mine = [run for run in runs if run.stage == stage]
        engine = stages.engine(stage, warn)
        with stages.lock(stage, "soakgate ledger import", lock_wait):
            log = project.state / RUNBOOK_LOG
            try:
                known = logged_runs(log.read_text(errors="replace"))
            except FileNotFoundError:
                known = set()
            fresh = [run for run in mine if run.run not in known]
            outcome = StageImport(stage, fresh, [run for run in mine if run.run in known])
            done.append(outcome)
            if fresh:
                project.state.mkdir(parents=True, exist_ok=True)
                _append(log, [json.dumps(run.as_entry()) for run in fresh])
            # Also when nothing is new: a run appended by an import that failed (a host still
            # away) or was killed, or flipped here on this machine, is adopted and finished now.
            adopt_runbook_flips(project.state, stage, warn)
            pending = read_journal(project.state, stage, warn) is not None
            request = RollbackRequest(stage, reason="host-side runbook", actor="ledger import")
            outcome.result = finish_interrupted(
                stacks, project.config, project.state, request, engine, time.time(), verify, warn
            )
            if fresh and pending and outcome.result is None:
                newest = fresh[-1]
                outcome.stale = True
                with LedgerStore.open(project.state) as ledger:
                    ledger.append(
                        "rollback",
                        stage=stage,
                        from_release=newest.from_release,
                        to_release=newest.to_release,
                        data={
                            "path": f"runbook ({newest.via})",
                            "seconds_to_restored": newest.seconds,
                            "reconciled": False,
                            "hosts": list(newest.flipped),
                            "run": newest.run,
                            "note": "the stage no longer serves this release",
                        },
                    )
    return done
