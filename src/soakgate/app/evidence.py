"""Use case: collect the evidence the gates judge for one release, and read it back.

    bundle = collect_evidence(project, release, baseline=running.digest,
                              advisories=Path("osv/"), files={}, skip=set(), progress=print)
    [row.kind for row in bundle.rows if row.status == "failed"]    # e.g. ["bench"]
    evidence = load_evidence(state, release)                      # core.evidence.Evidence
    evaluate_gates("dev_to_staging", config.gates["dev_to_staging"], evidence)

Four pieces, each failing on its own (its one-line reason is recorded and its evidence kinds
fail their gates closed) while the others still run:

- ``tests``: the service's tests inside a container of the release's image → junit, coverage
- ``mutation``: mutmut inside a container of the release's image, under its own Python, on the
  service's source (checked to be the code in the image) → mutation
- ``audit``: the image's packages → sbom, audit (+ advisories, pip-audit), and bandit
- ``perf``: the release against ``baseline`` side by side → bench

User-supplied standard files (``files``: junit, coverage, mutation, audit, bench, soak) replace
the collected kind; a piece runs only while one of its gate kinds is not supplied.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from soakgate.adapters.evidence.advisories import check_advisories
from soakgate.adapters.evidence.audit import (
    AuditResult,
    PipAuditRun,
    audit_document,
    audit_packages,
    bandit_summary,
    load_advisories,
    sbom_json,
    sbom_packages,
)
from soakgate.adapters.evidence.mutation import MutationOutcome, mutation_document
from soakgate.adapters.evidence.tests import TestsOutcome
from soakgate.adapters.state.evidence import (
    CollectFailed,
    EvidenceRecord,
    EvidenceStore,
    one_line,
)
from soakgate.app.ports import Stages, real_world
from soakgate.core.advisories import MAX_AGE as ADVISORIES_MAX_AGE
from soakgate.core.config import STAGES, ProjectConfig, ServiceConfig, WorkloadRequest
from soakgate.core.evidence import (
    PERF_SECONDS,
    Audit,
    Evidence,
    EvidenceError,
    combine_audits,
    match_advisories,
    parse_bench,
    parse_coverage,
    parse_junit,
    parse_mutation,
    parse_pip_audit,
    parse_soak,
)
from soakgate.core.names import short_digest
from soakgate.core.project import Project
from soakgate.core.release import Release
from soakgate.core.security import BanditUnreadable, CodeIssue, parse_bandit
from soakgate.errors import ConfigError, SoakgateError

PIECES = ("tests", "mutation", "audit", "perf")
PIECE_KINDS = {
    "tests": ("junit", "coverage", "tests-log"),
    "mutation": ("mutation", "mutmut-stats"),
    "audit": ("sbom", "audit", "advisories", "pip-audit", "bandit"),
    "perf": ("bench",),
}
# The kinds a user may supply, and the piece that would otherwise collect each.
SUPPLIABLE = {
    "junit": "tests",
    "coverage": "tests",
    "mutation": "mutation",
    "audit": "audit",
    "bandit": "audit",
    "bench": "perf",
    "soak": None,
}
GATE_KINDS = {
    "tests": "junit",
    "coverage": "coverage",
    "mutation": "mutation",
    "vulnerabilities": "audit",
    "performance": "bench",
    "soak": "soak",
}
FILE_NAMES = {
    "junit": "junit.xml",
    "coverage": "coverage.json",
    "tests-log": "tests.log",
    "mutation": "mutation.json",
    "mutmut-stats": "mutmut-cicd-stats.json",
    "sbom": "sbom.cdx.json",
    "audit": "audit.json",
    "advisories": "advisories.json",
    "pip-audit": "pip-audit.json",
    "bandit": "bandit.json",
    "bench": "bench.json",
    "soak": "soak.json",
}
TABLE_KINDS = ("junit", "coverage", "mutation", "audit", "sbom", "bandit", "bench", "soak")


def _parse_bandit(data: bytes, root: str | None = None) -> tuple[CodeIssue, ...]:
    try:
        return parse_bandit(data, root)
    except BanditUnreadable as exc:
        raise EvidenceError(str(exc)) from None


_PARSERS: dict[str, Callable[[bytes], object]] = {
    "junit": parse_junit,
    "coverage": parse_coverage,
    "mutation": parse_mutation,
    "audit": parse_pip_audit,
    "bandit": _parse_bandit,
    "bench": parse_bench,
    "soak": parse_soak,
}
Progress = Callable[[str], None]


def reason_of(error: Exception) -> str:
    """A failure's one-line reason: a SoakgateError's message, else the exception named."""
    if isinstance(error, SoakgateError):
        return one_line(error.message)
    return one_line(f"{type(error).__name__}: {error}")


def piece_of(kind: str) -> str | None:
    """The piece that collects ``kind`` (None for soak, which is only ever supplied)."""
    return next((piece for piece, kinds in PIECE_KINDS.items() if kind in kinds), None)


class EvidenceIncomplete(SoakgateError):
    """Some pieces of evidence could not be collected; their gates fail closed."""


# --- ports ----------------------------------------------------------------------------------


class Collectors(Protocol):
    """What collecting needs from the outside world (Docker, subprocesses, the network)."""

    def tests(
        self, release: Release, context: Path, service: ServiceConfig, cache: Path, work: Path
    ) -> TestsOutcome: ...

    def mutation(
        self, release: Release, context: Path, service: ServiceConfig, cache: Path, work: Path
    ) -> MutationOutcome: ...

    def fingerprint(self, context: Path, service: ServiceConfig) -> str: ...

    def same_code(self, release: Release, context: Path, service: ServiceConfig) -> bool: ...

    def inventory(self, release: Release) -> dict[str, str]: ...

    def pip_audit(self, installed: Mapping[str, str]) -> PipAuditRun: ...

    def bandit(self, source: Path) -> tuple[str, str | None]: ...

    def perf(
        self,
        baseline: str,
        candidate: str,
        port: int,
        health_path: str,
        namespace: str,
        *,
        workload: tuple[WorkloadRequest, ...],
        limit: float,
        seconds: float = PERF_SECONDS,
    ) -> dict[str, Any]: ...


class DockerCollectors:
    """The real collectors: the local Docker engine, mutmut, pip-audit and bandit."""

    def tests(
        self, release: Release, context: Path, service: ServiceConfig, cache: Path, work: Path
    ) -> TestsOutcome:
        from soakgate.adapters.evidence.layout import ServiceLayout
        from soakgate.adapters.evidence.tests import download_test_wheels, run_tests_in_image

        layout = ServiceLayout(context, service)
        wheels = download_test_wheels(layout, release.python_series, cache)
        return run_tests_in_image(release, layout, wheels, work)

    def mutation(
        self, release: Release, context: Path, service: ServiceConfig, cache: Path, work: Path
    ) -> MutationOutcome:
        from soakgate.adapters.evidence.layout import ServiceLayout
        from soakgate.adapters.evidence.mutation import run_mutation

        return run_mutation(release, ServiceLayout(context, service), cache=cache, work=work)

    def fingerprint(self, context: Path, service: ServiceConfig) -> str:
        from soakgate.adapters.evidence.layout import ServiceLayout
        from soakgate.adapters.evidence.mutation import source_fingerprint

        return source_fingerprint(ServiceLayout(context, service))

    def same_code(self, release: Release, context: Path, service: ServiceConfig) -> bool:
        from soakgate.adapters.evidence.layout import ServiceLayout
        from soakgate.adapters.evidence.mutation import app_files, image_app_files

        layout = ServiceLayout(context, service)
        return app_files(layout) == image_app_files(release.digest, layout)

    def inventory(self, release: Release) -> dict[str, str]:
        from soakgate.adapters.evidence.audit import installed_distributions

        return installed_distributions(release.digest)

    def pip_audit(self, installed: Mapping[str, str]) -> PipAuditRun:
        from soakgate.adapters.evidence.audit import run_pip_audit

        return run_pip_audit(installed)

    def bandit(self, source: Path) -> tuple[str, str | None]:
        from soakgate.adapters.evidence.audit import run_bandit

        return run_bandit(source)

    def perf(
        self,
        baseline: str,
        candidate: str,
        port: int,
        health_path: str,
        namespace: str,
        *,
        workload: tuple[WorkloadRequest, ...],
        limit: float,
        seconds: float = PERF_SECONDS,
    ) -> dict[str, Any]:
        from soakgate.adapters.evidence.perf import compare_releases, plan_with_first_round

        return compare_releases(
            baseline,
            candidate,
            port=port,
            health_path=health_path,
            namespace=namespace,
            workload=workload,
            plan=plan_with_first_round(seconds, limit),
        )


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceRow:
    """One kind of evidence after a collection: where it stands and what it measured."""

    kind: str
    status: str  # collected | supplied | reused | kept | failed | skipped | missing
    measured: str = ""
    file: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class EvidenceBundle:
    release: Release
    folder: Path
    manifest: Path
    rows: tuple[EvidenceRow, ...]
    failures: dict[str, str]  # piece → one-line reason, this collection
    seconds: float

    @property
    def complete(self) -> bool:
        return not self.failures


# --- collecting -----------------------------------------------------------------------------


def check_request(skip: Iterable[str], files: Mapping[str, Path]) -> None:
    """Refuse unknown pieces and kinds, and supplied files that are missing or malformed."""
    for piece in skip:
        if piece not in PIECES:
            raise ConfigError(f"--skip {piece}: unknown piece (known: {', '.join(PIECES)})")
    for kind, path in files.items():
        if kind not in SUPPLIABLE:
            raise ConfigError(f"unknown evidence kind {kind!r} (known: {', '.join(SUPPLIABLE)})")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"--{kind} {path}: {exc.strerror or exc}") from None
        try:
            _PARSERS[kind](data)
        except EvidenceError as exc:
            raise ConfigError(f"--{kind} {path}: {exc}") from None


def pieces_to_run(skip: Iterable[str], files: Mapping[str, Path]) -> list[str]:
    """The pieces that run: not skipped, and with a gate kind nobody supplied."""
    skipped = set(skip)
    return [
        piece
        for piece in PIECES
        if piece not in skipped
        and any(SUPPLIABLE.get(kind) == piece and kind not in files for kind in SUPPLIABLE)
    ]


class _Collection:
    """One collection run: stores what a piece produced, or why it failed."""

    def __init__(
        self,
        store: EvidenceStore,
        release: Release,
        files: Mapping[str, Path],
        clock: Callable[[], str],
    ) -> None:
        self.store, self.release, self.files, self.clock = store, release, files, clock
        self.statuses: dict[str, str] = {}
        self.failures: dict[str, str] = {}

    def put(self, kind: str, content: Path | bytes, **kwargs: Any) -> EvidenceRecord | None:
        """Store a collected kind unless the user supplied it (theirs wins)."""
        if kind in self.files:
            return None
        if kind in _PARSERS:
            data = content.read_bytes() if isinstance(content, Path) else content
            try:
                _PARSERS[kind](data)
            except EvidenceError as exc:
                self.fail(kind, str(exc))
                return None
        record = self.store.put(
            self.release,
            kind,
            content,
            name=FILE_NAMES.get(kind, kind),
            collected_at=self.clock(),
            **kwargs,
        )
        self.statuses[kind] = record.source
        return record

    def fail(self, kind: str, reason: str) -> None:
        """Record that ``kind`` failed; the first reason also stands for its piece."""
        piece = piece_of(kind)
        if piece is not None:
            self.failures.setdefault(piece, one_line(reason))
        if kind in self.files:
            return
        self.store.fail(self.release, kind, reason, at=self.clock())
        self.statuses[kind] = "failed"

    def fail_piece(self, piece: str, reason: str, kinds: Iterable[str] | None = None) -> None:
        """Fail every kind of ``piece`` (or just ``kinds``) that this run did not store."""
        self.failures.setdefault(piece, one_line(reason))
        for kind in kinds if kinds is not None else PIECE_KINDS[piece]:
            if self.statuses.get(kind) not in ("collected", "reused"):
                self.fail(kind, reason)


def collect_evidence(
    project: Project,
    release: Release,
    *,
    baseline: str | None,
    advisories: Path | None,
    files: Mapping[str, Path],
    baseline_stage: str | None = None,  # the stage whose live release ``baseline`` is
    skip: set[str],
    progress: Progress,
    collectors: Collectors | None = None,
    clock: Callable[[], str] | None = None,
    reuse_mutation: bool = True,
    advisories_max_age: float = ADVISORIES_MAX_AGE,
    perf_seconds: float = PERF_SECONDS,
) -> EvidenceBundle:
    """Collect the evidence of ``release`` into its bundle; return what each kind became.

    A failing piece never stops the others: its reason lands in ``bundle.failures`` and in
    the manifest, and its kinds are removed (their gates fail closed).
    """
    from soakgate.adapters.state.evidence import now_iso

    started = time.monotonic()
    check_request(skip, files)
    if advisories is not None and "audit" not in skip and "audit" not in files:
        try:
            advisory_docs: list[dict[str, Any]] | None = load_advisories(advisories)
        except CollectFailed as exc:
            raise ConfigError(exc.message) from None
    else:
        advisory_docs = None
    collectors = collectors or DockerCollectors()
    context = project.root / project.config.service.context
    cache = project.state / "cache" / "evidence"
    cache.mkdir(parents=True, exist_ok=True)
    with EvidenceStore.open(project.state) as store:
        run = _Collection(store, release, files, clock or now_iso)
        for kind, path in files.items():
            store.put(
                release,
                kind,
                path,
                name=FILE_NAMES[kind],
                source="supplied",
                details={"supplied_from": str(path.resolve())},
                collected_at=run.clock(),
            )
            run.statuses[kind] = "supplied"
            progress(f"{kind}: supplied {path}")
        for piece in pieces_to_run(skip, files):
            piece_started = time.monotonic()
            progress(f"{piece}: collecting")
            with tempfile.TemporaryDirectory(prefix=f"soakgate-{piece}-") as tmp:
                work = Path(tmp)
                try:
                    if piece == "tests":
                        _tests(run, collectors, context, cache, work, project.config.service)
                    elif piece == "mutation":
                        _mutation(
                            run, collectors, context, cache, work, project.config, reuse_mutation
                        )
                    elif piece == "audit":
                        _audit(
                            run,
                            collectors,
                            context,
                            project.config.service.package,
                            advisories,
                            advisory_docs,
                            advisories_max_age,
                        )
                    else:
                        _perf(
                            run,
                            collectors,
                            project.config,
                            baseline,
                            baseline_stage,
                            perf_seconds,
                        )
                except Exception as exc:  # keep going: the other pieces still run
                    run.fail_piece(piece, reason_of(exc))
            seconds = time.monotonic() - piece_started
            outcome = f"failed: {run.failures[piece]}" if piece in run.failures else "done"
            progress(f"{piece}: {outcome} ({seconds:.0f} s)")
        manifest = store.write_manifest(release)
        rows = tuple(_rows(store, release, run.statuses, set(skip)))
    return EvidenceBundle(
        release,
        manifest.parent,
        manifest,
        rows,
        dict(run.failures),
        time.monotonic() - started,
    )


def _tests(
    run: _Collection,
    collectors: Collectors,
    context: Path,
    cache: Path,
    work: Path,
    service: ServiceConfig,
) -> None:
    outcome = collectors.tests(run.release, context, service, cache, work)
    details = {"pytest_exit": outcome.exit_code, "seconds": round(outcome.seconds, 1)}
    run.put("tests-log", outcome.log.encode(), tools=outcome.tools, details=details)
    run.put("junit", outcome.junit, tools=outcome.tools, details=details)
    if outcome.coverage is not None:
        run.put("coverage", outcome.coverage, tools=outcome.tools, details=details)
    else:
        run.fail("coverage", outcome.coverage_error or "coverage json wrote no report")


def _mutation(
    run: _Collection,
    collectors: Collectors,
    context: Path,
    cache: Path,
    work: Path,
    config: ProjectConfig,
    reuse: bool,
) -> None:
    release, service = run.release, config.service
    if not collectors.same_code(release, context, service):
        package = service.package.strip("/")
        raise CollectFailed(
            f"the service source in {context} is not the code of release {release.short}"
            f" (its {package}/ differs from {service.app_dir.rstrip('/')}/{package} in the"
            f" image): check out revision {release.revision} or pass --mutation FILE"
        )
    fingerprint = collectors.fingerprint(context, service)
    # reused only under the same Python series: the score is measured under the release's own
    reuse_key = f"{fingerprint}:py{release.python_series}"
    if reuse:
        found = run.store.find_detail("mutation", "reuse_key", reuse_key)
        if found is not None and found[1].source != "supplied":
            digest, record = found
            data = run.store.read(digest, "mutation")
            if data is not None:
                run.put(
                    "mutation",
                    data,
                    source="reused",
                    tools=record.tools,
                    details={**record.details, "reused_from": digest},
                )
                return
    outcome = collectors.mutation(release, context, service, cache, work)
    details = {
        **outcome.details,
        "source_revision": release.revision,
        "source_fingerprint": fingerprint,
        "reuse_key": reuse_key,
        "mode": "full",
        "mutants": outcome.run.total,
        "seconds": round(outcome.seconds, 1),
    }
    document = mutation_document(
        outcome.run, revision=release.revision, fingerprint=fingerprint, extra={"mode": "full"}
    )
    run.put("mutmut-stats", outcome.stats_file, tools=outcome.tools, details=details)
    run.put(
        "mutation",
        (json.dumps(document, indent=2) + "\n").encode(),
        tools=outcome.tools,
        details=details,
    )


def _audit(
    run: _Collection,
    collectors: Collectors,
    context: Path,
    package: str,
    advisories: Path | None,
    advisory_docs: list[dict[str, Any]] | None,
    max_age: float = ADVISORIES_MAX_AGE,
) -> None:
    try:
        _packages(run, collectors, advisories, advisory_docs, max_age)
    except Exception as exc:  # bandit below still runs
        run.fail_piece("audit", reason_of(exc), ("sbom", "audit", "advisories", "pip-audit"))
    try:
        report, version = collectors.bandit(context / package)
        counts = bandit_summary(report)
        run.put(
            "bandit",
            report.encode(),
            tools={"bandit": version or "?"},
            details={"severities": counts, "root": str(context)},
        )
    except Exception as exc:
        run.fail("bandit", reason_of(exc))


def _packages(
    run: _Collection,
    collectors: Collectors,
    advisories: Path | None,
    advisory_docs: list[dict[str, Any]] | None,
    max_age: float = ADVISORIES_MAX_AGE,
) -> None:
    installed = collectors.inventory(run.release)
    tools = {"cyclonedx-python-lib": _version("cyclonedx-python-lib")}
    run.put(
        "sbom",
        sbom_json(run.release, installed).encode(),
        tools=tools,
        details={"packages": len(installed)},
    )
    # kept above: `soakgate advisories refresh` reads the SBOM when this directory is stale
    checked = (
        check_advisories(advisories, installed, now=run.clock(), max_age=max_age)
        if advisories is not None and advisory_docs is not None
        else None
    )
    pip_audit = collectors.pip_audit(installed)
    result: AuditResult = audit_packages(
        installed,
        advisories=advisory_docs,
        advisories_label=f"{advisories} ({checked.freshness.line})" if checked else "",
        uncovered=checked.uncovered if checked else None,
        pip_audit=pip_audit,
    )
    audit_tools = {"pip-audit": pip_audit.version or "?"}
    refreshed = (
        {
            "refreshed_at": checked.refresh.refreshed_at,
            "index": checked.refresh.index,
            "age": checked.freshness.line,
            "not_covered": sorted(checked.uncovered),
        }
        if checked
        else {}
    )
    if advisory_docs is not None:
        document = {
            "source": str(advisories),
            "count": len(advisory_docs),
            "advisories": list(result.relevant_advisories),
        }
        run.put(
            "advisories",
            (json.dumps(document, indent=2) + "\n").encode(),
            details={"source": str(advisories), "count": len(advisory_docs), **refreshed},
        )
    if pip_audit.output is not None:
        run.put("pip-audit", pip_audit.output.encode(), tools=audit_tools)
    details = {
        "sources": result.sources,
        "packages": len(installed),
        "unaudited": len(result.audit.unaudited),
        "vulnerabilities": len(result.audit.vulnerabilities),
        **({"advisories_refreshed": checked.freshness.line} if checked else {}),
    }
    text = json.dumps(audit_document(installed, result.audit), indent=2) + "\n"
    run.put("audit", text.encode(), tools=audit_tools, details=details)


def _perf(
    run: _Collection,
    collectors: Collectors,
    config: ProjectConfig,
    baseline: str | None,
    stage: str | None = None,
    seconds: float = PERF_SECONDS,
) -> None:
    if baseline is None:
        raise CollectFailed(
            "no baseline: nothing runs in the target stage; name it with --for STAGE, or"
            " pass --baseline DIGEST"
        )
    document = collectors.perf(
        baseline,
        run.release.digest,
        config.service.port,
        config.service.health_path,
        config.namespace,
        workload=config.service.workload,
        limit=min((gates.performance for gates in config.gates.values()), default=5.0),
        seconds=seconds,
    )
    details = {"baseline": baseline, "stage": stage, "method": document.get("method", {})}
    run.put("bench", (json.dumps(document) + "\n").encode(), details=details)


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "?"


# --- reading back ---------------------------------------------------------------------------


def _rows(
    store: EvidenceStore, release: Release, statuses: Mapping[str, str], skipped: set[str]
) -> Iterable[EvidenceRow]:
    records = store.records(release.digest)
    failures = store.failures(release.digest)
    for kind in TABLE_KINDS:
        record = records.get(kind)
        piece = piece_of(kind)
        if kind in failures and kind not in records:
            yield EvidenceRow(kind, "failed", "", None, failures[kind])
            continue
        if record is None:
            status = "skipped" if piece in skipped else "missing"
            reason = "soak evidence comes from --soak FILE" if kind == "soak" else None
            yield EvidenceRow(kind, status, "", None, reason)
            continue
        status = statuses.get(kind, "kept")
        path = store.folder(release.digest) / record.file
        yield EvidenceRow(kind, status, measure(kind, path.read_bytes(), record), str(path))


def measure(kind: str, data: bytes, record: EvidenceRecord | None = None) -> str:
    """A short line on what a stored evidence file says."""
    try:
        if kind == "junit":
            run = parse_junit(data)
            return f"{run.passed}/{run.tests} passed, {run.failures + run.errors} failed"
        if kind == "coverage":
            return f"{parse_coverage(data):.2f} % of the service's package"
        if kind == "mutation":
            mutation = parse_mutation(data)
            reused = str((record.details.get("reused_from") if record else None) or "")
            note = f" (reused: same source as {reused[7:19]})" if reused else ""
            return (
                f"{mutation.score:.2f} % ({mutation.detected}/{mutation.scored} detected,"
                f" {mutation.survived} survived){note}"
            )
        if kind == "audit":
            audit = parse_pip_audit(data)
            return f"{len(audit.vulnerabilities)} known, {len(audit.unaudited)} packages unaudited"
        if kind == "sbom":
            return f"{len(sbom_packages(data))} packages (CycloneDX 1.5)"
        if kind == "bandit":
            counts = bandit_summary(data)
            return ", ".join(f"{counts[s]} {s.lower()}" for s in ("HIGH", "MEDIUM", "LOW"))
        if kind == "bench":
            bench = parse_bench(data)
            interpreters = json.loads(data).get("interpreters") or {}
            unlike = interpreters.get("note") if isinstance(interpreters, dict) else None
            return (
                f"throughput {-bench.throughput_drop:+.1f} %, p50 {bench.p50_increase:+.1f} %,"
                f" p95 {bench.p95_increase:+.1f} % vs {(bench.baseline.release or '?')[7:19]}"
                + (f"; {unlike.split(' (', 1)[0]}" if isinstance(unlike, str) and unlike else "")
            )
        if kind == "soak":
            soak = parse_soak(data)
            return f"{soak.verdict}, {soak.observed_seconds / 86400:.1f} days observed"
    except (EvidenceError, ValueError, KeyError) as exc:
        return f"unreadable: {exc}"
    return ""


def load_evidence(state: Path, release: Release | str) -> Evidence:
    """The stored evidence of a release (or of a digest), parsed with the core parsers;
    ``files`` maps each gate to its file. A file changed since collection raises
    EvidenceTampered; missing evidence is None (its gate fails closed)."""
    digest = release.digest if isinstance(release, Release) else release
    short = short_digest(digest)
    with EvidenceStore.open(state) as store:
        records = store.records(digest)
        data = {kind: store.read(digest, kind) for kind in records}
        paths = {kind: store.path(digest, kind) for kind in data}

    def parsed(kind: str) -> Any:
        raw = data.get(kind)
        if raw is None:
            return None
        try:
            return _PARSERS[kind](raw)
        except EvidenceError as exc:
            raise SoakgateError(
                f"stored {kind} evidence of {short} is unreadable: {exc}",
                hint="collect it again: soakgate evidence collect",
            ) from None

    audit: Audit | None = parsed("audit")
    if audit is not None and data.get("advisories"):
        installed = _installed(data)
        advisories = json.loads(data["advisories"] or b"{}").get("advisories", [])
        matched = match_advisories(installed, advisories)
        audit = combine_audits(audit, Audit(matched.vulnerabilities))
    return Evidence(
        tests=parsed("junit"),
        coverage=parsed("coverage"),
        mutation=parsed("mutation"),
        audit=audit,
        performance=parsed("bench"),
        soak=parsed("soak"),
        code=_code_issues(data.get("bandit"), records.get("bandit"), short),
        files={
            gate: str(paths[kind])
            for gate, kind in GATE_KINDS.items()
            if kind in paths and paths[kind] is not None
        },
    )


def _code_issues(
    raw: bytes | None, record: EvidenceRecord | None, short: str
) -> tuple[CodeIssue, ...] | None:
    """bandit's stored findings, file names relative to the service's context."""
    if raw is None:
        return None
    root = record.details.get("root") if record is not None else None
    try:
        return _parse_bandit(raw, root if isinstance(root, str) else None)
    except EvidenceError as exc:
        raise SoakgateError(
            f"stored bandit evidence of {short} is unreadable: {exc}",
            hint="collect it again: soakgate evidence collect",
        ) from None


def _installed(data: Mapping[str, bytes | None]) -> dict[str, str]:
    """{name: version} from the SBOM, else from the audit document's versions."""
    sbom = data.get("sbom")
    if sbom:
        return sbom_packages(sbom)
    document = json.loads(data.get("audit") or b"{}")
    return {
        str(dep["name"]): str(dep["version"])
        for dep in document.get("dependencies", [])
        if isinstance(dep, dict) and "version" in dep
    }


def perf_baseline(
    project: Project, release: Release, stage: str | None = None, stages: Stages | None = None
) -> tuple[str | None, str | None]:
    """(target stage, the digest it runs now) for the performance comparison of ``release``:
    ``stage`` if named, else the stage after the furthest one running it (staging when it
    runs nowhere yet); (None, None) when it already runs in the last stage."""
    from soakgate.app.promote import live_release

    stages = stages or real_world(project).stages
    if stage is None:
        running = [s for s in STAGES if live_release(stages, s) == release.digest]
        furthest = STAGES.index(running[-1]) if running else 0
        if furthest + 1 >= len(STAGES):
            return None, None
        stage = STAGES[furthest + 1]
    return stage, live_release(stages, stage)
