"""The demo's pure parts, the accelerated soak (clock, store label, gate, verdict file) and
the project report's page, without an engine."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from soakgate.adapters.clock import AcceleratedClock
from soakgate.adapters.project_report import ReportInput, SoakPart, StageRow, render_project_report
from soakgate.adapters.soak.report import series_from_samples
from soakgate.adapters.state.soaks import SoakStore
from soakgate.core.config import parse_config
from soakgate.core.demo import STEPS, demo_config, next_steps
from soakgate.core.evidence import EvidenceError, SoakVerdict, parse_soak
from soakgate.core.gates import DEFAULT_THRESHOLDS, evaluate_gates, parse_gates
from soakgate.core.ledger import Event
from soakgate.core.soak import EngineSample, Sample, SloConfig, judge_soak
from soakgate.errors import SoakgateError
from tests.unit.cli_run import run_soakgate
from tests.unit.test_gates import PRODUCTION, passing

ROOT = Path(__file__).resolve().parents[2]
PORTS = {"dev": 21001, "staging": 21002, "production": 21003}
WEEK = 7 * 86400


def project_toml() -> dict[str, object]:
    return tomllib.loads((ROOT / "soakgate.toml").read_text())


# --- the workspace's config -------------------------------------------------------------------


def test_the_demo_config_is_apart_from_the_projects_and_valid() -> None:
    raw = project_toml()
    raw["stages"]["production"]["hosts"] = ["ssh://deploy@10.0.0.1"]  # type: ignore[index]
    config = demo_config(raw, context=Path("images/service"), ports=PORTS)
    parsed = parse_config(config)
    assert parsed.namespace == "demo"
    assert parsed.service.image == "soakgate/service-demo"
    assert {stage: parsed.stages[stage].port for stage in PORTS} == PORTS
    assert "hosts" not in config["stages"]["production"]  # the demo's stages are local
    assert parsed.gates["staging_to_production"].accelerated_soak is True
    assert parsed.slo.probe_interval_seconds == 600  # a probe every 10 simulated minutes
    # the project's own values stay: its RTO budgets, its SLO thresholds
    assert parsed.stages["production"].rto_seconds == 3600
    assert parsed.slo.p95_ms == 300
    assert raw["namespace"] == ""  # its input untouched


def test_a_real_soak_demo_keeps_the_projects_slo_and_refuses_accelerated_soaks() -> None:
    raw = project_toml()
    raw["namespace"] = "team"
    parsed = parse_config(demo_config(raw, context=Path("x"), ports=PORTS, soak="real"))
    assert parsed.namespace == "teamdemo"
    assert parsed.gates["staging_to_production"].accelerated_soak is False
    assert parsed.slo.probe_interval_seconds == 1
    with pytest.raises(ValueError, match="soak mode 'fast'"):
        demo_config(raw, context=Path("x"), ports=PORTS, soak="fast")


def test_resume_starts_at_the_first_step_not_done() -> None:
    assert next_steps({}) == list(STEPS)
    done = {step.key: {} for step in STEPS[:5]}
    assert next_steps(done)[0] == STEPS[5]
    done.pop(STEPS[2].key)  # a hole: everything from it is done again
    assert next_steps(done) == list(STEPS[2:])
    assert next_steps({step.key: {} for step in STEPS}) == []


# --- the accelerated clock ----------------------------------------------------------------------


def test_the_accelerated_clock_runs_a_week_that_ends_now() -> None:
    before = time.time()
    clock = AcceleratedClock(10080, WEEK)
    first = clock()
    assert before - WEEK - 1 < first <= time.time() - WEEK + 10080 * 0.5
    began = time.monotonic()
    assert clock.sleep(60 * 60) is False  # an hour of it: about 0.36 s of the wall's
    slept = time.monotonic() - began
    assert 0.3 < slept < 2.0
    assert clock() - first >= 3600
    stop = threading.Event()
    stop.set()
    assert AcceleratedClock(2, 60, stop).sleep(3600) is True  # a stop ends any sleep
    with pytest.raises(ValueError, match="factor of 1 or more"):
        AcceleratedClock(0.5, 60)


# --- the soak store keeps the label ----------------------------------------------------------


def test_an_accelerated_soak_is_labelled_and_not_resumed_on_the_real_clock(tmp_path: Path) -> None:
    with SoakStore.open(tmp_path) as store:
        recorder = store.begin("staging", "sha256:" + "a" * 64, time_scale=10080)
        assert recorder.soak.time_scale == 10080
        with pytest.raises(SoakgateError, match="runs on a clock x10080, this monitor on one x1"):
            store.begin("staging", "sha256:" + "a" * 64, pid=recorder.pid)
        again = store.begin("staging", "sha256:" + "a" * 64, time_scale=10080, anew=True)
        assert again.soak.id != recorder.soak.id  # an accelerated run starts afresh
        first = store.soak(recorder.soak.id)
        assert first is not None and first.end_reason == "superseded by a fresh accelerated run"
        assert store.soaks()[0].time_scale == 10080


def test_a_soaks_table_of_before_gets_the_column(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "soakgate.db")
    old.executescript(
        "CREATE TABLE soaks (id INTEGER PRIMARY KEY, stage TEXT NOT NULL, release TEXT NOT NULL,"
        " baseline TEXT, started_at INTEGER NOT NULL, ended_at INTEGER, state TEXT NOT NULL,"
        " end_reason TEXT, pid INTEGER, heartbeat INTEGER);"
        "INSERT INTO soaks (stage, release, started_at, state) VALUES"
        " ('staging', 'sha256:old', 1000, 'healthy');"
    )
    old.commit()
    old.close()
    with SoakStore.open(tmp_path) as store:
        (soak,) = store.soaks()
    assert (soak.release, soak.time_scale) == ("sha256:old", 1.0)


# --- the gate and the verdict file ------------------------------------------------------------


def test_the_production_gate_refuses_an_accelerated_soak_unless_told() -> None:
    evidence = replace(passing(), soak=SoakVerdict("healthy", WEEK, time_scale=10080))
    refused = next(
        r
        for r in evaluate_gates(PRODUCTION, DEFAULT_THRESHOLDS[PRODUCTION], evidence)
        if r.name == "soak"
    )
    assert not refused.passed
    assert "ACCELERATED x10080" in refused.measured
    assert any("accelerated clock" in reason for reason in refused.reasons)
    told = parse_gates({"staging_to_production": {"accelerated_soak": True}})[PRODUCTION]
    passed = next(r for r in evaluate_gates(PRODUCTION, told, evidence) if r.name == "soak")
    assert passed.passed and "ACCELERATED" in passed.measured
    with pytest.raises(Exception, match="accelerated_soak: expected true or false"):
        parse_gates({"staging_to_production": {"accelerated_soak": "yes"}})


def test_a_soak_file_carries_its_clock() -> None:
    found = parse_soak('{"verdict": "healthy", "observed_seconds": 604800, "time_scale": 10080}')
    assert found.time_scale == 10080
    assert parse_soak('{"verdict": "healthy", "observed_seconds": 1}').time_scale == 1
    with pytest.raises(EvidenceError, match="time_scale"):
        parse_soak('{"verdict": "healthy", "observed_seconds": 1, "time_scale": 0.5}')


# --- the report page --------------------------------------------------------------------------


def _event(seq: int, kind: str, stage: str | None, **data: object) -> Event:
    return Event(
        seq, kind, f"2026-12-07T02:{seq:02d}:00.000000Z", "test", stage,
        "sha256:" + "1" * 64, "sha256:" + "2" * 64, dict(data),
    )  # fmt: skip


def test_the_report_page_holds_every_part_and_fetches_nothing(tmp_path: Path) -> None:
    start = time.time() - WEEK
    samples = [Sample(start + i * 300, True, 200, 5.0 + i % 7) for i in range(2016)]
    engines = [EngineSample(start + i * 1800, 0, 0, 100_000_000, 1.0, True) for i in range(336)]
    slo = SloConfig()
    verdict = judge_soak(samples, engines, [], slo, start + WEEK)
    gate_rows = [
        {"name": "tests", "passed": True, "threshold": "≥ 100 %", "measured": "100 %",
         "reasons": [], "evidence_file": "/state/evidence/junit.xml", "overridden_reason": None},
        {"name": "vulnerabilities", "passed": True, "threshold": "none", "measured": "?",
         "reasons": [], "evidence_file": None, "overridden_reason": "no advisory source"},
    ]  # fmt: skip
    events = [
        _event(1, "build", None),
        _event(2, "deploy", "dev"),
        _event(3, "gate", "staging", transition="dev_to_staging", passed=True, gates=gate_rows),
        _event(4, "drill", "production", seconds_to_restored=0.31, path="emergency"),
        _event(5, "rollback", "production", seconds_to_restored=7200.0, path="cold"),
    ]
    data = ReportInput(
        title="soakgate: a <service>",
        stages=[
            StageRow(
                "dev", "http://127.0.0.1:1", "blue", "sha256:" + "2" * 64, "3.14.8", "healthy", "-"
            )
        ],
        events=events,
        budgets={"dev": 28800.0, "staging": 14400.0, "production": 3600.0},
        soaks=[
            SoakPart(
                "staging",
                "sha256:" + "2" * 64,
                None,
                10080,
                verdict,
                series_from_samples(samples, engines),
                slo,
            )
        ],
    )
    page = render_project_report(data, tmp_path / "report.html").read_text()
    for heading in ("Stages now", "Timeline", "Gates and their evidence", "Soaks",
                    "Rollbacks against their budgets", "Incidents", "3.12 vs 3.14",
                    "Dependency readiness"):  # fmt: skip
        assert f"<h2>{heading}</h2>" in page
    assert "a &lt;service&gt;" in page  # escaped
    assert page.count("<svg") >= 4  # timeline, rollbacks, soak plots
    assert "ACCELERATED x10080" in page
    assert "overridden: no advisory source" in page
    assert "1/2" in page  # rollbacks within budget: the 2 h one in production is over
    assert "OVER" in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched
    assert "<script" not in page


# --- bad input ------------------------------------------------------------------------------


def test_bad_demo_and_soak_options_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_soakgate(capsys, "demo", "--soak", "fast")
    assert code != 0 and "--soak fast: not one of accelerated, real" in err
    code, _, err = run_soakgate(capsys, "soak", "run", "staging", "--accelerate", "100")
    assert code != 0 and "--accelerate needs --duration" in err
    code, _, err = run_soakgate(capsys, "soak", "run", "staging", "--accelerate", "0.5",
                                "--duration", "7d")  # fmt: skip
    assert code != 0 and "not a factor between 1 and 1000000" in err


# --- what --clean takes away ----------------------------------------------------------------


class _Image:
    def __init__(self, ident: str, tags: list[str], parent: str = "", created: str = "1") -> None:
        self.id, self.tags = ident, tags
        self.attrs = {"Parent": parent, "Created": created}


class _Thing:
    def __init__(self, name: str, gone: list[str]) -> None:
        self.name, self._gone = name, gone

    def remove(self, force: bool = False) -> None:
        self._gone.append(self.name)


class _Images:
    def __init__(self, images: list[_Image]) -> None:
        self.images = images

    def list(self, all: bool = False) -> list[_Image]:
        return [image for image in self.images if all or image.tags]

    def remove(self, ref: str, noprune: bool = False) -> None:
        for image in list(self.images):
            if ref in image.tags:
                image.tags.remove(ref)
                if not image.tags and not any(i.attrs["Parent"] == image.id for i in self.images):
                    self.images.remove(image)
                return
            if image.id == ref:
                self.images.remove(image)
                return
        raise AssertionError(f"no image {ref}")


class _Client:
    def __init__(self, images: list[_Image], containers: list[str], networks: list[str]) -> None:
        self.gone: list[str] = []
        self.images = _Images(images)
        self.containers = type(
            "C", (), {"list": lambda s, **k: [_Thing(n, self.gone) for n in containers]}
        )()
        self.networks = type(
            "N", (), {"list": lambda s, **k: [_Thing(n, self.gone) for n in networks]}
        )()


def test_clean_takes_what_the_demo_made_and_nothing_else() -> None:
    from soakgate.adapters.demo_workspace import clean_engine

    found = {"images": {"user": ["team/app:1"], "old-base": ["soakgate/python:3.14"]}}
    images = [
        _Image("user", ["team/app:1"]),
        _Image("old-base", ["soakgate/python:3.14"]),
        _Image("new-base", ["soakgate/python:3.12"]),  # a cold demo made this one
        _Image("stage1", [], parent="new-base", created="2"),  # its build's first stage
        _Image("stage1b", [], parent="old-base", created="2"),
        _Image("svc", ["soakgate/service-demo:py3.14", "soakgate-test/service:py3.14"], "old-base"),
        _Image("later", ["team/other:2"]),  # built by someone else meanwhile
        _Image("dangling", [], created="3"),  # nobody's build of ours
    ]
    client = _Client(
        images, ["demo-app-dev-blue", "t1-app-dev-blue"], ["demo-soakgate-dev", "bridge"]
    )
    removed = clean_engine(
        client,  # type: ignore[arg-type]
        found,
        namespace="demo",
        own=("soakgate/service-demo",),
        shared=("soakgate/python", "soakgate/proxy"),
    )
    left = {image.id: image.tags for image in client.images.images}
    assert client.gone == ["demo-app-dev-blue", "demo-soakgate-dev"]
    assert left == {
        "user": ["team/app:1"],
        "old-base": ["soakgate/python:3.14"],
        "svc": ["soakgate-test/service:py3.14"],  # the same content under another name stays
        "later": ["team/other:2"],
        "dangling": [],
    }
    assert "image soakgate/python:3.12" in removed


def test_a_bad_readiness_file_is_one_line_before_anything_is_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "readiness.json"
    bad.write_text("[1, 2]")
    code, _, err = run_soakgate(
        capsys, "report", "--readiness", str(bad), "-o", str(tmp_path / "r.html")
    )
    assert code != 0 and "not a readiness JSON document (not an object)" in err
    assert not (tmp_path / "r.html").exists()


def test_two_demos_at_once_the_second_is_refused(tmp_path: Path) -> None:
    from soakgate.adapters.demo_workspace import demo_lock
    from soakgate.errors import LockHeld

    with (
        demo_lock(tmp_path),
        pytest.raises(LockHeld, match="another soakgate demo"),
        demo_lock(tmp_path),
    ):
        pass
    with demo_lock(tmp_path):  # free again once the first is done
        pass


class _Commands:
    """A stand-in for the workspace's ``soakgate``: each command waits until three are under
    way (a barrier), and the one named in ``failing`` exits 1."""

    def __init__(self, root: Path, failing: str = "") -> None:
        self.root = root
        self.state = root / ".soakgate"
        self.logs = root / "logs"
        self.failing = failing
        self.together = threading.Barrier(3, timeout=30)
        self.logged: list[str] = []
        self.lock = threading.Lock()

    def soakgate(self, args: list[str], *, log: str, **_: object) -> object:
        from soakgate.adapters.process import Result

        with self.lock:
            self.logged.append(log)
        self.together.wait()  # all three must be under way at once, or this times out
        exited = 1 if args[-1] == self.failing else 0
        return Result(("soakgate", *args), exited, f"{args[-1]}: 28 checks passed\n", "")


def test_the_stages_commands_run_together_and_a_failure_names_its_log(tmp_path: Path) -> None:
    from soakgate.app.demo import DemoStepFailed, _DemoRun
    from soakgate.core.config import STAGES
    from soakgate.core.demo import Step

    (tmp_path / "soakgate.toml").write_text('[service]\nimage = "x"\n')
    step = Step("verify", "", "every stage verified")

    def run(failing: str = "") -> tuple[_Commands, _DemoRun]:
        commands = _Commands(tmp_path, failing)
        project = type("P", (), {"report": lambda self, name: tmp_path / name})()
        events = type("E", (), {"output": lambda self, line: None})()
        demo = _DemoRun(project, commands, {"steps": {}}, events)  # type: ignore[arg-type]
        return commands, demo

    commands, demo = run()
    assert demo.step_verify(step) == (
        "verified: dev 28 checks passed, staging 28 checks passed, production 28 checks passed"
    )
    assert not commands.together.broken  # all three were under way at once
    assert sorted(commands.logged) == sorted(f"verify-{stage}" for stage in STAGES)

    commands, demo = run(failing="staging")
    with pytest.raises(DemoStepFailed, match=r"demo step 'verify-staging'.*exited 1") as failed:
        demo.step_verify(step)
    assert "verify-staging.log" in failed.value.hint
    assert len(commands.logged) == len(STAGES)  # the others still ran to their end


def test_a_new_workspace_starts_from_the_downloads_of_the_last_and_clean_keeps_them(
    tmp_path: Path,
) -> None:
    from soakgate.adapters.demo_workspace import Workspace

    project = tmp_path / "project"
    for folder in ("infra", "tests/hosts", "svc"):
        (project / folder).mkdir(parents=True)
    (project / "svc" / "Dockerfile").write_text("FROM scratch\n")
    workspace = Workspace.of(project)
    workspace.make(project, {"namespace": "demo"}, "svc")
    assert not (workspace.root / "svc" / ".wheelhouse").exists()  # nothing kept yet
    cache = workspace.state / "cache"
    (cache / "evidence").mkdir(parents=True)  # as the evidence pieces make it
    (cache / "evidence" / "wheel.whl").write_text("wheel")
    built = workspace.root / "svc" / ".wheelhouse" / "py3.14"
    built.mkdir(parents=True)
    (built / "fastapi.whl").write_text("fastapi")
    workspace.keep_wheelhouse("svc")

    workspace.remove()
    assert not workspace.root.exists()
    assert (workspace.downloads / "evidence" / "wheel.whl").read_text() == "wheel"  # kept
    workspace.make(project, {"namespace": "demo"}, "svc")
    seeded = workspace.root / "svc" / ".wheelhouse" / "py3.14" / "fastapi.whl"
    assert seeded.read_text() == "fastapi"
    assert not seeded.is_symlink()  # a copy: the build context holds no link out of it
    assert (workspace.state / "cache" / "evidence" / "wheel.whl").read_text() == "wheel"
    assert sorted(p.name for p in workspace.downloads.iterdir()) == [".wheelhouse", "evidence"]


class _Beside:
    """A stand-in workspace for the mutation run beside the early steps: ``releases`` lists
    3.14, and ``evidence collect`` waits for ``release`` and exits ``exited``."""

    def __init__(self, root: Path, exited: int) -> None:
        self.root = root
        self.state = root / ".soakgate"
        self.logs = root / "logs"
        self.exited = exited
        self.release = threading.Event()
        self.calls: list[tuple[str, list[str]]] = []

    def soakgate(self, args: list[str], *, log: str, **_: object) -> object:
        from soakgate.adapters.process import Result

        self.calls.append((log, args))
        if args[0] == "releases":
            listed = [{"python": "3.14.8", "app_version": "1.0.0", "digest": "sha256:" + "c" * 64}]
            return Result(("soakgate", *args), 0, json.dumps(listed), "")
        assert self.release.wait(timeout=30)
        return Result(("soakgate", *args), self.exited, "", "")


@pytest.mark.parametrize("exited", [0, 1])
def test_the_mutation_run_starts_once_the_images_exist_and_the_evidence_step_waits_for_it(
    tmp_path: Path, exited: int
) -> None:
    from soakgate.app.demo import _DemoRun

    (tmp_path / "soakgate.toml").write_text('[service]\nimage = "x"\n')
    workspace = _Beside(tmp_path, exited)
    project = type("P", (), {"report": lambda self, name: tmp_path / name})()
    lines: list[str] = []
    events = type("E", (), {"output": lambda self, line: lines.append(line)})()
    journal: dict[str, Any] = {"steps": {"bases": {}}}
    demo = _DemoRun(project, workspace, journal, events)  # type: ignore[arg-type]

    demo.start_mutation_beside()  # no images yet: nothing starts
    assert demo.beside is None and workspace.calls == []
    journal["steps"]["build"] = {}
    demo.start_mutation_beside()
    demo.start_mutation_beside()  # once only
    assert demo.beside is not None and demo.beside.thread is not None
    assert demo.beside.thread.is_alive()  # it runs beside whatever step comes next
    workspace.release.set()
    kept = demo.mutation_kept()
    collects = [args for log, args in workspace.calls if log == "evidence-mutation"]
    skips = ["--skip", "tests", "--skip", "audit", "--skip", "perf"]
    assert collects == [["evidence", "collect", "sha256:" + "c" * 64, *skips]]
    assert kept is (exited == 0)  # a failed run is collected again by the evidence step
    assert ("kept" if exited == 0 else "collected again now") in lines[-1]
    assert demo.mutation_kept() is False  # nothing beside any more


def test_no_mutation_run_beside_once_the_evidence_step_is_done(tmp_path: Path) -> None:
    from soakgate.app.demo import _DemoRun

    (tmp_path / "soakgate.toml").write_text('[service]\nimage = "x"\n')
    workspace = _Beside(tmp_path, 0)
    project = type("P", (), {"report": lambda self, name: tmp_path / name})()
    events = type("E", (), {"output": lambda self, line: None})()
    journal = {"steps": {"bases": {}, "build": {}, "evidence-staging": {}}}
    demo = _DemoRun(project, workspace, journal, events)  # type: ignore[arg-type]
    demo.start_mutation_beside()
    assert demo.beside is None and workspace.calls == []
