"""Use case: promote the release running in one stage to the next, by digest, only through
gates judged on its evidence. Never rebuilds. Every promotion, override and refusal is on the
ledger; a refusal changes nothing else.

    results = gate_report(project, "dev", "staging")
    promote(project, "staging", "production", overrides={"soak": "hotfix"})
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from soakgate.adapters.state.ledger import LedgerStore
from soakgate.adapters.state.releases import StateDB
from soakgate.app.ports import Stages, World, real_world
from soakgate.core.admission import GATE, decision_data
from soakgate.core.config import ProjectConfig
from soakgate.core.evidence import Evidence, soak_evidence
from soakgate.core.evidence_binding import TransitionFacts, bind_results
from soakgate.core.gates import PROMOTIONS, GateResult, all_clear, evaluate_gates
from soakgate.core.names import digest_ref
from soakgate.core.project import Project
from soakgate.core.release import Release
from soakgate.core.security import split_waivers
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


def with_live_soak(
    evidence: Evidence, state: Path, digest: str, config: ProjectConfig, stage: str
) -> Evidence:
    """Evidence with the release's soak in ``stage`` read from the soak store, when no soak
    file was collected: the production gate judges what the monitor recorded in staging."""
    from soakgate.app.soak.status import release_soak

    try:
        release, where, verdict, scale = release_soak(state, digest, config.slo, stage=stage)
    except SoakgateError:
        return evidence  # no soak of this release there: the gate fails closed
    files = {**evidence.files, "soak": f"soak store (live, {where})"}
    return replace(evidence, soak=soak_evidence(verdict, release, where, scale), files=files)


def with_waivers(evidence: Evidence, project: Project) -> Evidence:
    """Evidence with the project's security waivers, split into in force and expired today."""
    from soakgate.adapters.config_file import load_waivers

    if not isinstance(evidence, Evidence):
        return evidence  # a test's stand-in
    active, expired = split_waivers(load_waivers(project.root), date.today())
    return replace(evidence, waivers=active, expired_waivers=expired)


def live_release(stages: Stages, stage: str) -> str | None:
    """The digest the stage's active slot runs now, or None."""
    active = stages.engine(stage).read_slots().active_slot
    if active is None or not active.digest or not active.running:
        return None
    return active.digest


def bench_baseline(state: Path, digest: str) -> str | None:
    """The baseline the stored bench of ``digest`` measured against ("" when it names none),
    or None without a bench."""
    from soakgate.adapters.state.evidence import EvidenceStore

    with EvidenceStore.open(state) as store:
        record = store.records(digest).get("bench")
        raw = store.read(digest, "bench") if record is not None else None
    if record is None or raw is None:
        return None
    try:
        named = json.loads(raw).get("baseline", {}).get("release")
    except (ValueError, AttributeError):
        named = None
    named = named or record.details.get("baseline")
    return named if isinstance(named, str) else ""


def judge(
    project: Project,
    source: str,
    target: str,
    release: Release,
    *,
    overrides: dict[str, str] | None = None,
    load_evidence: Callable[[Path, str], Any] | None = None,
    stages: Stages | None = None,
) -> GateReport:
    """The gates of ``source → target`` judged for ``release`` on its evidence, bound to the
    transition: the bench's baseline must be what ``target`` runs, the soak in ``source``."""
    transition = transition_of(source, target)
    stages = stages or real_world(project).stages
    if load_evidence is None:
        from soakgate.app.evidence import load_evidence as load_stored

        load_evidence = load_stored
    evidence = with_waivers(load_evidence(project.state, release.digest), project)
    thresholds = project.config.gates[transition]
    if "soak" in thresholds.gates() and getattr(evidence, "soak", None) is None:
        evidence = with_live_soak(evidence, project.state, release.digest, project.config, source)
    overrides = dict(overrides or {})
    if "all" in overrides:  # every gate of the transition, each recorded with the reason
        overrides = {**dict.fromkeys(thresholds.gates(), overrides.pop("all")), **overrides}
    try:
        results = evaluate_gates(transition, thresholds, evidence, overrides)
    except ValueError as exc:
        raise ConfigError(
            str(exc),
            hint="gate names: tests, coverage, mutation, vulnerabilities, performance, soak"
            " (or all)",
        ) from exc
    soak = getattr(evidence, "soak", None)
    facts = TransitionFacts(
        source,
        target,
        release.digest,
        target_live=live_release(stages, target),
        bench_baseline=bench_baseline(project.state, release.digest),
        soak_release=soak.release if soak is not None else None,
        soak_stage=soak.stage if soak is not None else None,
    )
    results = bind_results(results, facts, overrides)
    return GateReport(source, target, transition, release, results)


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
    transition_of(source, target)
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
    return judge(
        project,
        source,
        target,
        release,
        overrides=overrides,
        load_evidence=load_evidence,
        stages=stages,
    )


def record_decision(ledger: LedgerStore, report: GateReport, via: str) -> None:
    """A passing gate decision on the ledger (the release may now enter the target), with
    one ``override`` event per gate passed by a reason."""
    for result in report.results:
        if result.overridden_reason:
            ledger.append(
                "override",
                stage=report.target,
                to_release=report.release.digest,
                data={
                    "gate": result.name,
                    "reason": result.overridden_reason,
                    "measured": result.measured,
                    "threshold": result.threshold,
                    "via": via,
                },
            )
    ledger.append(
        GATE,
        stage=report.target,
        to_release=report.release.digest,
        data=decision_data(report.transition, report.results, via, from_stage=report.source),
    )


def record_refusal(ledger: LedgerStore, report: GateReport, action: str, why: str = "") -> None:
    ledger.append(
        "refusal",
        stage=report.target,
        to_release=report.release.digest,
        data={
            "action": action,
            "from_stage": report.source,
            "gates": [result.to_dict() for result in report.results],
            **({"why": why} if why else {}),
        },
    )


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
            record_refusal(ledger, report, "promote")
            raise GateFailed(
                f"promotion of {report.release.short} from {source} to {target} refused:"
                f" {', '.join(failed)} failed",
                hint="see the table above for what to provide (soakgate evidence collect RELEASE)",
                report=report,
            )
        record_decision(ledger, report, "promote")
    deploy_release(report.release)
    with LedgerStore.open(project.state) as ledger:
        ledger.append(
            "promote",
            stage=target,
            to_release=report.release.digest,
            data={"from_stage": source, "transition": report.transition, "gates": gates},
        )
    return report
