"""Use case: promote the release running in one stage to the next, by digest, only through
gates judged on its evidence. Never rebuilds. Every promotion, override and refusal is on the
ledger; a refusal changes nothing else.

    results = gate_report(project, "dev", "staging")
    promote(project, "staging", "production", overrides={"soak": "hotfix"})
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from soakgate.adapters.state.ledger import LedgerStore
from soakgate.adapters.state.releases import StateDB
from soakgate.app.ports import Stages, World, real_world
from soakgate.core.config import ProjectConfig
from soakgate.core.evidence import Evidence, soak_evidence
from soakgate.core.gates import PROMOTIONS, GateResult, all_clear, evaluate_gates
from soakgate.core.names import digest_ref
from soakgate.core.project import Project
from soakgate.core.release import Release
from soakgate.errors import ConfigError, GateFailed, SoakgateError


@dataclass(frozen=True)
class GateReport:
    source: str
    target: str
    transition: str
    release: Release
    results: list[GateResult]

    @property
    def passed(self) -> bool:
        return all_clear(self.results)


def transition_of(source: str, target: str) -> str:
    try:
        return PROMOTIONS[(source, target)]
    except KeyError:
        raise ConfigError(
            f"no promotion from {source} to {target}",
            hint="promotions go dev → staging → production",
        ) from None


def running_release(stages: Stages, stage: str, db: StateDB) -> Release:
    """The release the stage's active slot runs, as recorded."""
    active = stages.engine(stage).read_slots().active_slot
    if active is None or not active.digest or not active.running:
        raise ConfigError(
            f"nothing runs in {stage}", hint=f"deploy it first: soakgate deploy {stage}"
        )
    release = db.find_release(active.digest)
    if release is None:
        raise ConfigError(
            f"{stage} runs {digest_ref(active.digest)}, which soakgate never recorded"
        )
    return release


def with_live_soak(evidence: Evidence, state: Path, digest: str, config: ProjectConfig) -> Evidence:
    """Evidence with the release's soak verdict read from the soak store, when no soak file
    was collected: the production gate judges what the monitor recorded in staging."""
    from soakgate.app.soak.status import release_soak

    try:
        release, verdict = release_soak(state, digest, config.slo)
    except SoakgateError:
        return evidence  # no soak of this release: the gate fails closed ("no soak evidence")
    files = {**evidence.files, "soak": "soak store (live)"}
    return replace(evidence, soak=soak_evidence(verdict, release), files=files)


def gate_report(
    project: Project,
    source: str,
    target: str,
    *,
    release_ref: str | None = None,
    overrides: dict[str, str] | None = None,
    load_evidence: Callable[[Path, str], Any] | None = None,
    world: World | None = None,
) -> GateReport:
    """Judge the gates of ``source → target`` for the release running in ``source``."""
    transition = transition_of(source, target)
    stages = (world or real_world(project)).stages
    with StateDB.open(project.state) as db:
        release = running_release(stages, source, db)
        if release_ref is not None:
            named = db.require_release(release_ref)
            if named.digest != release.digest:
                raise ConfigError(
                    f"release {named.short} is not the one running in {source} ({release.short})",
                    hint=f"promotion moves what {source} runs; deploy it there first",
                )
    if load_evidence is None:
        from soakgate.app.evidence import load_evidence as load_stored

        load_evidence = load_stored
    evidence = load_evidence(project.state, release.digest)
    if transition == "staging_to_production" and getattr(evidence, "soak", None) is None:
        evidence = with_live_soak(evidence, project.state, release.digest, project.config)
    try:
        results = evaluate_gates(
            transition, project.config.gates[transition], evidence, overrides or {}
        )
    except ValueError as exc:
        raise ConfigError(
            str(exc),
            hint="gate names: tests, coverage, mutation, vulnerabilities, performance, soak",
        ) from exc
    return GateReport(source, target, transition, release, results)


def promote(
    project: Project,
    source: str,
    target: str,
    *,
    overrides: dict[str, str] | None = None,
    deploy_release: Callable[[Release], None],
    load_evidence: Callable[[Path, str], Any] | None = None,
    world: World | None = None,
) -> GateReport:
    """Promote when every gate passes (or is overridden with a reason on record)."""
    report = gate_report(
        project,
        source,
        target,
        overrides=overrides,
        load_evidence=load_evidence,
        world=world,
    )
    gates = [result.to_dict() for result in report.results]
    with LedgerStore.open(project.state) as ledger:
        if not report.passed:
            failed = [result.name for result in report.results if result.blocking]
            ledger.append(
                "refusal",
                stage=target,
                to_release=report.release.digest,
                data={"action": "promote", "from_stage": source, "gates": gates},
            )
            raise GateFailed(
                f"promotion of {report.release.short} from {source} to {target} refused:"
                f" {', '.join(failed)} failed",
                hint="see the table above for what to provide (soakgate evidence collect RELEASE)",
                report=report,
            )
        for result in report.results:
            if result.overridden_reason:
                ledger.append(
                    "override",
                    stage=target,
                    to_release=report.release.digest,
                    data={
                        "gate": result.name,
                        "reason": result.overridden_reason,
                        "measured": result.measured,
                        "threshold": result.threshold,
                    },
                )
    deploy_release(report.release)
    with LedgerStore.open(project.state) as ledger:
        ledger.append(
            "promote",
            stage=target,
            to_release=report.release.digest,
            data={"from_stage": source, "transition": report.transition, "gates": gates},
        )
    return report
