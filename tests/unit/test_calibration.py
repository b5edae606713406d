"""The interpreter calibration: its fixed workload, the interleaved schedule, the parsing of a
run, the medians, speedups and their intervals, and the adapter's bounds (rounds, time)."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from soakgate.adapters.images import calibration as adapter
from soakgate.adapters.images.interpreter_info import ImageBuild
from soakgate.core.calibration import (
    KERNELS,
    WORKLOAD_SCRIPT,
    Arm,
    CalibrationError,
    CalibrationPlan,
    Run,
    arms_for,
    complete_rounds,
    interpreter_speedup,
    net_of_interpreter,
    pairs_of,
    parse_calibration,
    parse_run,
    schedule,
    speedup_percent,
    summarize,
)
from soakgate.core.interpreter_build import build_from_facts
from tests.unit.test_interpreter_build import DEBIAN_314, PYENV_312

ARMS = arms_for("sha256:a", "sha256:b", names=("3.12", "3.14"), with_jit=True)


def output(kernels: dict[str, list[float]], jit: bool = False, version: str = "3.14.8") -> str:
    checks = {name: "1" for name in kernels}
    return json.dumps({"version": version, "jit": jit, "checks": checks, "kernels": kernels})


def fake_runs(
    rounds: int, seconds: dict[str, float], noise: float = 0.0, seed: int = 1
) -> list[Run]:
    """Runs whose every kernel takes ``seconds[arm]`` (times a noise factor per round)."""
    rng = random.Random(seed)
    runs = []
    for index, order in enumerate(schedule([arm.name for arm in ARMS], rounds)):
        drift = 1.0 + rng.uniform(-noise, noise)
        for name in order:
            arm = next(arm for arm in ARMS if arm.name == name)
            value = seconds[name] * drift * (1.0 + rng.uniform(-noise, noise) / 4)
            text = output({kernel: [value] * 3 for kernel in KERNELS}, jit=arm.jit)
            runs.append(parse_run(text, arm, index))
    return runs


def test_the_schedule_interleaves_and_reverses_every_round() -> None:
    assert schedule(["A", "B"], 4) == [["A", "B"], ["B", "A"], ["A", "B"], ["B", "A"]]
    assert schedule(["A", "B", "C"], 2) == [["A", "B", "C"], ["C", "B", "A"]]


def test_the_arms_pin_python_jit_and_the_hash_seed() -> None:
    assert [arm.name for arm in ARMS] == ["3.12", "3.14", "3.14+JIT"]
    assert [arm.environment["PYTHON_JIT"] for arm in ARMS] == ["0", "0", "1"]
    assert all(arm.environment["PYTHONHASHSEED"] == "0" for arm in ARMS)
    assert [arm.jit for arm in ARMS] == [False, False, True]
    plain = arms_for("a", "b", names=("3.12", "3.14"), with_jit=False)
    assert [arm.name for arm in plain] == ["3.12", "3.14"]
    assert pairs_of(ARMS) == [("3.12", "3.14"), ("3.14", "3.14+JIT")]


def test_a_run_of_the_container_is_isolated_and_hardened() -> None:
    plan = CalibrationPlan(passes=2, scale=0.5)
    command = ARMS[2].command(plan)
    assert command[:3] == ["python3", "-S", "-c"]  # not -I or -E: they ignore PYTHON_JIT
    assert command[3] == WORKLOAD_SCRIPT and command[4:] == ["2", "0.5"]
    kwargs = adapter.run_kwargs(ARMS[2], plan)
    assert kwargs["image"] == "sha256:b" and kwargs["entrypoint"] == command
    assert kwargs["environment"] == {"PYTHON_JIT": "1", "PYTHONHASHSEED": "0", "PYTHONPATH": ""}
    assert kwargs["network_disabled"] is True and kwargs["read_only"] is True
    assert kwargs["nano_cpus"] == 1_000_000_000 and kwargs["mem_limit"] == "256m"
    assert kwargs["cap_drop"] == ["ALL"]
    assert kwargs["labels"]["soakgate.purpose"] == "calibration"


def test_the_workload_runs_here_and_computes_the_same_results_twice() -> None:
    def once() -> Run:
        result = subprocess.run(
            [sys.executable, "-S", "-c", WORKLOAD_SCRIPT, "1", "0.02"],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return parse_run(result.stdout, Arm("here", "none"), 0)

    first, second = once(), once()
    assert set(first.kernels) == set(KERNELS)
    assert all(len(times) == 1 for times in first.kernels.values())
    assert first.checks == second.checks and set(first.checks) == set(KERNELS)
    assert first.figure > 0


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("", "not JSON|no kernel"),
        ("Traceback …", "not JSON"),
        (json.dumps({"kernels": []}), "no kernel timings"),
        (output({"nbody": [0.1]}), "kernel richards has no positive timings"),
        (output({name: [0.0] for name in KERNELS}), "no positive timings"),
        (output({name: [0.1] for name in KERNELS}, jit=True), "the JIT was on"),
    ],
)
def test_a_bad_run_is_named(text: str, fault: str) -> None:
    with pytest.raises(CalibrationError, match=fault):
        parse_run(text, ARMS[0], 0)


def test_a_jit_arm_whose_jit_stayed_off_is_refused() -> None:
    with pytest.raises(CalibrationError, match=r"JIT was off.*PYTHON_JIT=1"):
        parse_run(output({name: [0.1] for name in KERNELS}), ARMS[2], 3)


def test_the_figure_is_the_geometric_mean_of_kernel_medians() -> None:
    times = {name: [1.0, 9.0, 2.0] for name in KERNELS}  # median 2.0
    times["nbody"] = [8.0, 8.0, 8.0]
    run = parse_run(output(times), ARMS[0], 0)
    expected = math.exp((5 * math.log(2.0) + math.log(8.0)) / 6)
    assert run.figure == pytest.approx(expected)


def test_speedups_and_the_interpreters_share() -> None:
    assert speedup_percent(2.0, 1.6) == pytest.approx(25.0)
    assert net_of_interpreter(41.5, 30.0) == pytest.approx((1.415 / 1.30 - 1) * 100)
    assert net_of_interpreter(30.0, 30.0) == pytest.approx(0.0)


def test_summary_finds_a_known_speedup_inside_its_interval() -> None:
    runs = fake_runs(10, {"3.12": 0.125, "3.14": 0.100, "3.14+JIT": 0.095}, noise=0.05)
    document = summarize(runs, ARMS, CalibrationPlan(rounds=10, resamples=500))
    main = document["comparisons"]["3.14 vs 3.12"]["speedup_percent"]
    jit = document["comparisons"]["3.14+JIT vs 3.14"]["speedup_percent"]
    # ±5 % drift shared by a round's arms, ±1.25 % of each arm's own: the paired ratio
    # lands within about 2 % of the truth, with an interval a few percent wide around it.
    assert abs(main["estimate"] - 25.0) < 2.0
    assert main["low"] <= main["estimate"] <= main["high"] < main["low"] + 5.0
    assert abs(jit["estimate"] - (100 / 95 * 100 - 100)) < 2.0
    assert jit["low"] <= jit["estimate"] <= jit["high"]
    assert document["rounds"] == 10 and document["confidence"] == 0.9
    assert document["arms"]["3.12"]["median_seconds"]["low"] <= 0.125 * 1.06
    assert document["order"][1] == ["3.14+JIT", "3.14", "3.12"]
    assert document["results_disagree"] == []
    assert document["summary"].startswith("the interpreter alone: 3.14 vs 3.12 +2")
    assert "JIT 3.14+JIT vs 3.14 +" in document["summary"]
    assert "90 % intervals, 10 rounds" in document["summary"]
    assert parse_calibration(json.dumps(document))["rounds"] == 10


def test_the_interval_is_exact_without_noise() -> None:
    runs = fake_runs(4, {"3.12": 0.2, "3.14": 0.1, "3.14+JIT": 0.1})
    document = summarize(runs, ARMS, CalibrationPlan(rounds=4, resamples=200))
    speedup = document["comparisons"]["3.14 vs 3.12"]["speedup_percent"]
    assert speedup == {"estimate": 100.0, "low": 100.0, "high": 100.0}


def test_only_complete_rounds_count_and_two_are_needed() -> None:
    runs = fake_runs(3, {"3.12": 0.2, "3.14": 0.1, "3.14+JIT": 0.1})
    partial = [run for run in runs if not (run.round_index == 2 and run.arm == "3.12")]
    assert len(complete_rounds(partial, [arm.name for arm in ARMS])) == 2
    assert summarize(partial, ARMS, CalibrationPlan(resamples=50))["rounds"] == 2
    with pytest.raises(CalibrationError, match="1 complete rounds, at least 2"):
        summarize(runs[:4], ARMS, CalibrationPlan())


def test_results_that_differ_between_interpreters_are_listed() -> None:
    runs = fake_runs(2, {"3.12": 0.2, "3.14": 0.1, "3.14+JIT": 0.1})
    odd = runs[1]
    runs[1] = Run(odd.arm, odd.round_index, odd.version, odd.jit, odd.kernels, {"nbody": "2"})
    document = summarize(runs, ARMS, CalibrationPlan(resamples=50))
    assert document["results_disagree"] == [f"{odd.arm}: nbody"]


@pytest.mark.parametrize(
    ("plan", "fault"),
    [
        (CalibrationPlan(rounds=1), "rounds should be 2 to 50"),
        (CalibrationPlan(rounds=51), "rounds should be 2 to 50"),
        (CalibrationPlan(passes=0), "passes"),
        (CalibrationPlan(scale=0), "scale"),
        (CalibrationPlan(max_seconds=0), "max_seconds"),
    ],
)
def test_a_plan_out_of_bounds_is_refused(plan: CalibrationPlan, fault: str) -> None:
    with pytest.raises(CalibrationError, match=fault):
        plan.check()


@pytest.mark.parametrize("text", ["{}", "[]", '{"kind": "interpreter-calibration", "schema": 9}'])
def test_a_document_that_is_no_calibration_is_refused(text: str) -> None:
    with pytest.raises(CalibrationError):
        parse_calibration(text)


# --- the adapter's loop, with the containers faked --------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """read_build and run_arm replaced: each run advances the clock by 10 s."""
    clock = FakeClock()
    calls: list[tuple[str, int]] = []
    builds = {
        "old": ImageBuild("old", "sha256:a", build_from_facts(PYENV_312), "label"),
        "new": ImageBuild("new", "sha256:b", build_from_facts(DEBIAN_314), "label"),
    }
    seconds = {"3.12": 0.13, "3.14": 0.1, "3.14+JIT": 0.098}

    def run_arm(arm: Arm, plan: CalibrationPlan, round_index: int) -> Run:
        clock.now += 10.0
        calls.append((arm.name, round_index))
        times = {kernel: [seconds[arm.name]] * plan.passes for kernel in KERNELS}
        return parse_run(output(times, jit=arm.jit), arm, round_index)

    monkeypatch.setattr(adapter, "read_build", builds.__getitem__)
    monkeypatch.setattr(adapter, "run_arm", run_arm)
    yield {"clock": clock, "calls": calls}


def test_calibrate_runs_interleaved_rounds_with_the_jit_arm(fake_engine: dict[str, Any]) -> None:
    document = adapter.calibrate(
        "old", "new", CalibrationPlan(rounds=3, resamples=50), clock=fake_engine["clock"]
    )
    assert fake_engine["calls"][:6] == [
        ("3.12", 0),
        ("3.14", 0),
        ("3.14+JIT", 0),
        ("3.14+JIT", 1),
        ("3.14", 1),
        ("3.12", 1),
    ]
    assert document["rounds"] == 3 and document["seconds"] == 90.0
    assert document["arms"]["3.14"]["build"].startswith("CPython 3.14.8 · PGO+LTO")
    assert "JIT available (off)" in document["arms"]["3.14"]["build"]
    assert "JIT on" in document["arms"]["3.14+JIT"]["build"]
    assert document["images"]["3.14+JIT"]["image_id"] == "sha256:b"
    assert document["comparisons"]["3.14 vs 3.12"]["speedup_percent"]["estimate"] == 30.0


def test_calibrate_starts_no_round_that_would_end_after_max_seconds(
    fake_engine: dict[str, Any],
) -> None:
    plan = CalibrationPlan(rounds=10, max_seconds=100.0, resamples=50)
    lines: list[str] = []
    document = adapter.calibrate(
        "old", "new", plan, with_jit=False, clock=fake_engine["clock"], progress=lines.append
    )
    assert document["rounds"] == 5  # 20 s a round: the fifth ends at 100 s, a sixth at 120 s
    assert lines[-1] == "stopping after 5 rounds: another would end after 100 s"


def test_calibrate_refuses_a_bad_plan_before_running(fake_engine: dict[str, Any]) -> None:
    with pytest.raises(adapter.CalibrationFailed, match="rounds should be"):
        adapter.calibrate("old", "new", CalibrationPlan(rounds=0))
    assert fake_engine["calls"] == []


def test_the_calibration_is_kept_and_found_by_the_builds_fingerprints(
    fake_engine: dict[str, Any], tmp_path: Path
) -> None:
    document = adapter.calibrate(
        "old", "new", CalibrationPlan(rounds=2, resamples=20), clock=fake_engine["clock"]
    )
    copy = tmp_path / "reports" / "calibration.json"
    state = tmp_path / "state"
    path = adapter.write_calibration(document, state, copy)
    old, new = build_from_facts(PYENV_312), build_from_facts(DEBIAN_314)
    assert path.name == f"{old.fingerprint()}-{new.fingerprint()}.json"
    assert json.loads(path.read_text()) == json.loads(copy.read_text())
    found = adapter.find_speedup(state, old, new)
    assert found is not None and found["file"] == str(path)
    assert found["estimate"] == 30.0  # 0.13 s against 0.10 s
    back = adapter.find_speedup(state, new, old)  # measured the other way round: inverted
    assert back is not None and back["estimate"] == pytest.approx(-23.077, abs=1e-3)
    jit = adapter.find_speedup(state, new, replace(new, jit_enabled=True))
    assert jit is not None and jit["estimate"] == pytest.approx((0.1 / 0.098 - 1) * 100, abs=0.01)
    assert adapter.find_speedup(state, old, old) is None
    assert adapter.find_speedup(tmp_path / "nowhere", old, new) is None


def test_an_interval_measured_the_other_way_round_is_inverted() -> None:
    document = {
        "images": {"a": {"fingerprint": "A"}, "b": {"fingerprint": "B"}},
        "comparisons": {
            "b vs a": {
                "baseline": "a",
                "candidate": "b",
                "speedup_percent": {"estimate": 25.0, "low": 20.0, "high": 50.0},
            }
        },
    }
    assert interpreter_speedup(document, "A", "B") == {"estimate": 25.0, "low": 20.0, "high": 50.0}
    assert interpreter_speedup(document, "B", "A") == {
        "estimate": -20.0,
        "low": pytest.approx(-33.333, abs=1e-3),
        "high": pytest.approx(-16.667, abs=1e-3),
    }
    assert interpreter_speedup(document, "A", "C") is None


def test_the_calibration_table_shows_each_arm_and_the_speedups() -> None:
    from rich.console import Console

    from soakgate.cli.images import render_calibration

    runs = fake_runs(4, {"3.12": 0.2, "3.14": 0.1, "3.14+JIT": 0.08})
    document = summarize(runs, ARMS, CalibrationPlan(rounds=4, resamples=50))
    console = Console(width=200, record=True)
    console.print(render_calibration(document))
    text = console.export_text()
    assert "interpreter calibration (4 rounds, 90 % intervals)" in text
    assert "200.0 ms" in text and "[100.0, 100.0] ms" in text
    assert "3.14 vs 3.12" in text and "+100.0 %" in text
    assert "3.14+JIT vs 3.14" in text and "+25.0 %" in text
