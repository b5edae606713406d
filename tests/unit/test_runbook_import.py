"""``soakgate ledger import``: the record file rollback.yml writes, read and put on the ledger
once (fakes for the stage and its stack; the real playbook over SSH is in
tests/faults/test_ssh_deploy.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from soakgate.app.rollback import pending_runbook_flip
from soakgate.app.runbook_import import check_stages, import_runs
from soakgate.core.project import Project
from soakgate.core.runbook_records import RecordInvalid, logged_runs, parse_records
from soakgate.errors import ConfigError

from .test_use_cases import CONFIG, NEW, OLD, ROOT, Setup

RUN = "staging@1733454000.123"


def record(host: str, **changes: Any) -> dict[str, Any]:
    """One line of rollback.yml's record file: ``host`` flipped from NEW to OLD."""
    line = {
        "time": "2026-12-06T03:00:01+00:00",
        "stage": "staging",
        "from": "green",
        "to": "blue",
        "from_release": NEW.digest,
        "to_release": OLD.digest,
        "seconds": "4.2",  # Ansible writes its numbers as strings
        "flip_seconds": "1.1",
        "via": "ansible",
        "run": RUN,
        "host": host,
        "hosts": ["10.0.0.21", "10.0.0.22", "10.0.0.23"],
    }
    return {**line, **changes}


def text(*lines: dict[str, Any]) -> str:
    return "".join(json.dumps(line) + "\n" for line in lines)


def test_the_lines_of_one_run_are_one_run_naming_the_hosts_it_did_not_flip() -> None:
    later = record("10.0.0.22", time="2026-12-06T03:00:02+00:00", seconds=5.0)
    (run,) = parse_records(text(record("10.0.0.21"), later), "records.jsonl")
    assert (run.run, run.stage, run.from_release, run.to_release) == (
        RUN,
        "staging",
        NEW.digest,
        OLD.digest,
    )
    assert run.flipped == ("10.0.0.21", "10.0.0.22") and run.left == ("10.0.0.23",)
    assert (run.time, run.seconds, run.flip_seconds) == (later["time"], 5.0, 1.1)
    entry = run.as_entry()
    assert entry["hosts"] == ["10.0.0.21", "10.0.0.22"] and entry["left"] == ["10.0.0.23"]
    assert logged_runs(json.dumps(entry)) == {RUN}


def test_lines_without_a_run_id_are_runs_of_their_own() -> None:
    fabric = {k: v for k, v in record("").items() if k not in ("run", "host", "hosts")}
    second = {**fabric, "time": "2026-12-06T04:00:00+00:00"}
    runs = parse_records(text(second, fabric), "runbook.log")
    assert [run.time for run in runs] == [fabric["time"], second["time"]]  # oldest first
    assert len({run.run for run in runs}) == 2
    assert logged_runs(text(fabric)) == {runs[0].run}  # the same id when found in runbook.log


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "records.jsonl line 2: not JSON"),
        ("[1]", "records.jsonl line 2: not a JSON object"),
        (json.dumps(record("h", to_release="latest")), "to_release 'latest' is not a release"),
        (json.dumps(record("h", from_release="x")), "from_release 'x' is not a release digest"),
        (json.dumps(record("h", time="yesterday")), "a time or a duration that is not one"),
        (json.dumps(record("h", time="2026-12-06T03:00:00")), "has no UTC offset"),
        (json.dumps(record("h", seconds="fast")), "a time or a duration that is not one"),
        (json.dumps(record("h", seconds=-1)), "seconds -1.0 is not a duration in seconds"),
        (
            '{"stage": "s", "to_release": "sha256:' + "1" * 64 + '", "time": "2026-12-06T03:00:00'
            '+00:00", "seconds": NaN}',
            "seconds nan is not a duration",
        ),
        (json.dumps(record(7)), "'host' is not a host name"),
        (json.dumps(record("h", stage="")), "records.jsonl line 2: no 'stage'"),
        (json.dumps(record("h", hosts="h1,h2")), "'hosts' is not a list of host names"),
        (
            json.dumps(record("h", to_release="sha256:" + "9" * 64)),
            f"records.jsonl line 2: run {RUN} has to_release sha256:{'9' * 64} here",
        ),
    ],
)
def test_a_line_that_is_not_a_record_refuses_the_whole_file(line: str, message: str) -> None:
    with pytest.raises(RecordInvalid) as refused:
        parse_records(text(record("10.0.0.21")) + line + "\n", "records.jsonl")
    assert message in str(refused.value)


