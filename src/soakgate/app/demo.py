"""Use case: ``soakgate demo``. The 3.12 → 3.14 migration walked end to end on real stages in
the demo's own workspace (``.soakgate/demo/``), each step a real soakgate command there, each
finished step one line with what it measured; a second run resumes after the last finished
step. ``clean`` takes away everything the demo made, and nothing else.

    outcome = run_demo(project, DemoOptions(), events)   # events: what the CLI shows
    clean_demo(project)                                  # the names it removed
    kept_downloads(project)                              # the download cache it kept
"""

from __future__ import annotations

import json
import re
import threading
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from soakgate.adapters.demo_workspace import (
    Workspace,
    clean_engine,
    demo_lock,
    engine_inventory,
    stop_processes_in,
)
from soakgate.adapters.docker.engine import client as engine_client
from soakgate.adapters.evidence.migration_report import stored_comparisons
from soakgate.adapters.images.proxy_image import PROXY_IMAGE
from soakgate.adapters.load import LoadGenerator
from soakgate.adapters.process import Result
from soakgate.app.evidence import PIECES as EVIDENCE_PIECES
from soakgate.app.evidence import EvidenceIncomplete
from soakgate.core.config import STAGES
from soakgate.core.demo import (
    ACCELERATION,
    ENGINE_EVERY,
    JUDGE_EVERY,
    STEPS,
    Step,
    demo_config,
    demo_image,
    demo_namespace,
    next_steps,
    soak_seconds,
    step_seconds,
)
from soakgate.core.names import short_digest
from soakgate.core.project import Project
from soakgate.core.soak import format_duration
from soakgate.errors import ConfigError, SoakgateError

BASELINE, CANDIDATE = "3.12", "3.14"
WHY_LIVE = "soakgate demo: the starting point, 3.12 already live before the migration"
WHY_FORWARD = "soakgate demo: the revert was a drill, 3.14 goes forward again"
WHY_NO_ADVISORIES = (
    "soakgate demo: no advisory source answered on this machine, so the packages are unaudited"
)
GATES_REFUSED = 11  # soakgate gates: a gate failed
STOP_GRACE = 30.0  # seconds from SIGTERM to SIGKILL for commands stopped by Ctrl-C, as a lone one
LOAD_RATE = 40.0  # requests a second through the proxy while a drill or rollback runs
# a shorter comparison than the command's default (30 s of load, at most 120, 5 timed test
# suite runs a side): its intervals are wider, the table says how long it measured, and the
# test suite's duration (half a minute of pytest runs on 2 cores) is left out
COMPARE_BUDGET = ("--seconds", "10", "--max-seconds", "30", "--test-rounds", "0")
# the perf bench's first round (the command's default: 40 s); more rounds follow while its
# verdict is inconclusive, and the evidence file records how long it measured
PERF_SECONDS = "15"
SUMMARY_FIGURES = (
    ("throughput all requests", "throughput"),
    ("p95 all requests", "p95 latency"),
    ("memory under load", "memory under load"),
    ("start-up", "start-up"),
)
# simulated seconds soaked beyond the gate's week: room for gaps (at x20160 a 0.1 s hiccup of
# the monitor is a 35-minute gap; a healthy run loses 1-3 h, one begun on an engine restart
# 1.5 h more while the stage starts)
SOAK_MARGIN = 12 * 3600


class DemoEvents(Protocol):
    """What the demo tells its user as it goes (the CLI draws it)."""

    def step_started(self, step: Step, number: int, total: int) -> None: ...
    def output(self, line: str) -> None: ...
    def progress(self, fraction: float, text: str) -> None: ...
    def step_finished(self, step: Step, line: str, seconds: float, resumed: bool) -> None: ...
    def show(self, text: str) -> None: ...


@dataclass(frozen=True)
class DemoOptions:
    soak: str = "accelerated"  # or "real": a week on the wall clock


@dataclass
class DemoOutcome:
    workspace: Path
    report: Path
    seconds: float
    lines: list[str] = field(default_factory=list)


class DemoStepFailed(SoakgateError):
    exit_code = 1


