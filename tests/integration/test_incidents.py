"""Issue I item 8: a real emergency rollback of dev keeps an incident — the bad container's
last log lines read from the engine, its inspect with secret values redacted, the ledger
entries that let it in — linked from the rollback's ledger entry and shown by
``soakgate incident show`` / ``list``."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from soakgate.adapters.state.ledger import LedgerStore
from soakgate.core.release import Release
from soakgate.scratch import ScratchProject

pytestmark = pytest.mark.integration


def run(project: ScratchProject, *args: str) -> str:
    result = project.soakgate(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_a_rollback_keeps_the_bad_releases_logs_and_gate_record(
    scratch: ScratchProject, releases: dict[str, Release]
) -> None:
    good, bad = releases["3.12"], releases["3.14"]
    stack = scratch.root / "Pulumi.dev.yaml"
    stack.write_text(stack.read_text() + "  soakgate:env:\n    API_TOKEN: tok-not-for-incidents\n")
    run(scratch, "deploy", "dev", "--release", good.digest, "--skip-verify")
    with LedgerStore.open(scratch.state) as ledger:  # a gate decision on record for it
        ledger.append("gate", stage="dev", to_release=bad.digest, data={"via": "test", "gates": []})
    run(scratch, "deploy", "dev", "--release", bad.digest, "--skip-verify")
    marker = f"/incident-probe-{uuid.uuid4().hex[:8]}"
    answer = httpx.get(f"{scratch.url('dev')}{marker}", timeout=5)  # logged by the bad slot
    assert answer.status_code == 404

    run(scratch, "rollback", "dev", "--emergency", "--reason", "404s everywhere")
    assert httpx.get(f"{scratch.url('dev')}/version", timeout=5).json()["release"] == good.digest

    (row,) = json.loads(run(scratch, "incident", "list", "--json"))
    assert row["stage"] == "dev" and row["release"] == bad.digest
    assert row["restored"] == good.digest and row["partial"] is False
    events = json.loads(run(scratch, "history", "dev", "--json"))
    (rolled,) = [e for e in events if e["kind"] == "rollback"]
    assert rolled["data"]["incident"] == row["id"]
    assert 0 < rolled["data"]["seconds_to_restored"] < 5

    shown = run(scratch, "incident", "show")  # the newest
    assert f"incident {row['id']}" in shown
    assert marker in shown  # the bad release's own log line, from the engine
    assert "  gate  by " in shown and "  deploy  by " in shown  # how it got in
    assert "reason: 404s everywhere" in shown

    full = json.loads(run(scratch, "incident", "show", row["id"], "--json"))
    assert full["container"]["name"] == f"{scratch.namespace}-app-dev-green"
    assert any(marker in line for line in full["logs"])
    env = full["inspect"]["Config"]["Env"]
    assert "API_TOKEN=<redacted>" in env and f"SOAKGATE_RELEASE={bad.digest}" in env
    assert "tok-not-for-incidents" not in json.dumps(full)
    assert [e["kind"] for e in full["gates"]] == ["gate", "deploy"]
