"""The bad-input corpus: hostile soakgate.toml, Pulumi.<stage>.yaml, CLI arguments, evidence
files and SLO definitions, each given to the real CLI (``soakgate.cli.main.main``, in-process)
in a scratch project. Each must end in one ``error:`` line naming the problem (and a hint),
a non-zero exit, no traceback, and nothing changed: the project's files, the state DB's
releases and ledger rows, and the Docker engine's containers, networks and images of the
scratch namespace. Nothing here starts Pulumi or a container, so the corpus takes seconds.

Not in the file snapshot: the SQLite files (compared by their rows) and ``locks/`` (a stage
lock file may be created by the command that takes the lock; it holds no state).
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from soakgate.adapters.state.releases import StateDB
from soakgate.core.release import Release

ROOT = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "5e" * 32
GOOD_DIGEST = "sha256:" + "9a" * 32
STAGES = ("dev", "staging", "production")

JUNIT_OK = '<testsuite tests="1"><testcase name="t"/></testsuite>'
XXE = (
    '<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    '<testsuite tests="1"><testcase name="&x;"/></testsuite>'
)
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    + ']><testsuite tests="1"><testcase name="&lol9;"/></testsuite>'
)


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    expect: str  # in the error line
    files: dict[str, str | bytes] = field(default_factory=dict)  # project files to write
    toml_replace: tuple[str, str] | None = None  # (old, new) in the copied soakgate.toml


def toml_case(
    id: str, old: str, new: str, expect: str, argv: tuple[str, ...] = ("status",)
) -> Case:
    return Case(id, argv, expect, toml_replace=(old, new))


def stack_case(id: str, text: str, expect: str, stage: str = "dev") -> Case:
    argv = ("status",) if stage == "dev" else ("verify", stage)
    return Case(id, argv, expect, files={f"Pulumi.{stage}.yaml": text})


def evidence_case(id: str, kind: str, content: str | bytes, expect: str) -> Case:
    name = f"inputs/{kind}.{'xml' if kind == 'junit' else 'json'}"
    argv = ("evidence", "collect", DIGEST, f"--{kind}", name)
    return Case(id, argv, expect, files={name: content})


CASES = [
    # --- soakgate.toml --------------------------------------------------------------------
    toml_case(
        "rto-zero",
        'rto = "1h"',
        'rto = "0s"',
        'stages.production.rto: should be a positive duration like "1h", got "0s"',
    ),
    toml_case(
        "rto-newline",
        'rto = "1h"',
        'rto = "1h\\n"',
        "stages.production.rto: should be a positive duration",
    ),
    toml_case(
        "rto-negative", 'rto = "8h"', 'rto = "-8h"', "stages.dev.rto: should be a positive duration"
    ),
    toml_case(
        "rto-unicode-digits",
        'rto = "4h"',
        'rto = "\u0664h"',
        "stages.staging.rto: should be a positive",
    ),
    toml_case(
        "port-bool",
        "port = 8000",
        "port = true",
        "service.port: expected a port number 1-65535, got True",
    ),
    toml_case(
        "port-zero",
        "port = 8000",
        "port = 0",
        "service.port: expected a port number 1-65535, got 0",
    ),
    toml_case(
        "port-float",
        "port = 8000",
        "port = 8000.5",
        "service.port: expected a port number 1-65535, got 8000.5",
    ),
    toml_case(
        "port-too-big",
        "port = 8000",
        "port = 65536",
        "service.port: expected a port number 1-65535",
    ),
    toml_case(
        "port-nan", "port = 8000", "port = nan", "service.port: expected a finite number, got nan"
    ),
    toml_case(
        "health-space",
        'health_path = "/health"',
        'health_path = "/health check"',
        "service.health_path: expected an absolute URL path",
    ),
    toml_case(
        "health-crlf",
        'health_path = "/health"',
        'health_path = "/health\\r\\nHost: x"',
        "service.health_path: expected an absolute URL path",
    ),
    toml_case(
        "health-relative",
        'health_path = "/health"',
        'health_path = "health"',
        "service.health_path: expected an absolute URL path",
    ),
    toml_case(
        "health-nul",
        'health_path = "/health"',
        'health_path = "/health\\u0000"',
        "service.health_path: expected an absolute URL path",
    ),
    toml_case(
        "context-dotdot",
        'context = "images/service"',
        'context = "../../etc"',
        "service.context: should be a path inside the project",
    ),
    toml_case(
        "context-absolute",
        'context = "images/service"',
        'context = "/etc"',
        "service.context: should be a path inside the project",
    ),
    toml_case(
        "dockerfile-escape",
        'dockerfile = "Dockerfile"',
        'dockerfile = "../../../Dockerfile"',
        "service.dockerfile: should be a path inside",
    ),
    toml_case(
        "requirements-escape",
        'requirements = ["requirements.txt", "requirements-pip.txt"]',
        'requirements = ["../../../etc/passwd"]',
        "service.requirements[0]: should be a path inside",
    ),
    toml_case(
        "image-uppercase",
        'image = "',
        'image = "Bad Name/',
        "service.image: expected an image name",
    ),
    toml_case(
        "version-newline",
        'version = "1.0.0"',
        'version = "1.0.0\\n"',
        "service.version: control characters are not allowed",
    ),
    toml_case(
        "namespace-newline",
        'namespace = "',
        'namespace = "x\\n',
        "namespace: expected up to 20 lowercase letters or digits",
    ),
    toml_case("unknown-key", "[images]", "[images]\ncolour = 1", "images.colour: unknown key"),
    toml_case("shared-port", "port = 18082", "port = 18081", "stages: two stages share a port"),
    toml_case("not-toml", "[images]", "[images", "soakgate.toml: not valid TOML"),
    toml_case(
        "gate-coverage-inf",
        "coverage = 70",
        "coverage = inf",
        "gates.dev_to_staging.coverage: expected a finite number, got inf",
    ),
    toml_case(
        "gate-coverage-over",
        "coverage = 70",
        "coverage = 170",
        "gates.dev_to_staging.coverage: expected a number between 0 and 100",
    ),
    Case(
        "not-utf8",
        ("status",),
        "soakgate.toml: not UTF-8 text",
        files={"soakgate.toml": b'namespace = "\xff"\n'},
    ),
    Case(
        "nested-arrays",
        ("status",),
        "soakgate.toml: ",
        files={"soakgate.toml": "a = " + "[" * 3000},
    ),
    # --- SLO definitions ([slo] of soakgate.toml) -------------------------------------------
    toml_case(
        "slo-p95-nan",
        "p95_ms = 300",
        "p95_ms = nan",
        "slo.p95_ms: expected a finite number, got nan",
        ("soak", "status", "staging"),
    ),
    toml_case(
        "slo-p95-huge",
        "p95_ms = 300",
        "p95_ms = 1" + "0" * 30,
        "slo.p95_ms: number out of range",
        ("soak", "status", "staging"),
    ),
    toml_case(
        "slo-interval-zero",
        'probe_interval = "1s"',
        'probe_interval = "0s"',
        "slo.probe_interval: expected a positive duration",
        ("soak", "status", "staging"),
    ),
    toml_case(
        "slo-availability-over",
        "availability_percent = 99.9",
        "availability_percent = 199.9",
        "slo.availability_percent: expected a percentage 0-100",
        ("soak", "status", "staging"),
    ),
    toml_case(
        "slo-p99-below-p95",
        "p99_ms = 800",
        "p99_ms = 100",
        "slo.p99_ms: expected ≥ p95_ms (300), got 100",
        ("soak", "status", "staging"),
    ),
    toml_case(
        "slo-restarts-negative",
        "max_restarts = 0",
        "max_restarts = -1",
        "slo.max_restarts: expected a whole number ≥ 0, got -1",
        ("soak", "status", "staging"),
    ),
    toml_case(
        "slo-duration-newline",
        'duration = "7d"',
        'duration = "7d\\n"',
        "slo.duration: expected a duration like",
        ("soak", "status", "staging"),
    ),
    # --- Pulumi.<stage>.yaml --------------------------------------------------------------
    stack_case(
        "stack-port-bool",
        "config:\n  soakgate:port: yes\n",
        "Pulumi.dev.yaml soakgate:port: expected a port number 1024-65535, got True",
    ),
    stack_case(
        "stack-port-low",
        "config:\n  soakgate:port: 80\n",
        "Pulumi.dev.yaml soakgate:port: expected a port number 1024-65535, got 80",
    ),
    stack_case(
        "stack-port-nan",
        "config:\n  soakgate:port: .nan\n",
        "Pulumi.dev.yaml soakgate:port: expected a port number",
    ),
    stack_case(
        "stack-port-text",
        "config:\n  soakgate:port: 18081abc\n",
        "Pulumi.dev.yaml soakgate:port: expected a port number",
    ),
    stack_case(
        "stack-release-tag",
        "config:\n  soakgate:release: latest\n",
        "Pulumi.dev.yaml soakgate:release: expected an image digest",
    ),
    stack_case(
        "stack-release-newline",
        f'config:\n  soakgate:release: "{GOOD_DIGEST}\\n"\n',
        "Pulumi.dev.yaml soakgate:release: expected an image digest",
    ),
    stack_case(
        "stack-memory-inf",
        "config:\n  soakgate:memoryMb: .inf\n",
        "Pulumi.dev.yaml soakgate:memoryMb: expected a number, got inf",
    ),
    stack_case(
        "stack-health-space",
        'config:\n  soakgate:healthPath: "/a b"\n',
        "Pulumi.dev.yaml soakgate:healthPath: expected an absolute URL path",
    ),
    stack_case("stack-not-yaml", "config: [\n", "Pulumi.dev.yaml: not valid YAML"),
    stack_case(
        "stack-duplicate-key",
        "config:\n  soakgate:port: 20001\n  soakgate:port: 20002\n",
        "key 'soakgate:port' given twice",
    ),
    stack_case(
        "stack-python-object",
        "config: !!python/object/apply:os.system [true]\n",
        "Pulumi.dev.yaml: not valid YAML",
    ),
    stack_case(
        "stack-unknown-key",
        "config:\n  soakgate:prot: 20001\n",
        "Pulumi.dev.yaml soakgate:prot: unknown key",
    ),
    stack_case("stack-a-list", "- config\n", "Pulumi.dev.yaml: expected a map with a config: key"),
    stack_case(
        "stack-env-name",
        "config:\n  soakgate:env: {'A=B': x}\n",
        "Pulumi.dev.yaml soakgate:env: 'A=B' is not a variable name",
    ),
    stack_case(
        "stack-staging-stage",
        "config:\n  soakgate:stage: qa\n",
        "Pulumi.staging.yaml soakgate:stage: unknown stage 'qa'",
        "staging",
    ),
    # --- CLI arguments --------------------------------------------------------------------
    Case(
        "soak-duration-nan",
        ("soak", "run", "staging", "--duration", "nan"),
        "--duration: should be a positive duration",
    ),
    Case(
        "soak-duration-inf",
        ("soak", "run", "staging", "--duration", "inf"),
        "--duration: should be a positive duration",
    ),
    Case(
        "soak-duration-negative",
        ("soak", "run", "staging", "--duration=-5"),
        "--duration: should be a positive duration",
    ),
    Case(
        "soak-duration-zero",
        ("soak", "run", "staging", "--duration", "0"),
        "--duration: should be a positive duration",
    ),
    Case(
        "soak-duration-newline",
        ("soak", "run", "staging", "--duration", "2h\n"),
        "--duration: should be a positive duration",
    ),
    Case(
        "soak-judge-zero",
        ("soak", "run", "staging", "--judge-every", "0s"),
        "--judge-every: should be a positive duration",
    ),
    Case(
        "soak-engine-nan",
        ("soak", "run", "staging", "--engine-every", "NaN"),
        "--engine-every: should be a positive duration",
    ),
    Case(
        "soak-max-samples-zero",
        ("soak", "run", "staging", "--max-samples", "0"),
        "--max-samples: should be a whole number of at least 1",
    ),
    Case(
        "evidence-perf-seconds-too-short",
        ("evidence", "collect", DIGEST, "--perf-seconds", "2"),
        "--perf-seconds 2: not between 10 and 600",
    ),
    Case("soak-unknown-stage", ("soak", "start", "[bold]qa"), "STAGE: unknown stage '[bold]qa'"),
    Case(
        "deploy-lock-wait-nan",
        ("deploy", "staging", "--release", DIGEST, "--lock-wait", "nan"),
        "--lock-wait: should be a number of seconds >= 0",
    ),
    Case(
        "rollback-lock-wait-negative",
        ("rollback", "production", "--emergency", "--lock-wait=-1"),
        "--lock-wait: should be a number of seconds >= 0",
    ),
    Case(
        "mark-bad-without-reason",
        ("releases", "--mark-bad", DIGEST),
        "--mark-bad needs --reason TEXT",
    ),
    Case("deploy-unknown-stage", ("verify", "qa"), "unknown stage 'qa'"),
    # --- evidence files -------------------------------------------------------------------
    evidence_case(
        "junit-xxe", "junit", XXE, "JUnit XML: DOCTYPE or ENTITY declarations are not accepted"
    ),
    evidence_case(
        "junit-billion-laughs",
        "junit",
        LAUGHS,
        "JUnit XML: DOCTYPE or ENTITY declarations are not accepted",
    ),
    evidence_case("junit-truncated", "junit", JUNIT_OK[:-6], "JUnit XML: "),
    evidence_case(
        "junit-inf-count",
        "junit",
        '<testsuite tests="inf"/>',
        'JUnit XML: tests="inf" is not a number',
    ),
    evidence_case(
        "junit-bad-char-ref",
        "junit",
        '<testsuite><testcase name="&#x110000;"/></testsuite>',
        "JUnit XML: a character reference names no XML character at line 1",
    ),
    evidence_case(
        "junit-unclosed-comments",
        "junit",
        "<testsuite>" + "<!--" * 50000,
        "JUnit XML: malformed markup (not well-formed (invalid token)) at line 1",
    ),
    evidence_case(
        "junit-not-utf8", "junit", b"<testsuite>\xff</testsuite>", "JUnit XML: not UTF-8 text"
    ),
    evidence_case(
        "junit-wrong-root", "junit", "<html></html>", "JUnit XML: root element is <html>"
    ),
    evidence_case(
        "coverage-nan",
        "coverage",
        '{"totals": {"percent_covered": NaN}}',
        "coverage JSON: totals.percent_covered should be a number, got nan",
    ),
    evidence_case(
        "coverage-negative",
        "coverage",
        '{"totals": {"percent_covered": -5}}',
        "coverage JSON: totals.percent_covered should be between 0 and 100",
    ),
    evidence_case(
        "coverage-over-100",
        "coverage",
        '{"totals": {"percent_covered": 180.5}}',
        "coverage JSON: totals.percent_covered should be between 0 and 100",
    ),
    evidence_case("coverage-deep", "coverage", "[" * 100000, "coverage JSON: nested too deeply"),
    evidence_case(
        "coverage-long-int",
        "coverage",
        '{"totals": {"percent_covered": ' + "9" * 5000 + "}}",
        "coverage JSON: not valid JSON",
    ),
    evidence_case(
        "mutation-negative",
        "mutation",
        '{"killed": -3, "survived": 1}',
        "mutation results: killed should be a count, got -3",
    ),
    evidence_case(
        "mutation-float",
        "mutation",
        '{"killed": 1.5}',
        "mutation results: killed should be a count, got 1.5",
    ),
    evidence_case(
        "mutation-huge",
        "mutation",
        '{"killed": 1' + "0" * 400 + "}",
        "mutation results: killed should be a count",
    ),
    evidence_case("mutation-empty", "mutation", "{}", "mutation results: no mutants counted"),
    evidence_case("audit-not-json", "audit", "{dependencies: [", "pip-audit JSON: not valid JSON"),
    evidence_case(
        "audit-no-list",
        "audit",
        '{"dependencies": {"a": 1}}',
        "pip-audit JSON: no dependencies list",
    ),
    evidence_case(
        "audit-vulns-not-list",
        "audit",
        '{"dependencies": [{"name": "x", "version": "1", "vulns": "many"}]}',
        "pip-audit JSON: x.vulns should be a list",
    ),
    evidence_case(
        "bench-p95-below-p50",
        "bench",
        '{"baseline": {"throughput": 1, "p50": 9, "p95": 1}, "candidate": {}}',
        "benchmark JSON: baseline.p95 is below baseline.p50",
    ),
    evidence_case(
        "soak-verdict-unknown",
        "soak",
        '{"verdict": "great", "observed_seconds": 1}',
        "soak verdict JSON: verdict should be one of",
    ),
    # --- soakgate deploy --limit/--wait (host groups) -------------------------------------
    Case(
        "limit-on-a-local-stage",
        ("deploy", "dev", "--release", DIGEST, "--limit", "1"),
        "--limit/--wait: dev runs on this machine's engine, not on SSH hosts",
    ),
    Case(
        "wait-without-limit",
        ("deploy", "dev", "--release", DIGEST, "--wait", "5"),
        "--wait needs --limit",
    ),
    Case(
        "wait-too-long",
        ("deploy", "dev", "--release", DIGEST, "--limit", "1", "--wait", "99999"),
        "--limit/--wait: wait should be 0 to 3600 seconds",
    ),
    # --- soakgate ledger import (rollback.yml's record file) ------------------------------
    Case(
        "import-missing-file",
        ("ledger", "import", "records.jsonl"),
        "records.jsonl: unreadable (No such file or directory)",
    ),
    Case(
        "import-torn-line",
        ("ledger", "import", "records.jsonl"),
        "records.jsonl line 2: not JSON: nothing imported",
        files={
            "records.jsonl": f'{{"stage": "staging", "to_release": "{GOOD_DIGEST}",'
            f' "time": "2026-12-06T03:00:00+00:00", "run": "r1", "host": "h1"}}\n{{"stage": "sta'
        },
    ),
    Case(
        "import-unknown-stage",
        ("ledger", "import", "records.jsonl"),
        "run r1 is on stage 'qa', which this project lacks",
        files={
            "records.jsonl": f'{{"stage": "qa", "to_release": "{GOOD_DIGEST}",'
            ' "time": "2026-12-06T03:00:00+00:00", "run": "r1"}\n'
        },
    ),
    Case(
        "import-empty",
        ("ledger", "import", "records.jsonl"),
        "no runbook record in it",
        files={"records.jsonl": "\n"},
    ),
]


@dataclass
class Scratch:
    root: Path
    namespace: str

    @property
    def state(self) -> Path:
        return self.root / ".soakgate"


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Scratch:
    """A copy of the project's config in ``tmp_path`` with its own state, namespace, and one
    recorded release; the CLI runs in it."""
    namespace = f"bad{uuid.uuid4().hex[:8]}"
    root = tmp_path / "project"
    root.mkdir()
    for name in ("Pulumi.yaml", "pyproject.toml", *(f"Pulumi.{s}.yaml" for s in STAGES)):
        shutil.copy2(ROOT / name, root / name)
    text = (ROOT / "soakgate.toml").read_text()
    text = text.replace('namespace = ""', f'namespace = "{namespace}"')
    text = text.replace('image = "soakgate/service"', f'image = "{namespace}/service"')
    (root / "soakgate.toml").write_text(text)
    state = root / ".soakgate"
    (state / "pulumi-state").mkdir(parents=True)
    db = StateDB.open(state)
    try:
        db.record_release(
            Release(DIGEST, "3.14.0", "1.0.0", "r1", "2026-01-01T00:00:00Z", 1, f"{namespace}/s:1")
        )
    finally:
        db.close()
    monkeypatch.chdir(root)
    monkeypatch.setenv("SOAKGATE_HOME", str(state))
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{state / 'pulumi-state'}")
    monkeypatch.setenv("COLUMNS", "200")
    return Scratch(root, namespace)


def _files(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``root`` but the SQLite files and lock files: hash and mode."""
    found = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_dir() or ".soakgate/soakgate.db" in relative or "/locks/" in relative:
            continue
        found[relative] = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mode)
    return found


