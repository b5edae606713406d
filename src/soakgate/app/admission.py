"""Use case: let a release into a stage only through its gates (see core.admission). Every
path that puts a release in a stage calls :func:`require_admission` under the stage lock;
the Pulumi program calls :func:`check_admitted`, which only reads.

    require_admission(project, "production", release, overrides={"soak": "hotfix"}, via="deploy")
"""

from __future__ import annotations

from soakgate.adapters.state.ledger import LedgerStore
from soakgate.adapters.state.releases import StateDB
from soakgate.app.ports import Stages
from soakgate.app.promote import GateReport, judge, record_decision, record_refusal
from soakgate.core.admission import Admission, admit, gate_table_text, incoming
from soakgate.core.names import digest_ref, short_digest
from soakgate.core.project import Project
from soakgate.core.release import Release
from soakgate.errors import GateFailed


def _refused(report: GateReport, verdict: Admission, via: str) -> GateFailed:
    failed = [result.name for result in report.results if result.blocking]
    return GateFailed(
        f"release {report.release.short} may not enter {report.target} ({via}): {verdict.why};"
        f" its gates {report.source} → {report.target} fail: {', '.join(failed)}",
        hint=f"promote it through the gates: soakgate promote {report.source} {report.target};"
        " or bypass on the record: --override GATE --reason TEXT",
        report=report,
    )


def require_admission(
    project: Project,
    stage: str,
    release: Release,
    *,
    overrides: dict[str, str] | None = None,
    via: str = "deploy",
    stages: Stages | None = None,
) -> Admission:
    """Admit ``release`` to ``stage`` from the verified ledger; else judge its gates now and
    record the decision (passing, or passing by the ``overrides`` given) or the refusal."""
    gate = incoming(stage)
    with LedgerStore.open(project.state) as ledger:
        verdict = admit(stage, release.digest, ledger.require_intact())
        if verdict.admitted or gate is None:
            return verdict
        report = judge(
            project, gate.source, stage, release, overrides=overrides or {}, stages=stages
        )
        if not report.passed:
            record_refusal(ledger, report, via, verdict.why)
            raise _refused(report, verdict, via)
        record_decision(ledger, report, via)
    return Admission(stage, release.digest, True, f"its gates pass ({via})")


def check_admitted(project: Project, stage: str, release: Release) -> Admission:
    """Refuse (GateFailed, the gate table in its message) a release the ledger does not admit
    to ``stage``; writes nothing: a preview changes nothing."""
    gate = incoming(stage)
    with LedgerStore.open(project.state) as ledger:
        verdict = admit(stage, release.digest, ledger.require_intact())
    if verdict.admitted or gate is None:
        return verdict
    report = judge(project, gate.source, stage, release)
    refused = _refused(report, verdict, "pulumi up")
    title = f"gates {gate.source} → {stage} for {short_digest(release.digest)}:"
    table = gate_table_text(title, report.results)
    raise GateFailed(f"{refused.message}\n{table}", refused.hint, report)


def check_stack_release(project: Project, stage: str, digest: str) -> None:
    """What a stack's program checks before it declares anything: the desired release of a
    gated stage is one soakgate recorded and its gates admit (GateFailed otherwise)."""
    if incoming(stage) is None:
        return
    with StateDB.open(project.state) as db:
        release = db.find_release(digest)
    if release is None or release.digest != digest:
        raise GateFailed(
            f"release {digest_ref(digest)} may not enter {stage}: soakgate never recorded it,"
            " so no gate decision can admit it",
            hint="build it with soakgate build, then promote it through its gates",
        )
    check_admitted(project, stage, release)