def run_demo(project: Project, options: DemoOptions, events: DemoEvents) -> DemoOutcome:
    """Walk every step not done yet; one demo at a time per project."""
    started = time.monotonic()
    workspace = Workspace.of(project.root)
    with demo_lock(project.root):
        journal = _prepare(project, workspace, options)
        run = _DemoRun(project, workspace, journal, events)
        done: dict[str, Any] = journal["steps"]
        todo = next_steps(done)
        for step in STEPS:
            if step not in todo:  # finished by an earlier run
                record = done[step.key]
                events.step_finished(step, record["line"], record["seconds"], True)
        try:
            for step in todo:
                run.start_mutation_beside()  # once both images exist
                number = STEPS.index(step) + 1
                events.step_started(step, number, len(STEPS))
                began = time.monotonic()
                line = run.do(step)
                seconds = time.monotonic() - began
                done[step.key] = {"line": line, "seconds": round(seconds, 3)}
                workspace.write_journal(journal)
                events.step_finished(step, line, seconds, False)
        except BaseException:
            run.stop_beside()
            raise
        return DemoOutcome(
            workspace.root,
            run.report_path,
            time.monotonic() - started,
            [done[step.key]["line"] for step in STEPS],
        )


def clean_demo(project: Project) -> list[str]:
    """Remove the demo's containers, networks, images, stacks and state; nothing else (its
    download cache stays: :func:`kept_downloads`)."""
    workspace = Workspace.of(project.root)
    with demo_lock(project.root):
        found = workspace.read_found()
        workspace.remove()  # first: nothing of it still runs (a soak monitor) or restarts
        removed = clean_engine(
            engine_client(),
            found,
            namespace=demo_namespace(project.config.namespace),
            own=(demo_image(project.config.service.image),),
            shared=(project.config.images.base_prefix, PROXY_IMAGE.rsplit(":", 1)[0]),
        )
        report = _report_path(project)
        if report.exists():
            report.unlink()
            removed.append(f"file {report}")
        return removed


def kept_downloads(project: Project) -> Path | None:
    """The demo's download cache (wheels, index pages), which ``--clean`` keeps, if any."""
    downloads = Workspace.of(project.root).downloads
    return downloads if downloads.is_dir() else None


def _report_path(project: Project) -> Path:
    return project.report("demo.html")


def _prepare(project: Project, workspace: Workspace, options: DemoOptions) -> dict[str, Any]:
    """The journal of the demo under way, or of a new one with a fresh workspace."""
    journal = workspace.read_journal() if workspace.exists else {}
    if journal:
        if journal.get("soak") != options.soak:
            raise ConfigError(
                f"the demo under way soaks {journal.get('soak')}, not {options.soak}",
                hint="finish it with the same --soak, or start afresh: soakgate demo --clean",
            )
        # a demo killed half-way leaves its command finishing (SIGTERM reached it): stop it
        stop_processes_in(workspace.root)
        return journal
    if workspace.read_found() is None:  # what the engine held before the demo's first step
        workspace.write_found(engine_inventory(engine_client()))
    from soakgate.scratch import free_port

    raw = tomllib.loads((project.root / "soakgate.toml").read_text())
    config = demo_config(
        raw,
        context=Path(project.config.service.context),
        ports={stage: free_port() for stage in STAGES},
        soak=options.soak,
    )
    workspace.make(project.root, config, project.config.service.context)
    journal = {"soak": options.soak, "steps": {}}
    workspace.write_journal(journal)
    return journal