def _rows(state: Path) -> dict[str, list[Any]]:
    connection = sqlite3.connect(state / "soakgate.db")
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        return {
            table: connection.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
            for table in ("releases", "ledger")
            if table in tables
        }
    finally:
        connection.close()


def _engine(namespace: str) -> dict[str, list[str]] | None:
    """Containers, networks and images of the namespace; None when no engine answers."""
    try:
        import docker

        client = docker.from_env(timeout=5)
        client.ping()
    except Exception:
        return None
    try:
        containers = client.containers.list(all=True, filters={"name": namespace})
        return {
            "containers": sorted(c.id for c in containers),
            "networks": sorted(n.id for n in client.networks.list(names=[namespace])),
            "images": sorted(i.id for i in client.images.list(name=f"{namespace}/*")),
        }
    finally:
        client.close()


def _snapshot(scratch: Scratch, engine: bool) -> dict[str, Any]:
    return {
        "files": _files(scratch.root),
        "rows": _rows(scratch.state),
        "engine": _engine(scratch.namespace) if engine else None,
    }


def _run(argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from soakgate.cli.main import main

    old = sys.argv
    sys.argv = ["soakgate", *argv]
    try:
        with pytest.raises(SystemExit) as exited:
            main()
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    code = exited.value.code
    return code if isinstance(code, int) else 1, out, err


def _write(scratch: Scratch, case: Case) -> None:
    if case.toml_replace is not None:
        path = scratch.root / "soakgate.toml"
        old, new = case.toml_replace
        text = path.read_text()
        assert old in text, f"{case.id}: {old!r} is not in soakgate.toml"
        path.write_text(text.replace(old, new, 1))
    for name, content in case.files.items():
        path = scratch.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


@pytest.fixture(scope="module")
def engine_reachable() -> Iterator[bool]:
    yield _engine("soakgate-corpus-probe") is not None


def test_the_corpus_is_large_and_covers_every_kind() -> None:
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)
    kinds = {case.argv[0] for case in CASES} | {
        "toml" for case in CASES if case.toml_replace or "soakgate.toml" in case.files
    }
    assert {"toml", "status", "verify", "soak", "evidence", "deploy", "rollback"} <= kinds


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_hostile_input_is_one_line_and_changes_nothing(
    case: Case, scratch: Scratch, capsys: pytest.CaptureFixture[str], engine_reachable: bool
) -> None:
    _write(scratch, case)
    before = _snapshot(scratch, engine_reachable)
    code, out, err = _run(case.argv, capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 0, (out, err)
    assert lines and lines[0].startswith("error: "), err
    assert case.expect in lines[0], err
    assert all(line.startswith("hint: ") for line in lines[1:]), err
    assert len(lines) <= 2, err
    assert "Traceback" not in out + err
    assert "internal error" not in err
    assert _snapshot(scratch, engine_reachable) == before
