"""Incidents: every rollback keeps the bad release's last log lines, its redacted inspect, its
gate record and soak verdict, after the switch and outside the measured time to restore; a
failure to collect is a warning and a partial incident, never a failed rollback. Against the
fakes (dev stage: no incoming gate), with the state database real SQLite in a temp dir."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from soakgate.adapters.docker.container_evidence import demultiplex
from soakgate.adapters.state.incidents import IncidentStore
from soakgate.adapters.state.ledger import LedgerStore
from soakgate.adapters.state.releases import StateDB
from soakgate.app import incident as incident_use_case
from soakgate.app.deploy import DeployRequest, deploy
from soakgate.app.ports import World
from soakgate.app.rollback import (
    RollbackRequest,
    journal_path,
    rollback,
    write_journal,
)
from soakgate.core.config import ProjectConfig
from soakgate.core.incident import (
    REDACTED,
    Incident,
    gate_record,
    incident_id,
    incident_lines,
    redact_env,
    redact_inspect,
)
from soakgate.core.ledger import Event
from soakgate.core.project import Project
from soakgate.core.release import Release
from soakgate.core.rollback import RollbackPlan
from soakgate.errors import ConfigError, RollbackFailed, SoakgateError
from soakgate.testing import FakeEvidenceEngine, FakeStacks, FakeStageEngine, FakeStages

ROOT = Path("/nonexistent-project")
CONFIG = ProjectConfig()
OLD = Release("sha256:" + "1" * 64, "3.12.8", "1.0.0", "r1", "2026-11-01", 10, "svc:1.0.0")
BAD = Release("sha256:" + "2" * 64, "3.14.2", "2.0.0", "r2", "2026-12-01", 10, "svc:2.0.0")
LOGS = [f"2026-12-05T00:45:{n:02d}Z line {n}" for n in range(250)]


class Setup:
    """dev with OLD warm in blue and BAD active in green, whose container logs ``LOGS``."""

    def __init__(self, state: Path, engine: FakeStageEngine | None = None) -> None:
        self.state = state
        with StateDB.open(state) as db:
            for release in (OLD, BAD):
                db.record_release(release)
        self.engine = engine if engine is not None else FakeEvidenceEngine("dev")
        self.stages = FakeStages({"dev": self.engine}, {OLD.digest, BAD.digest})
        self.stacks = FakeStacks(self.stages)
        self.world = World(self.stages, self.stacks)
        self.warnings: list[str] = []
        self.project = Project(ROOT, CONFIG, state)
        for release in (OLD, BAD):
            deploy(self.project, DeployRequest("dev", release=release.digest), world=self.world)
        if isinstance(self.engine, FakeEvidenceEngine):
            self.engine.logs["app-dev-green"] = LOGS
            self.engine.env = ["DB_PASSWORD=s3cret", "REDIS_URL=redis://app:hunter2@redis:6379"]
        self.stacks.configs["dev"]["secretEnv"] = {"SMTP_LOGIN": "[secret]"}

    def rollback(self, **options: object):  # type: ignore[no-untyped-def]
        request = RollbackRequest("dev", **options)  # type: ignore[arg-type]
        return rollback(self.project, request, world=self.world, warn=self.warnings.append)

    def events(self, kind: str) -> list[Event]:
        with LedgerStore.open(self.state) as ledger:
            return [event for event in ledger.events() if event.kind == kind]


# --- through the rollback ----------------------------------------------------------------------


def test_an_emergency_rollback_keeps_the_bad_releases_evidence_linked_from_the_ledger(
    tmp_path: Path,
) -> None:
    world = Setup(tmp_path)
    with LedgerStore.open(tmp_path) as ledger:
        ledger.append("gate", stage="dev", to_release=BAD.digest, data={"via": "promote"})
    result = world.rollback(emergency=True, reason="500s after deploy")
    assert result.incident is not None and world.warnings == []
    (event,) = world.events("rollback")
    assert event.data["incident"] == result.incident

    incident = IncidentStore(tmp_path).get()  # the newest
    assert incident.id == result.incident and not incident.partial
    assert (incident.stage, incident.release, incident.restored) == ("dev", BAD.digest, OLD.digest)
    assert incident.rollback["path"] == "emergency"
    assert incident.rollback["reason"] == "500s after deploy"
    assert incident.rollback["seconds_to_restored"] == round(result.seconds_to_restored, 3)
    assert incident.logs == LOGS[-200:]
    assert incident.container["name"] == "app-dev-green" and incident.container["restarts"] == 3
    assert [e["kind"] for e in incident.gates] == ["deploy", "gate"]
    assert all(e["to_release"] == BAD.digest for e in incident.gates)
    assert incident.soak is None  # never soaked
    assert incident.inspect is not None
    env = incident.inspect["Config"]["Env"]
    assert f"DB_PASSWORD={REDACTED}" in env and "s3cret" not in json.dumps(incident.to_dict())
    assert f"REDIS_URL=redis://app:{REDACTED}@redis:6379" in env
    assert f"SOAKGATE_RELEASE={BAD.digest}" in env
    stored = (tmp_path / "incidents" / f"{incident.id}.json").stat().st_mode & 0o777
    assert stored == 0o600


def test_a_cold_rollback_reads_the_bad_slot_it_left_running(tmp_path: Path) -> None:
    world = Setup(tmp_path)
    world.engine.run("blue", None)  # the warm slot is gone: a cold, health-gated deploy of OLD
    result = world.rollback(to=OLD.digest)
    assert result.plan.path == "cold" and result.incident is not None
    incident = IncidentStore(tmp_path).get(result.incident)
    assert incident.container["slot"] == "green" and incident.logs == LOGS[-200:]
    assert incident.rollback["path"] == "cold"


def test_an_engine_that_fails_gives_a_partial_incident_and_a_rollback_that_stands(
    tmp_path: Path,
) -> None:
    world = Setup(tmp_path)
    assert isinstance(world.engine, FakeEvidenceEngine)
    world.engine.broken = "the Docker engine does not answer"
    result = world.rollback(emergency=True)
    assert world.engine.read_slots().active_slot.digest == OLD.digest  # type: ignore[union-attr]
    assert result.reconciled and result.incident is not None
    incident = IncidentStore(tmp_path).get()
    assert incident.partial and incident.logs == [] and incident.inspect is None
    assert incident.problems == ["container: the Docker engine does not answer"]
    assert [e["kind"] for e in incident.gates] == ["deploy"]  # the rest was still kept
    assert world.warnings == [
        f"incident {incident.id} is partial: container: the Docker engine does not answer"
    ]
    assert world.events("rollback")[0].data["incident"] == incident.id


def test_a_slow_engine_is_cut_off_and_not_counted_in_the_time_to_restore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = Setup(tmp_path)
    assert isinstance(world.engine, FakeEvidenceEngine)
    world.engine.delay, world.engine.wait = 2.0, time.sleep
    monkeypatch.setattr(incident_use_case, "SECONDS", 0.3)
    started = time.monotonic()
    result = world.rollback(emergency=True)
    assert time.monotonic() - started < 1.5  # bounded: the 2 s reads are left behind
    assert result.seconds_to_restored < 0.3
    incident = IncidentStore(tmp_path).get()
    assert incident.problems == ["container, gates, soak: not collected within 0.3 s"]
    assert incident.logs == []


def test_an_engine_without_container_evidence_still_keeps_the_record(tmp_path: Path) -> None:
    world = Setup(tmp_path, FakeStageEngine("dev"))
    result = world.rollback(emergency=True)
    incident = IncidentStore(tmp_path).get(result.incident)
    assert incident.problems == ["container: this stage engine offers no container evidence"]
    assert [e["kind"] for e in incident.gates] == ["deploy"]


def test_an_unwritable_incident_store_is_a_warning_not_a_failed_rollback(tmp_path: Path) -> None:
    world = Setup(tmp_path)
    (tmp_path / "incidents").write_text("a file where the directory goes")
    result = world.rollback(emergency=True)
    assert result.incident is None and result.reconciled
    assert world.events("rollback")[0].data["incident"] is None
    assert len(world.warnings) == 1
    assert world.warnings[0].startswith("no incident kept of the dev rollback:")


def test_a_finished_interrupted_rollback_keeps_one_incident(tmp_path: Path) -> None:
    world = Setup(tmp_path)
    # the CLI's fast path switched and left its journal; the full command finishes it
    plan = RollbackPlan("dev", "emergency", BAD.digest, OLD.digest, "manual rollback", ())
    write_journal(tmp_path, plan, 1000.0, fast=True, restored_at=1000.4)
    world.engine.activate("blue")
    result = world.rollback(emergency=True)
    assert result.seconds_to_restored == pytest.approx(0.4)
    assert result.incident is not None
    assert IncidentStore(tmp_path).get().logs == LOGS[-200:]


def test_a_rerun_after_a_failed_reconcile_reuses_the_incident(tmp_path: Path) -> None:
    world = Setup(tmp_path)
    world.stacks.fail = "the stack is locked"
    with pytest.raises(RollbackFailed):
        world.rollback(emergency=True)
    first = json.loads(journal_path(tmp_path, "dev").read_text())["incident"]
    world.stacks.fail = None
    world.rollback(emergency=True)
    assert [e.data["incident"] for e in world.events("rollback")] == [first, first]
    assert [incident.id for incident in IncidentStore(tmp_path).list()] == [first]


def test_a_failed_switch_keeps_no_incident(tmp_path: Path) -> None:
    world = Setup(tmp_path)
    world.engine.unhealthy.add("blue")
    with pytest.raises(SoakgateError, match="not healthy"):
        world.rollback(emergency=True)
    assert IncidentStore(tmp_path).list() == []


# --- the pure parts ----------------------------------------------------------------------------


def test_redaction_hides_secret_names_and_url_passwords_only() -> None:
    env = [
        "API_TOKEN=t",
        "SMTP_LOGIN=x",
        "DATABASE_URL=postgres://u:p@db/x",
        "PORT=8000",
        "LOG_LEVEL=info",
        "FLAG",
    ]
    assert redact_env(env, {"SMTP_LOGIN"}) == [
        f"API_TOKEN={REDACTED}",
        f"SMTP_LOGIN={REDACTED}",
        f"DATABASE_URL=postgres://u:{REDACTED}@db/x",
        "PORT=8000",
        "LOG_LEVEL=info",
        "FLAG",
    ]
    attrs = {"Config": {"Env": ["SECRET_KEY=k"], "Cmd": ["--db", "mysql://a:b@h"]}, "Id": "c"}
    redacted = redact_inspect(attrs)
    assert redacted["Config"] == {
        "Env": [f"SECRET_KEY={REDACTED}"],
        "Cmd": ["--db", f"mysql://a:{REDACTED}@h"],
    }
    assert attrs["Config"]["Env"] == ["SECRET_KEY=k"]  # a copy


def test_the_gate_record_is_what_let_that_release_into_that_stage() -> None:
    def event(seq: int, kind: str, stage: str, to: str) -> Event:
        return Event(seq, kind, "2026-12-05T00:00:00Z", "ana", stage, None, to)

    events = [
        event(1, "build", "dev", BAD.digest),
        event(2, "refusal", "staging", BAD.digest),
        event(3, "override", "staging", BAD.digest),
        event(4, "promote", "staging", BAD.digest),
        event(5, "promote", "staging", OLD.digest),
        event(6, "gate", "production", BAD.digest),
        event(7, "rollback", "staging", OLD.digest),
    ]
    assert [e.seq for e in gate_record(events, "staging", BAD.digest)] == [2, 3, 4]


def test_ids_are_sortable_and_unique() -> None:
    when = datetime(2026, 12, 5, 0, 45, 12, tzinfo=UTC)
    assert incident_id("dev", when) == "20261205T004512Z-dev"
    taken = {"20261205T004512Z-dev", "20261205T004512Z-dev-2"}
    assert incident_id("dev", when, taken) == "20261205T004512Z-dev-3"


def test_the_readable_form_names_logs_gates_soak_and_what_is_missing() -> None:
    incident = Incident(
        "20261205T004512Z-staging",
        "2026-12-05T00:45:12.000000Z",
        "staging",
        BAD.digest,
        OLD.digest,
        rollback={"path": "emergency", "reason": "p99", "seconds_to_restored": 0.8},
        container={"name": "app-staging-green", "slot": "green", "status": "running"},
        logs=["boom: KeyError 'x'"],
        gates=[
            {
                "seq": 4,
                "kind": "promote",
                "time": "2026-12-04T10:00:00Z",
                "actor": "ana",
                "data": {"transition": "dev_to_staging", "gates": [{"name": "tests"}]},
            }
        ],
        soak={"stage": "staging", "state": "breached", "observed_seconds": 60, "reasons": ["p99"]},
        problems=["container: slow"],
    )
    text = "\n".join(incident_lines(incident))
    assert "incident 20261205T004512Z-staging  (partial)" in text
    assert "  boom: KeyError 'x'" in text
    assert "seq 4  2026-12-04 10:00:00  promote  by ana  transition=dev_to_staging" in text
    assert "gates: failed tests" in text
    assert "soak verdict: breached (in staging, 60 s observed healthy)" in text
    assert "not collected:\n  container: slow" in text


def test_the_store_lists_newest_first_finds_prefixes_and_skips_broken_files(
    tmp_path: Path,
) -> None:
    store = IncidentStore(tmp_path)
    with pytest.raises(SoakgateError, match="no incidents"):
        store.get()
    for stamp in ("20261204T100000Z", "20261205T100000Z"):
        iso = f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T10:00:00.000000Z"
        store.save(Incident(f"{stamp}-dev", iso, "dev", BAD.digest, OLD.digest))
    (store.directory / "junk.json").write_text("{")
    warnings: list[str] = []
    assert [i.id for i in store.list(warnings.append)] == [
        "20261205T100000Z-dev",
        "20261204T100000Z-dev",
    ]
    assert len(warnings) == 1 and "junk.json: not an incident" in warnings[0]
    assert store.get("20261204").id == "20261204T100000Z-dev"
    with pytest.raises(ConfigError, match="ambiguous"):
        store.get("2026120")
    with pytest.raises(ConfigError, match="no incident 'nope'"):
        store.get("nope")


def test_engine_log_frames_are_demultiplexed() -> None:
    frames = b"\x01\0\0\0\0\0\0\x06hello\n" + b"\x02\0\0\0\0\0\0\x05oops\n"
    assert demultiplex(frames).splitlines() == ["hello", "oops"]
    assert demultiplex(b"plain tty text\n") == "plain tty text\n"


def test_the_cli_lists_and_shows_incidents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from soakgate.cli.incident import incident_list, incident_show

    world = Setup(tmp_path)
    result = world.rollback(emergency=True)
    monkeypatch.setenv("SOAKGATE_HOME", str(tmp_path))
    incident_show(None, as_json=False)
    text = capsys.readouterr().out
    assert f"incident {result.incident}" in text and LOGS[-1] in text and LOGS[49] not in text
    assert "deploy  by" in text
    incident_show(result.incident[:12], as_json=True)
    shown = json.loads(capsys.readouterr().out)
    assert shown["id"] == result.incident and shown["inspect"]["Config"]["Env"][0].endswith(
        REDACTED
    )
    incident_list(as_json=True)
    (row,) = json.loads(capsys.readouterr().out)
    assert row["id"] == result.incident and row["log_lines"] == 200 and row["partial"] is False
    incident_list(as_json=False)
    assert result.incident in capsys.readouterr().out