def project(state: Path) -> Project:
    return Project(ROOT, CONFIG, state)


def flipped_by_the_playbook(tmp_path: Path) -> Setup:
    world = Setup(tmp_path)
    world.deploy("staging", OLD)
    world.deploy("staging", NEW)
    world.engines["staging"].activate("blue")  # rollback.yml flipped every host to OLD
    return world


def test_an_import_finishes_the_run_as_one_rollback_and_a_second_adds_nothing(
    tmp_path: Path,
) -> None:
    world = flipped_by_the_playbook(tmp_path)
    runs = parse_records(text(record("10.0.0.21"), record("10.0.0.22")), "r")
    (done,) = import_runs(project(tmp_path), runs, world=world.world)
    assert done.result is not None and done.imported == runs and not done.stale
    assert world.stacks.config("staging")["release"] == OLD.digest  # reconciled
    (event,) = world.events("rollback")
    assert event.data["path"] == "runbook (ansible)" and event.to_release == OLD.digest
    assert "10.0.0.21, 10.0.0.22 (not on 10.0.0.23)" in event.data["reason"]
    assert RUN in event.data["reason"]

    (again,) = import_runs(project(tmp_path), runs, world=world.world)
    assert again.skipped == runs and again.imported == [] and again.result is None
    assert len(world.events("rollback")) == 1
    assert pending_runbook_flip(tmp_path, "staging") is None  # nothing left to adopt


def test_a_run_the_stage_no_longer_serves_is_kept_as_not_reconciled(tmp_path: Path) -> None:
    world = flipped_by_the_playbook(tmp_path)
    world.engines["staging"].activate("green")  # a deploy came after the runbook: NEW again
    (done,) = import_runs(
        project(tmp_path), parse_records(text(record("h1")), "r"), world=world.world
    )
    assert done.stale and done.result is None
    (event,) = world.events("rollback")
    assert event.data["reconciled"] is False and event.data["run"] == RUN
    assert world.active("staging") == NEW.digest  # nothing switched back
    assert world.stacks.config("staging")["release"] == NEW.digest


def test_a_run_on_a_stage_the_project_lacks_refuses_the_file_before_any_change(
    tmp_path: Path,
) -> None:
    runs = parse_records(text(record("h1", stage="qa", run="qa@1")), "records.jsonl")
    with pytest.raises(ConfigError) as refused:
        check_stages(project(tmp_path), runs, "records.jsonl")
    assert "run qa@1 is on stage 'qa', which this project lacks" in refused.value.message
    assert not (tmp_path / "runbook.log").exists()


def test_an_import_that_met_a_host_still_away_is_finished_by_the_next(tmp_path: Path) -> None:
    """The playbook flipped h1 and could not reach h2: the first import finds h2 still away
    (PartialSwitch, nothing on the ledger yet); the same import again, h2 back, switches h2
    too and puts the one rollback on the ledger."""
    from soakgate.errors import PartialSwitch

    from .test_hosts_engine import two_hosts

    world = Setup(tmp_path)
    hosts, one, two = two_hosts("staging")
    for host in (one, two):
        host.activate("green")  # NEW active, OLD warm in blue
    one.activate("blue")  # rollback.yml flipped h1; h2 did not answer
    two.down = True
    world.stages.engines["staging"] = hosts  # type: ignore[assignment]
    runs = parse_records(text(record("h1", hosts=["h1", "h2"])), "r")
    with pytest.raises(PartialSwitch):
        import_runs(project(tmp_path), runs, world=world.world)
    assert world.events("rollback") == [] and two.table.active == "green"

    two.down = False
    (done,) = import_runs(project(tmp_path), runs, world=world.world)
    assert done.skipped == runs and done.result is not None
    assert two.table.active == "blue"  # converged
    (event,) = world.events("rollback")
    assert event.to_release == OLD.digest and "(not on h2)" in event.data["reason"]
    assert world.stacks.config("staging")["release"] == OLD.digest
