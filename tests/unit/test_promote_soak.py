"""The production gate reads the release's soak from the soak store when no file was given."""

from __future__ import annotations

import time
from pathlib import Path

from soakgate.adapters.state.releases import StateDB
from soakgate.adapters.state.soaks import SoakStore
from soakgate.app.promote import with_live_soak
from soakgate.core.config import ProjectConfig
from soakgate.core.evidence import Evidence
from soakgate.core.gates import DEFAULT_THRESHOLDS, evaluate_gates
from soakgate.core.release import Release
from soakgate.core.soak import Sample

DIGEST = "sha256:" + "c" * 64


def record_release(state: Path) -> None:
    db = StateDB.open(state)
    db.record_release(Release(DIGEST, "3.14.8", "1.0.0", "abc", "", 1, "svc:1"))
    db.close()


def soak_gate(evidence: Evidence) -> tuple[bool, str]:
    results = evaluate_gates(
        "staging_to_production", DEFAULT_THRESHOLDS["staging_to_production"], evidence
    )
    (gate,) = [result for result in results if result.name == "soak"]
    return gate.passed, gate.measured


def test_without_a_soak_the_gate_fails_closed(tmp_path: Path) -> None:
    record_release(tmp_path)
    evidence = with_live_soak(Evidence(), tmp_path, DIGEST, ProjectConfig(), "staging")
    assert evidence.soak is None
    assert soak_gate(evidence)[0] is False


def test_a_short_healthy_soak_is_read_and_is_not_enough(tmp_path: Path) -> None:
    record_release(tmp_path)
    now = time.time()
    with SoakStore.open(tmp_path) as store:
        recorder = store.begin("staging", DIGEST, clock=lambda: now)
        for second in range(120):
            recorder.add(Sample(now - 120 + second, True, 200, 12.0))
        recorder.flush()
        recorder.close()
    evidence = with_live_soak(Evidence(), tmp_path, DIGEST, ProjectConfig(), "staging")
    assert evidence.soak is not None
    assert evidence.soak.release == DIGEST
    assert evidence.files["soak"] == "soak store (live, staging)"
    assert evidence.soak.stage == "staging"
    passed, measured = soak_gate(evidence)
    assert passed is False  # two minutes of a seven-day soak
    assert measured


def test_a_soak_in_dev_is_not_read_for_the_production_gate(tmp_path: Path) -> None:
    record_release(tmp_path)
    now = time.time()
    with SoakStore.open(tmp_path) as store:
        recorder = store.begin("dev", DIGEST, clock=lambda: now)
        recorder.add(Sample(now - 1, True, 200, 12.0))
        recorder.flush()
        recorder.close()
    assert with_live_soak(Evidence(), tmp_path, DIGEST, ProjectConfig(), "staging").soak is None
    dev = with_live_soak(Evidence(), tmp_path, DIGEST, ProjectConfig(), "dev").soak
    assert dev is not None and dev.stage == "dev"
