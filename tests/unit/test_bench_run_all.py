"""bench.run_all: each bench's rows read from documents shaped as its main() writes them, the
Markdown, the exit-code rule, and whole runs of fake bench modules (no Docker)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from bench import deploy, floors, images, rollback, soak, soak_monitor, ssh_rollback
from bench.common import summary
from bench.run_all import (
    MISSING,
    NONE,
    BenchRun,
    Row,
    describe_machine,
    exit_code,
    extract,
    main,
    render_markdown,
    timeout_minutes,
)

FLOORS = {
    "nginx_reload": {"what": "nginx -s reload", "seconds": 0.0841, "runs": [0.08] * 5},
    "container_run": {"what": "docker run --rm", "seconds": 0.412, "runs": [0.4] * 5},
    "http_get": {"what": "HTTP GET", "seconds": 0.0006, "runs": [0.0006] * 5},
}
MACHINE = {
    "cpu_cores": 2,
    "cpu_model": "Test CPU",
    "memory_gib": 3.8,
    "kernel": "6.1.0",
    "docker": "20.10.24",
    "python": "3.11.7",
    "load_average_at_start": [0.05, 0.1, 0.2],
}


def written(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """What bench.common.write_result puts in the file."""
    return {"benchmark": name, "machine": "x86_64 2 cores", **data}


def by_figure(rows: list[Row]) -> dict[str, Row]:
    return {row.figure: row for row in rows}


# --- documents as each bench's main() writes them ----------------------------------------------


def images_doc() -> dict[str, Any]:
    t = images.TARGETS
    rebuild = summary([6.0, 6.5, 7.0])
    one = {"3.12": summary([3.0, 3.1, 3.2]), "3.14": summary([9.0, 9.5, 9.9])}
    sizes = {
        "3.12": {"base_mb": 120.0, "service_mb": 150.0, "service_over_base_mb": 30.0},
        "3.14": {"base_mb": 130.0, "service_mb": 162.0, "service_over_base_mb": 32.0},
    }
    return written(
        "images",
        {
            "cold_build_seconds": {"3.12": 41.2, "3.14": 44.9},
            "cold_build_note": "…",
            "rebuild_after_app_change_seconds": rebuild,
            "rebuild_note": "…",
            "rebuild_one_image_seconds": one,
            "rebuild_one_image_note": "…",
            "sizes": sizes,
            "targets": t,
            "within_targets": {
                "rebuild": rebuild["median"] <= t["rebuild_seconds"],
                "rebuild_one_image": False,
                "base_size": True,
                "service_over_base": True,
            },
        },
    )


def deploy_doc() -> dict[str, Any]:
    t = deploy.TARGETS
    no_change = {stage: summary([2.0, 2.1, 2.2]) for stage in ("dev", "staging", "production")}
    deployed = summary([9.0, 9.5, 10.0, 10.5, 11.0])
    return written(
        "deploy",
        {
            "no_change_up_seconds": no_change,
            "deploy_seconds": deployed,
            "deploy_note": "…",
            "targets": t,
            "within_targets": {"no_change_up": True, "deploy": True},
        },
    )


def rollback_doc() -> dict[str, Any]:
    t = rollback.TARGETS
    return written(
        "rollback",
        {
            "emergency_restored_seconds": summary([1.2, 1.3, 1.4]),
            "emergency_done_seconds": summary([8.0, 8.5, 9.0]),
            "warm_flip_floor_seconds": summary([0.2, 0.25, 0.3]),
            "cold_restored_seconds": summary([20.0, 21.0, 22.0]),
            "load_during_emergency": {"sent": 3000, "failed": 0},
            "note": "…",
            "targets": t,
            "within_targets": {
                "emergency_restored": False,
                "emergency_restored_must": True,
                "emergency_done": True,
                "cold_restored": True,
                "no_failed_requests": True,
            },
        },
    )


def soak_doc() -> dict[str, Any]:
    return written(
        "soak",
        {
            "generated_at": "2025-01-01T00:00:00+00:00",
            "python": "3.11.7",
            "sqlite": "3.45.0",
            "week": {"probes": 604800, "engine_samples": 60481, "probe_interval_seconds": 1},
            "sqlite_mb": 61.23,
            "sqlite_bytes_per_probe": 101.2,
            "sqlite_target_mb": soak.DB_TARGET_MB,
            "sqlite_ok": True,
            "insert_rows_per_second": 250000,
            "insert_batch_size": 1000,
            "insert_commit_each_rows_per_second": 9000,
            "report_seconds": 6.2,
            "report_target_seconds": soak.REPORT_TARGET_SECONDS,
            "report_ok": False,
            "report_breakdown_seconds": {"load_and_bucket": 4.0, "render": 2.2},
            "report_bytes": 300000,
            "judge_seconds": 1.1,
            "judge_load_samples_seconds": 0.9,
            "monitor_cpu_percent": None,
        },
    )


def soak_monitor_doc() -> dict[str, Any]:
    return written(
        "soak_monitor",
        {
            "python": "3.11.7",
            "monitor_cpu_percent_of_a_core": 0.812,
            "monitor_cpu_target_percent": soak_monitor.CPU_TARGET_PERCENT,
            "monitor_cpu_ok": True,
            "measured_seconds": 60.0,
            "warm_up_seconds": soak_monitor.WARM_UP_SECONDS,
            "cpu_seconds_in_window": 0.49,
            "cpu_seconds_before_window": 1.2,
            "probes_in_window": 60,
            "engine_samples_total": 7,
            "monitor_rss_mib": 41.5,
            "settings": "…",
            "run_seconds": 75.3,
            "engine_sample_ms_median": 1.42,
            "engine_sample_ms_max": 3.1,
            "engine_sample_reads": 50,
            "stats_api_stream_false_seconds": [1.0, 1.0, 1.0],
            "memory_mib": 30.1,
        },
    )


def perf_gate_doc() -> dict[str, Any]:
    def run(verdict: str) -> dict[str, Any]:
        changes = {
            f: {"estimate": 1.5} for f in ("throughput_drop", "p50_increase", "p95_increase")
        }
        return {
            "verdict": verdict,
            "rounds": 6,
            "changes": changes,
            "seconds": 60.0,
            "load_average": [1.0, 1.1],
        }

    same = [run("pass")] * 18 + [run("inconclusive")] * 2
    planted = [run("fail")] * 4 + [run("inconclusive")]
    return written(
        "perf_gate",
        {
            "release": "sha256:" + "1" * 64,
            "gate_limit_percent": 5.0,
            "cpu_hogs": 1,
            "seconds": 1500.0,
            "same_code": {
                "runs": same,
                "verdicts": {"pass": 18, "inconclusive": 2, "fail": 0},
                "false_alarms": 0,
                "worst_estimate_percent": 1.5,
            },
            "planted_slowdown": {
                "slowdown_percent": 5.0,
                "runs": planted,
                "verdicts": {"pass": 0, "inconclusive": 1, "fail": 4},
                "passed": 0,
            },
        },
    )


def compare_doc() -> dict[str, Any]:
    def run(verdict: str, change: float) -> dict[str, Any]:
        figure = {"change": change, "interval": [change - 1, change + 1], "verdict": verdict}
        return {
            "verdict": verdict,
            "headline": {"throughput": figure, "p50": figure, "p95": figure},
            "rounds": 6,
            "seconds": 40.0,
            "load_average": [0.5, 0.6],
        }

    return written(
        "compare",
        {
            "release": "sha256:" + "1" * 64,
            "threshold_percent": 5.0,
            "seconds": 800.0,
            "same_code": {
                "runs": [run("no difference", 0.3)] * 10,
                "verdicts": {"no difference": 10},
            },
            "planted_slowdown": {
                "throttle": {"cpus": 0.9, "period_seconds": 0.01},
                "runs": [run("slower", -9.0), run("slower", -10.0), run("inconclusive", -4.0)],
                "verdicts": {"slower": 2, "inconclusive": 1},
            },
        },
    )


def ssh_hosts_doc() -> dict[str, Any]:
    return written(
        "ssh_hosts",
        {
            "connect_and_ping_seconds": summary([0.3, 0.31, 0.32]),
            "api_call_seconds": {"over_ssh": 0.0042, "local_socket": 0.0011, "calls": 50},
            "check_two_hosts_seconds": summary([0.5, 0.6, 0.7]),
            "send_image": {
                "release": "sample:py3.12",
                "bytes": 150_000_000,
                "seconds": summary([1.5, 1.6, 1.7]),
                "mb_per_second": 100.0,
            },
        },
    )


def ssh_rollback_doc() -> dict[str, Any]:
    return written(
        "ssh_rollback",
        {
            "two_ssh_hosts_restored_seconds": summary([1.6, 1.7, 1.8]),
            "local_restored_seconds": summary([1.2, 1.3, 1.4]),
            "ratio_of_medians": 1.31,
            "load": {
                "ssh_hosts": {"sent": 1000, "failed": 1},
                "local": {"sent": 500, "failed": 0},
            },
            "note": "…",
            "targets": {"ratio_of_medians": ssh_rollback.GOAL_RATIO},
            "within_targets": {"ratio": True, "no_failed_requests": False},
        },
    )


DOCS = {
    "images": images_doc,
    "deploy": deploy_doc,
    "rollback": rollback_doc,
    "soak": soak_doc,
    "soak_monitor": soak_monitor_doc,
    "perf_gate": perf_gate_doc,
    "compare": compare_doc,
    "ssh_hosts": ssh_hosts_doc,
    "ssh_rollback": ssh_rollback_doc,
}


# --- extraction --------------------------------------------------------------------------------


def test_images_rows_per_python_against_the_targets() -> None:
    rows = by_figure(extract("images", images_doc(), FLOORS))
    assert rows["cold build, Python 3.12"].measured == "41.2 s"
    assert rows["cold build, Python 3.12"].target == NONE
    rebuild = rows["rebuild after an app change (pulumi up, both images)"]
    assert (rebuild.measured, rebuild.target, rebuild.within) == ("6.5 s", "≤ 8 s", True)
    assert rows["rebuild one image, Python 3.12"].within is True
    assert rows["rebuild one image, Python 3.14"].within is False  # 9.5 s > 8 s
    assert rows["base image, Python 3.14"].target == "≤ 140 MB"
    assert rows["service image over its base, Python 3.12"].measured == "30 MB"
    assert all(row.measured != MISSING for row in rows.values())


def test_deploy_rows_take_the_container_floor() -> None:
    rows = by_figure(extract("deploy", deploy_doc(), FLOORS))
    deployed = rows["deploy of a new release (command → switched)"]
    assert (deployed.measured, deployed.target) == ("10 s", "≤ 15 s")
    assert deployed.floor == "412.0 ms (docker run)"
    assert deployed.within is True
    assert rows["no-change pulumi up, staging"].target == "≤ 3 s"
    assert rows["no-change pulumi up, staging"].floor == NONE


def test_rollback_emergency_rows_take_the_reload_floor() -> None:
    rows = by_figure(extract("rollback", rollback_doc(), FLOORS))
    restored = rows["emergency rollback → traffic restored"]
    assert (restored.measured, restored.target, restored.within) == ("1.3 s", "≤ 1 s", False)
    assert restored.floor == "84.1 ms (reload)"
    assert rows["emergency rollback → traffic restored (must)"].target == "≤ 2 s"
    assert rows["emergency rollback → command done"].floor == "84.1 ms (reload)"
    assert rows["cold rollback → traffic restored"].within is True
    failed = rows["failed requests during emergency rollbacks"]
    assert (failed.measured, failed.within) == ("0 of 3000", True)
    assert {row.key for row in rows.values()} >= set(rollback_doc()["within_targets"])


def test_soak_rows_use_its_own_targets_and_verdicts() -> None:
    rows = by_figure(extract("soak", soak_doc(), FLOORS))
    size = rows["SQLite size of a week at 1 probe/s"]
    assert (size.measured, size.target, size.within) == ("61.23 MB", "< 100 MB", True)
    report = rows["HTML report of that week"]
    assert (report.measured, report.target, report.within) == ("6.2 s", "< 5 s", False)
    assert rows["inserts, batched"].measured == "250000 rows/s"


def test_soak_monitor_rows_take_the_http_floor() -> None:
    rows = by_figure(extract("soak_monitor", soak_monitor_doc(), FLOORS))
    cpu = rows["soak monitor CPU at 1 probe/s"]
    assert (cpu.measured, cpu.target, cpu.within) == ("0.812 % of a core", "< 2 % of a core", True)
    assert cpu.floor == "0.6 ms (HTTP GET)"
    assert rows["probes in the measured window"].measured == "60 in 60 s"


def test_benches_without_targets_list_figures_with_no_target() -> None:
    gate = by_figure(extract("perf_gate", perf_gate_doc(), FLOORS))
    assert gate["same code: false alarms (fail)"].measured == "0 of 20"
    assert gate["same code: inconclusive"].measured == "2 of 20"
    assert gate["planted 5 % slowdown: caught (fail)"].measured == "4 of 5"
    compared = by_figure(extract("compare", compare_doc(), FLOORS))
    assert compared["same code: verdicts"].measured == "no difference 10"
    assert compared["throttled 10 %: throughput change (median)"].measured == "-9 %"
    hosts = by_figure(extract("ssh_hosts", ssh_hosts_doc(), FLOORS))
    assert hosts["send a release image"].measured == "100 MB/s"
    for rows in (gate, compared, hosts):
        assert all(row.target == NONE and row.within is None for row in rows.values())


def test_ssh_rollback_rows() -> None:
    rows = by_figure(extract("ssh_rollback", ssh_rollback_doc(), FLOORS))
    ratio = rows["SSH hosts / here (ratio of medians)"]
    assert (ratio.measured, ratio.target, ratio.within) == ("1.31 x", "≤ 1.5 x", True)
    failed = rows["failed requests during the rollbacks"]
    assert (failed.measured, failed.within) == ("1 of 1500", False)
    assert rows["emergency rollback on two SSH hosts → restored"].floor == "84.1 ms (reload)"


@pytest.mark.parametrize("name", sorted(DOCS))
@pytest.mark.parametrize("broken", [{}, {"targets": 3, "sizes": [1], "same_code": "x"}])
def test_missing_keys_give_missing_rows_never_a_crash(name: str, broken: dict[str, Any]) -> None:
    rows = extract(name, broken, {})
    assert rows
    assert any(MISSING in row.measured for row in rows)
    assert all(row.within is None for row in rows)
    targeted = [row for row in rows if row.target != NONE]
    if targeted:  # a figure with a target and nothing measured fails the run
        run = BenchRun(name, "ok", 0, 1.0, rows=rows)
        assert exit_code([run]) == 1


def test_a_within_targets_key_no_row_took_is_kept() -> None:
    doc = deploy_doc()
    doc["within_targets"]["new_check"] = False
    rows = by_figure(extract("deploy", doc, FLOORS))
    assert rows["new_check"].within is False
    assert rows["new_check"].target != NONE


def test_without_floors_the_floor_column_says_so() -> None:
    rows = by_figure(extract("rollback", rollback_doc(), {}))
    assert rows["emergency rollback → traffic restored"].floor == "n/a"


# --- exit code and Markdown --------------------------------------------------------------------


def test_exit_code_rule() -> None:
    within = Row("a", "1 s", "≤ 2 s", within=True)
    info = Row("b", "3 s")
    assert exit_code([BenchRun("x", "ok", 0, 1.0, rows=[within, info])]) == 0
    assert exit_code([]) == 0
    outside = Row("c", "3 s", "≤ 2 s", within=False)
    assert exit_code([BenchRun("x", "ok", 0, 1.0, rows=[within, outside])]) == 1
    unjudged = Row("d", "3 s", "≤ 2 s")
    assert exit_code([BenchRun("x", "ok", 0, 1.0, rows=[unjudged])]) == 1
    failed = BenchRun("y", "failed", 1, 1.0, why="exit code 1")
    assert exit_code([BenchRun("x", "ok", 0, 1.0, rows=[within]), failed]) == 1


def test_markdown_marks_no_and_lists_failed_benches() -> None:
    runs = [
        BenchRun("soak", "ok", 0, 9.5, rows=extract("soak", soak_doc(), FLOORS)),
        BenchRun(
            "rollback",
            "timed out",
            -9,
            1200.0,
            why="timed out after 20 min",
            tail=["Traceback (most recent call last):", "AssertionError: deploy | failed"],
        ),
    ]
    text = render_markdown(MACHINE, FLOORS, runs, "2025-01-01T00:00:00+00:00")
    assert "Machine: 2 cores, Test CPU, 3.8 GiB, kernel 6.1.0, Docker 20.10.24" in text
    assert "load average at start 0.05 / 0.1 / 0.2" in text
    assert "| nginx -s reload | 84.1 ms |" in text
    assert "| bench | figure | measured | target | floor | within |" in text
    assert "| soak | HTML report of that week | 6.2 s | < 5 s | — | **NO** |" in text
    assert "| soak | SQLite size of a week at 1 probe/s | 61.23 MB | < 100 MB | — | yes |" in text
    assert "| soak | judge that week | 1.1 s | — | — | — |" in text
    assert "- **rollback**: timed out after 20 min after 1200 s" in text
    assert "  AssertionError: deploy | failed" in text
    assert "| rollback | (timed out: no figures) |" in text
    assert "Not measured" in render_markdown(MACHINE, None, runs, "now")


def test_describe_machine_takes_the_engine_version() -> None:
    machine = describe_machine(lambda: "27.0.1")
    assert machine["docker"] == "27.0.1"
    assert machine["cpu_cores"] and len(machine["load_average_at_start"]) == 3


# --- floors, without an engine -------------------------------------------------------------------


def test_http_floor_over_loopback() -> None:
    floor = floors.http_get(runs=3)
    assert floor["seconds"] is not None and floor["seconds"] > 0
    assert len(floor["runs"]) == 3


def test_docker_floors_are_null_with_a_reason_when_no_engine_answers() -> None:
    found = floors.measure_floors(runs=1)  # DOCKER_HOST points nowhere in unit tests
    assert found["nginx_reload"]["seconds"] is None
    assert "no Docker engine" in found["container_run"]["why"]
    assert found["http_get"]["seconds"] is not None


class ImageNotFound(Exception):
    pass


class FakeContainer:
    def __init__(self, exit_code: int) -> None:
        self.exit_code = exit_code
        self.removed = False
        self.execs: list[list[str]] = []

    def exec_run(self, argv: list[str]) -> Any:
        self.execs.append(argv)
        return type("Exec", (), {"exit_code": self.exit_code, "output": b"nginx: no pid"})()

    def remove(self, force: bool = False) -> None:
        self.removed = True


class FakeClient:
    """An engine: ``images`` holds the image names it has; containers run as FakeContainer."""

    def __init__(self, images: set[str], exit_code: int = 0) -> None:
        self.container = FakeContainer(exit_code)
        self.images = type("Images", (), {"get": self._image})()
        self.containers = type("Containers", (), {"run": self._run})()
        self._names = images

    def _image(self, name: str) -> str:
        if name not in self._names:
            raise ImageNotFound(name)
        return name

    def _run(self, image: str, command: list[str], **kwargs: Any) -> FakeContainer:
        return self.container


def test_nginx_floor_missing_image_is_null_with_why() -> None:
    floor = floors.nginx_reload(FakeClient(set()), "soakgate/proxy:nginx", runs=2)
    assert floor["seconds"] is None
    assert "image not on this engine" in floor["why"]


def test_nginx_floor_removes_its_container(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(floors, "DRAIN_SECONDS", 0.0)
    client = FakeClient({"proxy"})
    floor = floors.nginx_reload(client, "proxy", runs=3)
    assert floor["seconds"] is not None and len(floor["runs"]) == 3
    assert client.container.removed
    assert client.container.execs[0] == [
        "nginx",
        "-c",
        "/etc/soakgate/proxy/nginx.conf",
        "-s",
        "reload",
    ]
    monkeypatch.setattr(floors, "READY_SECONDS", 0.1)
    failing = FakeClient({"proxy"}, exit_code=1)
    floor = floors.nginx_reload(failing, "proxy", runs=3)
    assert floor["seconds"] is None and "exited 1" in floor["why"]
    assert failing.container.removed


# --- whole runs of fake bench modules --------------------------------------------------------

FAKE = """\
import json, pathlib, sys, time
print("fake bench starting")
{body}
"""


def fake_benches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, results: Path) -> None:
    package = tmp_path / "fakebench"
    package.mkdir()
    (package / "__init__.py").write_text("")
    writes = "pathlib.Path({path!r}).write_text(json.dumps({doc!r}))"
    bodies = {
        "soak": writes.format(
            path=str(results / "soak.json"), doc=soak_doc() | {"report_ok": True}
        ),
        "deploy": writes.format(path=str(results / "deploy.json"), doc=deploy_doc()),
        "broken": "for i in range(30):\n    print('line', i)\nsys.exit(3)",
        "silent": "pass",
        "slow": "time.sleep(60)",
    }
    for name, body in bodies.items():
        (package / f"{name}.py").write_text(FAKE.format(body=textwrap.dedent(body)))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))


def run_fakes(tmp_path: Path, *argv: str, **kwargs: Any) -> tuple[int, dict[str, Any], str]:
    results = tmp_path / "results"
    code = main(
        list(argv),
        benches=("soak", "deploy", "broken", "silent", "slow"),
        prefix="fakebench",
        root=tmp_path,
        results=results,
        machine=lambda: dict(MACHINE),
        grace=5.0,
        **kwargs,
    )
    latest = json.loads((results / "latest.json").read_text())
    return code, latest, (results / "latest.md").read_text()


def test_run_only_a_fake_bench(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_benches(tmp_path, monkeypatch, tmp_path / "results")
    code, latest, markdown = run_fakes(tmp_path, "--only", "soak", "--no-floors")
    assert code == 0
    assert list(latest["benches"]) == ["soak"]
    soak_run = latest["benches"]["soak"]
    assert soak_run["status"] == "ok" and soak_run["exit_code"] == 0
    assert soak_run["result"]["sqlite_mb"] == 61.23
    assert {row["figure"] for row in soak_run["rows"]} >= {"HTML report of that week"}
    assert latest["floors"] is None
    assert "| soak | HTML report of that week | 6.2 s | < 5 s | — | yes |" in markdown
    assert markdown in capsys.readouterr().out
    assert not list((tmp_path / "results").glob(".latest*"))  # no temporary file left


def test_failed_stale_and_timed_out_benches_are_recorded_and_the_others_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "silent.json").write_text(json.dumps({"old": True}))  # from an earlier run
    fake_benches(tmp_path, monkeypatch, results)
    code, latest, markdown = run_fakes(
        tmp_path,
        "--skip",
        "soak",
        "--timeout-minutes",
        "0.02",
        floors=lambda: FLOORS,
    )
    assert code == 1
    benches = latest["benches"]
    assert list(benches) == ["deploy", "broken", "silent", "slow"]
    assert benches["deploy"]["status"] == "ok"
    assert benches["broken"]["status"] == "failed" and benches["broken"]["exit_code"] == 3
    assert benches["broken"]["output_tail"][-1] == "line 29"
    assert len(benches["broken"]["output_tail"]) == 20
    assert benches["silent"]["status"] == "failed" and benches["silent"]["result"] is None
    assert "no silent.json written by this run" in benches["silent"]["why"]
    assert benches["slow"]["status"] == "timed out"
    assert latest["floors"] == FLOORS
    assert "| deploy | deploy of a new release (command → switched) | 10 s | ≤ 15 s |" in markdown
    assert "412.0 ms (docker run)" in markdown
    for name in ("broken", "silent", "slow"):
        assert f"- **{name}**:" in markdown
    assert (results / "broken.log").read_text().startswith("fake bench starting")


def test_timeouts_per_bench() -> None:
    assert timeout_minutes("deploy", None) == 20
    assert timeout_minutes("perf_gate", None) > 20  # ~22 min in the README's last run
    assert timeout_minutes("perf_gate", 5.0) == 5.0


def test_unknown_bench_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--only", "nope"], results=tmp_path, machine=lambda: dict(MACHINE))