class _DemoRun:
    def __init__(
        self, project: Project, workspace: Workspace, journal: dict[str, Any], events: DemoEvents
    ) -> None:
        self.project = project
        self.workspace = workspace
        self.journal = journal
        self.events = events
        self.config = tomllib.loads((workspace.root / "soakgate.toml").read_text())
        self.report_path = _report_path(project)
        self.readiness_file = workspace.state / "readiness-3.14.json"
        self.releases: list[dict[str, Any]] | None = None
        self.beside: _Beside | None = None  # 3.14's mutation run, beside the early steps

    # --- running commands -------------------------------------------------------------------

    def soakgate(
        self, step: Step, *args: str, show: bool = False, ok: tuple[int, ...] = (0,)
    ) -> Result:
        result = self.workspace.soakgate(list(args), log=step.key, on_line=self.events.output)
        if result.exited not in ok:
            tail = " | ".join(
                line.strip() for line in result.stdout.splitlines()[-3:] if line.strip()
            )
            raise DemoStepFailed(
                f"demo step {step.key!r}: soakgate {' '.join(args)} exited {result.exited}"
                f" ({tail})",
                hint=f"its output is in {self.workspace.logs / (step.key + '.log')};"
                " fix the cause and run soakgate demo again: it resumes at this step",
            )
        if show:
            self.events.show(result.stdout.rstrip())
        return result

    def json_of(self, step: Step, *args: str, ok: tuple[int, ...] = (0,)) -> Any:
        return json.loads(self.soakgate(step, *args, "--json", ok=ok).stdout)

    def together(self, step: Step, commands: Mapping[str, Sequence[str]]) -> dict[str, Result]:
        """Run several ``soakgate`` commands at once (each logged to ``logs/<step>-<name>.log``),
        all to the end; the first that failed fails the step. Interrupted (Ctrl-C reaches this
        thread only), every command running in the workspace gets SIGTERM and the grace a lone
        one gets before SIGKILL. Each worker thread outlives its command (it waits for it), so
        the command's parent-death signal only fires when the demo dies."""
        if not commands:
            return {}
        with ThreadPoolExecutor(max_workers=len(commands)) as pool:
            futures: dict[str, Future[Result]] = {}
            try:
                for name, args in commands.items():
                    key = f"{step.key}-{name}"
                    futures[name] = pool.submit(self.soakgate, replace(step, key=key), *args)
                wait(futures.values())
            except BaseException:
                stop_processes_in(self.workspace.root, wait=STOP_GRACE)
                raise
        # the first failure raises, with its own log's name
        return {name: future.result() for name, future in futures.items()}

    def release(self, step: Step, series: str) -> dict[str, Any]:
        """The newest built release of a Python series (not a drill's copy). Read once per
        run: the demo's releases are all built by its build step."""
        if self.releases is None:
            self.releases = self.json_of(step, "releases")
        for release in self.releases:
            if str(release["python"]).startswith(series + ".") and not str(
                release["app_version"]
            ).endswith("-drill"):
                return dict(release)
        raise DemoStepFailed(f"demo step {step.key!r}: no {series} release was built")

    def actives(self, step: Step) -> dict[str, str | None]:
        """The release each stage serves now (None: nothing)."""
        return {view["stage"]: _active_digest(view) for view in self.json_of(step, "status")}

    def active(self, step: Step, stage: str) -> str | None:
        return self.actives(step).get(stage)

    def url(self, stage: str) -> str:
        port = self.config["stages"][stage]["port"]
        return f"http://127.0.0.1:{port}{self.config['service'].get('health_path', '/health')}"

    # --- the steps ----------------------------------------------------------------------------

    def do(self, step: Step) -> str:
        handler: Callable[[Step], str] = getattr(self, "step_" + step.key.replace("-", "_"))
        return handler(step)

    def step_bases(self, step: Step) -> str:
        began = time.monotonic()
        self.soakgate(step, "images", "bases")
        return f"base images ready in {step_seconds(time.monotonic() - began)}"

    def step_build(self, step: Step) -> str:
        self.soakgate(step, "build")
        self.workspace.keep_wheelhouse(self.project.config.service.context)
        parts = []
        for series in (BASELINE, CANDIDATE):
            release = self.release(step, series)
            parts.append(f"{series} {release['digest']} ({release['size'] / 1e6:.0f} MB)")
        return "built " + ", ".join(parts)

    def step_live(self, step: Step) -> str:
        """3.12 deployed to the three stages at once (each its own stack, lock and slots)."""
        release = self.release(step, BASELINE)
        began = time.monotonic()
        active = self.actives(step)
        deploys = {}
        for stage in STAGES:
            if active.get(stage) != release["digest"]:
                extra = () if stage == "dev" else ("--override", "all", "--reason", WHY_LIVE)
                deploys[stage] = ("deploy", stage, "--release", release["digest"], *extra)
        self.together(step, deploys)
        return (
            f"{', '.join(STAGES)}: 3.12 {short_digest(release['digest'])} live"
            f" ({step_seconds(time.monotonic() - began)})"
        )

    def step_readiness(self, step: Step) -> str:
        requirements = self.config["service"].get("requirements", [])
        if not requirements:
            return "readiness: the service needs nothing beyond the standard library"
        context = Path(self.config["service"]["context"])
        files = [str(context / name) for name in requirements]
        result = self.soakgate(
            step, "readiness", *files, "--python", CANDIDATE, show=True, ok=(0, 1, 2)
        )
        table = self.soakgate(
            step, "readiness", *files, "--python", CANDIDATE, "--format", "json", ok=(0, 1, 2)
        )
        self.readiness_file.write_text(table.stdout)
        verdict = "ready" if result.exited == 0 else f"not ready (exit {result.exited})"
        return f"readiness for 3.14: {verdict}, {len(files)} requirement files judged"

    def step_deploy_dev(self, step: Step) -> str:
        release = self.release(step, CANDIDATE)
        began = time.monotonic()
        if self.active(step, "dev") != release["digest"]:
            self.soakgate(step, "deploy", "dev", "--release", release["digest"])
        return (
            f"dev: 3.14 {short_digest(release['digest'])} live"
            f" ({step_seconds(time.monotonic() - began)})"
        )

    # --- 3.14's mutation run, beside the steps before its evidence ----------------------------

    def start_mutation_beside(self) -> None:
        """Start 3.14's mutation run (the longest piece of its evidence: about 90 s on 2
        cores, and it needs no stage) as soon as both images exist, in a thread of its own
        beside the steps up to the evidence step, which waits for it and keeps its result.
        Logged to ``logs/evidence-mutation.log``; nothing to do once that step is done."""
        done = self.journal["steps"]
        if self.beside is not None or "build" not in done or "evidence-staging" in done:
            return
        evidence_step = next(step for step in STEPS if step.key == "evidence-staging")
        digest = self.release(evidence_step, CANDIDATE)["digest"]
        args = ["evidence", "collect", digest, *_skip_all_but("mutation")]

        def work() -> None:
            beside.result = self.workspace.soakgate(args, log="evidence-mutation")

        # a daemon: a demo that fails or is stopped ends the command first (stop_beside), and
        # its parent-death signal reaches it however the demo dies
        thread = threading.Thread(target=work, name="demo-mutation", daemon=True)
        beside = _Beside(time.monotonic(), thread)
        thread.start()
        self.beside = beside

    def mutation_kept(self) -> bool:
        """Wait for the mutation run started beside the earlier steps; whether it stored the
        mutation evidence (else the evidence step collects it itself)."""
        beside, self.beside = self.beside, None
        if beside is None:
            return False
        beside.thread.join()
        seconds = time.monotonic() - beside.started
        log = self.workspace.logs / "evidence-mutation.log"
        if beside.result is not None and beside.result.exited == 0:
            self.events.output(
                f"  mutation: run beside the steps before this one ({seconds:.0f} s); kept"
            )
            return True
        exited = "did not start" if beside.result is None else f"exited {beside.result.exited}"
        self.events.output(
            f"  mutation: the run beside the earlier steps {exited} ({log}); collected again now"
        )
        return False

    def stop_beside(self) -> None:
        """A demo that stops half-way first ends its mutation run (with a lone command's
        grace), so nothing it started outlives it."""
        beside = self.beside
        if beside is not None and beside.thread.is_alive():
            stop_processes_in(self.workspace.root, wait=STOP_GRACE)
            beside.thread.join(timeout=STOP_GRACE)

    def step_evidence_staging(self, step: Step) -> str:
        release = self.release(step, CANDIDATE)
        kept = ["--skip", "mutation"] if self.mutation_kept() else []
        osv = self.workspace.state / "advisories"
        refresh = ["advisories", "refresh", str(osv)]
        context = Path(self.config["service"]["context"])
        for name in self.config["service"].get("requirements", []):
            refresh += ["--requirements", str(context / name)]
        refreshed = self.workspace.soakgate(refresh, log=step.key, on_line=self.events.output)
        self.journal["advisories"] = refreshed.exited == 0
        given = ["--advisories", str(osv)] if refreshed.exited == 0 else []
        collected = self.soakgate(
            step, "evidence", "collect", release["digest"], "--for", "staging", *given, *kept,
            "--perf-seconds", PERF_SECONDS,
            show=True, ok=(0, EvidenceIncomplete.exit_code),
        )  # fmt: skip
        where = "" if given else "; no advisory source answered: packages unaudited"
        state = "complete" if collected.exited == 0 else "incomplete (its gates fail closed)"
        return f"evidence of 3.14 {short_digest(release['digest'])}: {state}{where}"

    def _promote(self, step: Step, source: str, target: str, allow_bad: str = "") -> str:
        """Promote 3.14 after showing the gate table; with ``allow_bad`` (the reason) even
        quarantined. Where no advisory source answered, the vulnerability gate (failed closed
        on unaudited packages) is overridden on the ledger, and only that one."""
        release = self.release(step, CANDIDATE)
        extra: list[str] = ["--allow-bad"] if allow_bad else []
        reasons = [allow_bad] if allow_bad else []
        if self.active(step, target) != release["digest"]:
            gates = self.soakgate(step, "gates", source, target, show=True, ok=(0, GATES_REFUSED))
            failed = [
                gate["name"]
                for gate in self.json_of(step, "gates", source, target, ok=(0, GATES_REFUSED))[
                    "gates"
                ]
                if not gate["passed"]
            ]
            overridden = failed == ["vulnerabilities"] and not self.journal.get("advisories")
            if overridden:
                extra += ["--override", "vulnerabilities"]
                reasons.append(WHY_NO_ADVISORIES)
            elif gates.exited != 0:
                raise DemoStepFailed(
                    f"demo step {step.key!r}: gates {source} → {target} failed: "
                    + ", ".join(failed),
                    hint="the gate table is above and in the step's log; run soakgate demo"
                    " again once they pass, or start afresh with soakgate demo --clean",
                )
            if reasons:
                extra += ["--reason", "; ".join(reasons)]
            self.soakgate(step, "promote", source, target, "--no-soak", *extra)
        how = (
            "through every gate but vulnerabilities, overridden on the ledger (no advisory"
            " source answered)"
            if "--override" in extra
            else "through every gate"
        )
        return f"{target}: 3.14 {short_digest(release['digest'])} promoted {how}"

    def step_promote_staging(self, step: Step) -> str:
        return self._promote(step, "dev", "staging")

    def step_soak(self, step: Step) -> str:
        # a little more than the gate asks: the first probe interval is not observed time
        span = soak_seconds(self.config) + SOAK_MARGIN
        args = ["soak", "run", "staging", "--duration", f"{span}s"]
        accelerated = self.journal["soak"] == "accelerated"
        if accelerated:  # never resumed: a killed run's soak is ended, a fresh one runs
            args += ["--accelerate", str(ACCELERATION), "--engine-every", ENGINE_EVERY]
            args += ["--judge-every", JUDGE_EVERY]
        wall = span / ACCELERATION if accelerated else span
        began = time.monotonic()

        def on_line(line: str) -> None:
            self.events.output(line)
            elapsed = time.monotonic() - began
            self.events.progress(
                min(1.0, elapsed / wall),
                f"{format_duration(elapsed)} of about {format_duration(wall)}",
            )

        result = self.workspace.soakgate(args, log=step.key, on_line=on_line, timeout=wall + 600)
        if result.exited != 0:
            raise DemoStepFailed(
                f"demo step 'soak': soakgate {' '.join(args)} exited {result.exited}",
                hint=f"its output is in {self.workspace.logs / 'soak.log'}; run soakgate demo"
                " again: it resumes the soak",
            )
        verdict = self.json_of(step, "soak", "status", "staging")["verdict"]
        if verdict["state"] != "healthy":
            raise DemoStepFailed(
                f"demo step 'soak': the soak of staging ended {verdict['state']}: "
                + "; ".join(verdict["reasons"]),
                hint="soakgate soak status staging (in .soakgate/demo) shows why; run"
                " soakgate demo again to soak afresh",
            )
        label = (
            f"ACCELERATED x{ACCELERATION}, {step_seconds(time.monotonic() - began)} of wall clock"
            if accelerated
            else "real clock"
        )
        return (
            f"soak staging: {verdict['state']}, {format_duration(verdict['observed_seconds'])}"
            f" observed ({label}), {verdict['probes']:,} probes"
        )

    def step_promote_production(self, step: Step) -> str:
        return self._promote(step, "staging", "production")

    def _under_load(self, step: Step, stage: str, *args: str) -> tuple[dict[str, Any], str]:
        """Run ``soakgate ARGS`` with load on the stage's proxy; the newest rollback it put on
        the ledger, and the load's line."""
        with LoadGenerator(self.url(stage), rate=LOAD_RATE, max_seconds=600, timeout=10) as load:
            self.soakgate(step, *args)
        report = load.report
        events = self.json_of(step, "history", stage)
        rollbacks = [e for e in events if e["kind"] in ("rollback", "drill")]
        if not rollbacks:
            raise DemoStepFailed(f"demo step {step.key!r}: no rollback on the ledger")
        return rollbacks[-1], f"{report.failed:,} failed of {report.sent:,} requests"

    def _rollback_line(self, what: str, stage: str, event: dict[str, Any], load: str) -> str:
        data = event["data"]
        budget = data.get("budget_seconds")
        within = "within" if data.get("within_budget") else "OVER"
        return (
            f"{what} {stage}: traffic restored in {data['seconds_to_restored']:.2f} s,"
            f" budget {format_duration(budget) if budget else '?'} ({within}), {load}"
        )

    def step_drill(self, step: Step) -> str:
        event, load = self._under_load(step, "production", "drill", "production")
        return self._rollback_line("drill (emergency rollback)", "production", event, load)

    def step_revert(self, step: Step) -> str:
        event, load = self._under_load(
            step, "production", "rollback", "production", "--python", BASELINE,
            "--reason", "soakgate demo: revert to 3.12",
        )  # fmt: skip
        return self._rollback_line("rollback to 3.12", "production", event, load)

    def step_forward(self, step: Step) -> str:
        began = time.monotonic()
        line = self._promote(step, "staging", "production", allow_bad=WHY_FORWARD)
        return f"{line}, again ({step_seconds(time.monotonic() - began)})"

    def step_compare(self, step: Step) -> str:
        old, new = self.release(step, BASELINE), self.release(step, CANDIDATE)
        self.soakgate(
            step, "compare", old["digest"], new["digest"], *COMPARE_BUDGET, show=True
        )  # fmt: skip
        stored = stored_comparisons(self.workspace.state)
        if not stored:
            raise DemoStepFailed("demo step 'compare': the comparison stored nothing")
        document = stored[0][0]
        figures = {
            f"{figure['name']} {figure.get('kind') or ''}".strip(): figure
            for figure in document.get("figures", [])
        }
        parts = [
            f"{label} {figures[name]['change_percent']:+.0f} %"
            for name, label in SUMMARY_FIGURES
            if isinstance(figures.get(name, {}).get("change_percent"), int | float)
        ]
        return f"3.14 against 3.12: {document.get('verdict')} ({', '.join(parts)})"

    def step_verify(self, step: Step) -> str:
        """testinfra on the three stages at once."""
        results = self.together(step, {stage: ("verify", stage) for stage in STAGES})
        counts = [
            _last_match(r"(\d+ checks passed)", results[stage].stdout) or "passed"
            for stage in STAGES
        ]
        return "verified: " + ", ".join(f"{s} {c}" for s, c in zip(STAGES, counts, strict=True))

    def step_report(self, step: Step) -> str:
        self.report_path.parent.mkdir(parents=True, exist_ok=True)
        readiness = (
            ["--readiness", str(self.readiness_file)] if self.readiness_file.exists() else []
        )
        self.soakgate(step, "report", "--output", str(self.report_path), *readiness)
        self.soakgate(step, "status", show=True)
        return f"report: {self.report_path}"


@dataclass
class _Beside:
    """A command run in a thread beside the demo's steps."""

    started: float
    thread: threading.Thread
    result: Result | None = None  # set by the thread when its command ends


def _skip_all_but(piece: str) -> list[str]:
    """``--skip`` options for every evidence piece but ``piece``."""
    return [arg for other in EVIDENCE_PIECES if other != piece for arg in ("--skip", other)]


def _active_digest(view: dict[str, Any]) -> str | None:
    active = view.get("active")
    for slot in view.get("slots", []):
        if slot.get("name") == active and slot.get("running"):
            digest = slot.get("digest")
            return str(digest) if digest else None
    return None


def _last_match(pattern: str, text: str) -> str | None:
    found = None
    for line in text.splitlines():
        match = re.search(pattern, line.strip())
        if match:
            found = match.group(1)
    return found
