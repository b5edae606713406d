"""Every benchmark in one run, with the machine and the floors on record beside the figures.

    bench/run_all                                   # = .venv/bin/python -m bench.run_all
    bench/run_all --only rollback deploy            # just these
    bench/run_all --skip perf_gate compare --timeout-minutes 30
    bench/run_all --no-floors                       # figures only

Each bench runs as ``python -m bench.NAME`` in its own process group, with a timeout (20 min;
longer for perf_gate and compare): a timed-out bench gets SIGINT, so its own clean-up runs,
and GRACE_SECONDS later its group is killed. One that fails or times out is recorded with its
last lines and the others still run. Its output goes to ``bench/results/NAME.log``; its
figures are read from ``bench/results/NAME.json`` when this run wrote it. Writes
``bench/results/latest.json`` and ``latest.md`` and prints the Markdown. Exit 0 when every
bench ran and every figure with a target is within it, else 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import RESULTS, ROOT

BENCHES = (
    "images",
    "deploy",
    "rollback",
    "soak",
    "soak_monitor",
    "perf_gate",
    "compare",
    "ssh_hosts",
    "ssh_rollback",
)
TIMEOUT_MINUTES = 20.0
# README's last figures on 2 cores: perf_gate 20 x 44 s + 5 x 87 s (~22 min), compare 20 x ~60 s
LONGER_TIMEOUT_MINUTES = {"perf_gate": 45.0, "compare": 40.0}
GRACE_SECONDS = 120.0  # after SIGINT, for a timed-out bench's own clean-up (its finally)
TAIL_LINES = 20
CLOCK_SLACK = 1.0  # a file's mtime may lag time.time() by a clock tick
NONE = "—"
MISSING = "missing"

Doc = Mapping[str, Any]
Floors = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Row:
    """One figure of a bench: what it measured, against its target and its floor."""

    figure: str
    measured: str
    target: str = NONE
    floor: str = NONE
    within: bool | None = None
    key: str | None = None  # the bench's own within_targets key that judged it, if any


@dataclass
class BenchRun:
    """One bench's run: how it ended, its JSON when this run wrote it, and its rows."""

    name: str
    status: str  # "ok", "failed" or "timed out"
    exit_code: int | None
    seconds: float
    why: str | None = None
    tail: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None
    rows: list[Row] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# --- reading a bench's JSON -----------------------------------------------------------------


def get(doc: Any, *path: str) -> Any:
    """``doc[path[0]][path[1]]...``, or None where a key is missing or a level is no dict."""
    for key in path:
        if not isinstance(doc, Mapping):
            return None
        doc = doc.get(key)
    return doc


def number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def show(value: Any, unit: str) -> str:
    """``0.81 s``; "missing" when ``value`` is no number."""
    found = number(value)
    if found is None:
        return MISSING
    return f"{found:g} {unit}".rstrip()


def entries(value: Any) -> list[tuple[str, Any]]:
    """The (key, value) pairs of a dict in the JSON, [] when it is none."""
    return [(str(k), v) for k, v in value.items()] if isinstance(value, Mapping) else []


def limit(doc: Doc, key: str, unit: str, op: str = "≤") -> str:
    """A target from the bench's own ``targets``: ``≤ 15 s``; "missing" when absent."""
    value = number(get(doc, "targets", key))
    return MISSING if value is None else f"{op} {value:g} {unit}".rstrip()


def judged(doc: Doc, key: str) -> bool | None:
    """The bench's own verdict ``within_targets[key]``; None when it has none."""
    value = get(doc, "within_targets", key)
    return value if isinstance(value, bool) else None


def at_most(value: Any, bound: Any) -> bool | None:
    """``value <= bound`` when both are numbers (for a per-item row of a bench's all())."""
    a, b = number(value), number(bound)
    return None if a is None or b is None else a <= b


def flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def floor_of(floors: Floors, name: str, label: str) -> str:
    """``84.1 ms (reload)``: the floor's median, "n/a" when it was not measured."""
    seconds = number(get(floors, name, "seconds"))
    if seconds is None:
        return "n/a"
    return f"{seconds_text(seconds)} ({label})"


def seconds_text(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.3f} s"


def count_of(part: Any, whole: Any) -> str:
    """``2 of 20``; "missing" unless ``part`` is a number and ``whole`` a list."""
    found = number(part)
    if found is None or not isinstance(whole, list):
        return MISSING
    return f"{found:g} of {len(whole)}"


def counted(failed: Any, sent: Any) -> str:
    """``0 of 6000`` (failed of sent requests); "missing" unless both are numbers."""
    a, b = number(failed), number(sent)
    return MISSING if a is None or b is None else f"{a:g} of {b:g}"


def tally(verdicts: Any) -> str:
    """``no difference 9, inconclusive 1`` of a {verdict: count} dict."""
    pairs = entries(verdicts)
    return ", ".join(f"{k} {v}" for k, v in pairs) if pairs else MISSING


def reload_floor(floors: Floors) -> str:
    return floor_of(floors, "nginx_reload", "reload")


def run_floor(floors: Floors) -> str:
    return floor_of(floors, "container_run", "docker run")


def http_floor(floors: Floors) -> str:
    return floor_of(floors, "http_get", "HTTP GET")


# --- one extraction per bench: the keys each bench's main() writes ----------------------------


def images_rows(doc: Doc, floors: Floors) -> list[Row]:
    """bench/images.py: cold builds, rebuilds (median) and sizes per Python."""
    rows = [
        Row(f"cold build, Python {python}", show(seconds, "s"))
        for python, seconds in entries(doc.get("cold_build_seconds"))
    ] or [Row("cold build", MISSING)]
    rebuild_target = get(doc, "targets", "rebuild_seconds")
    rows.append(
        Row(
            "rebuild after an app change (pulumi up, both images)",
            show(get(doc, "rebuild_after_app_change_seconds", "median"), "s"),
            limit(doc, "rebuild_seconds", "s"),
            within=judged(doc, "rebuild"),
            key="rebuild",
        )
    )
    one_image = entries(doc.get("rebuild_one_image_seconds"))
    rows += [
        Row(
            f"rebuild one image, Python {python}",
            show(get(runs, "median"), "s"),
            limit(doc, "rebuild_seconds", "s"),
            within=at_most(get(runs, "median"), rebuild_target),
            key="rebuild_one_image",
        )
        for python, runs in one_image
    ] or [Row("rebuild one image", MISSING, limit(doc, "rebuild_seconds", "s"))]
    sizes = entries(doc.get("sizes"))
    if not sizes:
        rows.append(Row("image sizes", MISSING, limit(doc, "base_mb", "MB")))
    for python, size in sizes:
        rows += [
            Row(
                f"base image, Python {python}",
                show(get(size, "base_mb"), "MB"),
                limit(doc, "base_mb", "MB"),
                within=at_most(get(size, "base_mb"), get(doc, "targets", "base_mb")),
                key="base_size",
            ),
            Row(
                f"service image over its base, Python {python}",
                show(get(size, "service_over_base_mb"), "MB"),
                limit(doc, "service_over_base_mb", "MB"),
                within=at_most(
                    get(size, "service_over_base_mb"), get(doc, "targets", "service_over_base_mb")
                ),
                key="service_over_base",
            ),
            Row(f"service image, Python {python}", show(get(size, "service_mb"), "MB")),
        ]
    return rows


def deploy_rows(doc: Doc, floors: Floors) -> list[Row]:
    """bench/deploy.py: no-change `pulumi up` per stage and a new release's deploy (medians).
    The container floor goes with the deploy (it starts one); a no-change up starts none."""
    target = get(doc, "targets", "no_change_up_seconds")
    rows = [
        Row(
            f"no-change pulumi up, {stage}",
            show(get(runs, "median"), "s"),
            limit(doc, "no_change_up_seconds", "s"),
            within=at_most(get(runs, "median"), target),
            key="no_change_up",
        )
        for stage, runs in entries(doc.get("no_change_up_seconds"))
    ] or [Row("no-change pulumi up", MISSING, limit(doc, "no_change_up_seconds", "s"))]
    rows.append(
        Row(
            "deploy of a new release (command → switched)",
            show(get(doc, "deploy_seconds", "median"), "s"),
            limit(doc, "deploy_seconds", "s"),
            run_floor(floors),
            judged(doc, "deploy"),
            "deploy",
        )
    )
    return rows


def rollback_rows(doc: Doc, floors: Floors) -> list[Row]:
    """bench/rollback.py: emergency rollback (restored, done), the bench's own warm-flip floor,
    cold rollback (medians) and failed requests under load."""
    restored = show(get(doc, "emergency_restored_seconds", "median"), "s")
    sent = get(doc, "load_during_emergency", "sent")
    failed = get(doc, "load_during_emergency", "failed")
    return [
        Row(
            "emergency rollback → traffic restored",
            restored,
            limit(doc, "emergency_restored_seconds", "s"),
            reload_floor(floors),
            judged(doc, "emergency_restored"),
            "emergency_restored",
        ),
        Row(
            "emergency rollback → traffic restored (must)",
            restored,
            limit(doc, "emergency_restored_must", "s"),
            reload_floor(floors),
            judged(doc, "emergency_restored_must"),
            "emergency_restored_must",
        ),
        Row(
            "emergency rollback → command done",
            show(get(doc, "emergency_done_seconds", "median"), "s"),
            limit(doc, "emergency_done_seconds", "s"),
            reload_floor(floors),
            judged(doc, "emergency_done"),
            "emergency_done",
        ),
        Row(
            "warm flip floor (upstream + SIGHUP + first answer)",
            show(get(doc, "warm_flip_floor_seconds", "median"), "s"),
            floor=reload_floor(floors),
        ),
        Row(
            "cold rollback → traffic restored",
            show(get(doc, "cold_restored_seconds", "median"), "s"),
            limit(doc, "cold_restored_seconds", "s"),
            run_floor(floors),
            judged(doc, "cold_restored"),
            "cold_restored",
        ),
        Row(
            "failed requests during emergency rollbacks",
            counted(failed, sent),
            "0",
            within=judged(doc, "no_failed_requests"),
            key="no_failed_requests",
        ),
    ]


def soak_rows(doc: Doc, floors: Floors) -> list[Row]:
    """bench/soak.py: a simulated week's SQLite size and report time, against the targets it
    writes beside them (``sqlite_target_mb``/``sqlite_ok``, ``report_target_seconds``/
    ``report_ok``; strict: below); throughput and judge time for information."""
    sqlite_target = number(doc.get("sqlite_target_mb"))
    report_target = number(doc.get("report_target_seconds"))
    return [
        Row(
            "SQLite size of a week at 1 probe/s",
            show(doc.get("sqlite_mb"), "MB"),
            MISSING if sqlite_target is None else f"< {sqlite_target:g} MB",
            within=flag(doc.get("sqlite_ok")),
        ),
        Row(
            "HTML report of that week",
            show(doc.get("report_seconds"), "s"),
            MISSING if report_target is None else f"< {report_target:g} s",
            within=flag(doc.get("report_ok")),
        ),
        Row("inserts, batched", show(doc.get("insert_rows_per_second"), "rows/s")),
        Row(
            "inserts, a commit each",
            show(doc.get("insert_commit_each_rows_per_second"), "rows/s"),
        ),
        Row("judge that week", show(doc.get("judge_seconds"), "s")),
    ]


def soak_monitor_rows(doc: Doc, floors: Floors) -> list[Row]:
    """bench/soak_monitor.py: the monitor's CPU at 1 probe/s (target
    ``monitor_cpu_target_percent``, verdict ``monitor_cpu_ok``), one engine sample, its RSS."""
    target = number(doc.get("monitor_cpu_target_percent"))
    return [
        Row(
            "soak monitor CPU at 1 probe/s",
            show(doc.get("monitor_cpu_percent_of_a_core"), "% of a core"),
            MISSING if target is None else f"< {target:g} % of a core",
            http_floor(floors),
            flag(doc.get("monitor_cpu_ok")),
        ),
        Row(
            "one engine sample (median)",
            show(doc.get("engine_sample_ms_median"), "ms"),
            floor=http_floor(floors),
        ),
        Row("soak monitor RSS", show(doc.get("monitor_rss_mib"), "MiB")),
        Row(
            "probes in the measured window",
            f"{show(doc.get('probes_in_window'), '')} in {show(doc.get('measured_seconds'), 's')}",
        ),
    ]


def perf_gate_rows(doc: Doc, floors: Floors) -> list[Row]:
    """bench/perf_gate.py (no targets): verdicts on the same code and on a planted slowdown."""
    same_runs = get(doc, "same_code", "runs")
    planted_runs = get(doc, "planted_slowdown", "runs")
    slowdown = show(get(doc, "planted_slowdown", "slowdown_percent"), "%")
    return [
        Row(
            "same code: false alarms (fail)",
            count_of(get(doc, "same_code", "false_alarms"), same_runs),
        ),
        Row(
            "same code: inconclusive",
            count_of(get(doc, "same_code", "verdicts", "inconclusive"), same_runs),
        ),
        Row(
            "same code: worst estimate",
            show(get(doc, "same_code", "worst_estimate_percent"), "%"),
        ),
        Row(
            f"planted {slowdown} slowdown: passed (missed)",
            count_of(get(doc, "planted_slowdown", "passed"), planted_runs),
        ),
        Row(
            f"planted {slowdown} slowdown: caught (fail)",
            count_of(get(doc, "planted_slowdown", "verdicts", "fail"), planted_runs),
        ),
    ]


def compare_rows(doc: Doc, floors: Floors) -> list[Row]:
    """bench/compare.py (no targets): verdict counts on the same code and on a 10 % throttle,
    and the median throughput change the throttle really cost."""
    runs = get(doc, "planted_slowdown", "runs")
    changes = [
        number(get(run, "headline", "throughput", "change"))
        for run in (runs if isinstance(runs, list) else [])
    ]
    found = [change for change in changes if change is not None]
    return [
        Row("same code: verdicts", tally(get(doc, "same_code", "verdicts"))),
        Row("throttled 10 %: verdicts", tally(get(doc, "planted_slowdown", "verdicts"))),
        Row(
            "throttled 10 %: throughput change (median)",
            show(statistics.median(found) if found else None, "%"),
        ),
    ]


def ssh_hosts_rows(doc: Doc, floors: Floors) -> list[Row]:
    """bench/ssh_hosts.py (no targets): connecting, API calls, checking hosts, sending an image."""
    return [
        Row("SSH connect + ping", show(get(doc, "connect_and_ping_seconds", "median"), "s")),
        Row("API call over SSH", show(get(doc, "api_call_seconds", "over_ssh"), "s")),
        Row(
            "API call on the local socket", show(get(doc, "api_call_seconds", "local_socket"), "s")
        ),
        Row("check two hosts", show(get(doc, "check_two_hosts_seconds", "median"), "s")),
        Row("send a release image", show(get(doc, "send_image", "mb_per_second"), "MB/s")),
    ]


def ssh_rollback_rows(doc: Doc, floors: Floors) -> list[Row]:
    """bench/ssh_rollback.py: emergency rollback on two SSH hosts and locally (medians), their
    ratio (target ``targets.ratio_of_medians``) and failed requests under load."""
    sent = [number(get(doc, "load", side, "sent")) for side in ("ssh_hosts", "local")]
    failed = [number(get(doc, "load", side, "failed")) for side in ("ssh_hosts", "local")]
    both = None not in sent and None not in failed
    return [
        Row(
            "emergency rollback on two SSH hosts → restored",
            show(get(doc, "two_ssh_hosts_restored_seconds", "median"), "s"),
            floor=reload_floor(floors),
        ),
        Row(
            "emergency rollback here → restored",
            show(get(doc, "local_restored_seconds", "median"), "s"),
            floor=reload_floor(floors),
        ),
        Row(
            "SSH hosts / here (ratio of medians)",
            show(doc.get("ratio_of_medians"), "x"),
            limit(doc, "ratio_of_medians", "x"),
            within=judged(doc, "ratio"),
            key="ratio",
        ),
        Row(
            "failed requests during the rollbacks",
            counted(sum(v or 0 for v in failed), sum(v or 0 for v in sent)) if both else MISSING,
            "0",
            within=judged(doc, "no_failed_requests"),
            key="no_failed_requests",
        ),
    ]


EXTRACTORS: dict[str, Callable[[Doc, Floors], list[Row]]] = {
    "images": images_rows,
    "deploy": deploy_rows,
    "rollback": rollback_rows,
    "soak": soak_rows,
    "soak_monitor": soak_monitor_rows,
    "perf_gate": perf_gate_rows,
    "compare": compare_rows,
    "ssh_hosts": ssh_hosts_rows,
    "ssh_rollback": ssh_rollback_rows,
}


def extract(name: str, doc: Doc, floors: Floors) -> list[Row]:
    """The rows of bench ``name``; any ``within_targets`` verdict no row took is added as a
    row of its own, so no judgement of a bench is dropped."""
    extractor = EXTRACTORS.get(name)
    try:
        rows = extractor(doc, floors) if extractor else []
    except Exception as exc:  # an odd document must not stop the report
        rows = [Row("figures", f"{MISSING} ({type(exc).__name__}: {exc})")]
    taken = {row.key for row in rows}
    for key, verdict in entries(doc.get("within_targets")):
        if key not in taken:
            rows.append(
                Row(key, "see JSON", "the bench's own check", within=flag(verdict), key=key)
            )
    return rows


# --- running the benches --------------------------------------------------------------------


def mtime_ns(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def fresh_result(path: Path, before: int | None, started: float) -> dict[str, Any] | None:
    """The JSON at ``path`` if it was written since ``started`` (wall clock), else None."""
    now = mtime_ns(path)
    if now is None or now == before or now / 1e9 < started - CLOCK_SLACK:
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def last_lines(path: Path, count: int = TAIL_LINES) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-count:]
    except OSError:
        return []


def stop(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGINT to the bench (its ``finally`` clean-up runs), then SIGKILL to what is left of
    its process group after ``grace`` seconds."""
    try:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run_bench(
    name: str,
    *,
    prefix: str = "bench",
    root: Path = ROOT,
    results: Path = RESULTS,
    timeout: float = TIMEOUT_MINUTES * 60,
    grace: float = GRACE_SECONDS,
) -> BenchRun:
    """Run ``python -m PREFIX.NAME`` from ``root`` and read ``results/NAME.json`` if it wrote it."""
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"{name}.json"
    log = results / f"{name}.log"
    before = mtime_ns(path)
    wall, started = time.time(), time.monotonic()
    timed_out = False
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", f"{prefix}.{name}"],
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: a timeout ends its children too
        )
        try:
            code: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            stop(process, grace)
            code = process.returncode
        except KeyboardInterrupt:  # the bench is in its own session: pass Ctrl-C on
            stop(process, grace)
            raise
    seconds = round(time.monotonic() - started, 1)
    result = fresh_result(path, before, wall)
    if timed_out:
        status, why = "timed out", f"timed out after {timeout / 60:g} min"
    elif code != 0:
        written = "; it wrote its JSON: its figures are in the table" if result else ""
        status, why = "failed", f"exit code {code}{written}"
    elif result is None:
        status, why = "failed", f"exit code 0 but no {path.name} written by this run"
    else:
        status, why = "ok", None
    return BenchRun(
        name,
        status,
        code,
        seconds,
        why,
        tail=[] if status == "ok" else last_lines(log),
        result=result,
    )


# --- the machine, the report, the exit code ---------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def describe_machine(engine_version: Callable[[], str] | None = None) -> dict[str, Any]:
    """Cores, CPU, memory, kernel, Docker engine, Python, and the load average right now."""
    if engine_version is None:
        from bench import floors

        engine_version = floors.engine_version
    return {
        "cpu_cores": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": memory_gib(),
        "kernel": platform.release(),
        "docker": engine_version(),
        "python": platform.python_version(),
        "load_average_at_start": load_average(),
    }


def exit_code(runs: Iterable[BenchRun]) -> int:
    """0 when every bench ran and every figure with a target is within it, else 1."""
    runs = list(runs)
    ran = all(run.ok for run in runs)
    within = all(row.within is True for run in runs for row in run.rows if row.target != NONE)
    return 0 if ran and within else 1


def cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def within_text(row: Row) -> str:
    return {True: "yes", False: "**NO**", None: NONE}[row.within]


def machine_line(machine: Mapping[str, Any]) -> str:
    load = machine.get("load_average_at_start") or []
    end = machine.get("load_average_at_end") or []
    return (
        f"Machine: {machine.get('cpu_cores')} cores, {machine.get('cpu_model')},"
        f" {machine.get('memory_gib')} GiB, kernel {machine.get('kernel')},"
        f" Docker {machine.get('docker')}, Python {machine.get('python')};"
        f" load average at start {' / '.join(f'{v:g}' for v in load)} (1/5/15 min)"
        + (f", at end {' / '.join(f'{v:g}' for v in end)}" if end else "")
    )


def render_markdown(
    machine: Mapping[str, Any], floors: Floors | None, runs: Sequence[BenchRun], generated: str
) -> str:
    """The summary: machine line, floors table, one table of every figure, failed benches."""
    lines = [f"# Benchmarks, {generated}", "", machine_line(machine), ""]
    lines += ["## Floors", ""]
    if floors is None:
        lines += ["Not measured (--no-floors).", ""]
    else:
        lines += ["| floor | median | runs | note |", "|---|---|---|---|"]
        for floor in floors.values():
            seconds = number(floor.get("seconds"))
            median = NONE if seconds is None else seconds_text(seconds)
            runs_text = ", ".join(seconds_text(s) for s in floor.get("runs") or []) or NONE
            lines.append(
                f"| {cell(floor.get('what'))} | {median} | {cell(runs_text)}"
                f" | {cell(floor.get('why') or '')} |"
            )
        lines.append("")
    lines += [
        "## Figures",
        "",
        "| bench | figure | measured | target | floor | within |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        if not run.rows:
            lines.append(
                f"| {run.name} | ({run.status}: no figures) | {NONE} | {NONE} | {NONE} | {NONE} |"
            )
        for row in run.rows:
            lines.append(
                f"| {run.name} | {cell(row.figure)} | {cell(row.measured)} | {cell(row.target)}"
                f" | {cell(row.floor)} | {within_text(row)} |"
            )
    lines += ["", "Ran: " + ", ".join(f"{r.name} {r.status} in {r.seconds:g} s" for r in runs), ""]
    failed = [run for run in runs if not run.ok]
    lines += ["## Failed benches", ""]
    if not failed:
        lines += ["None.", ""]
    for run in failed:
        lines += [f"- **{run.name}**: {run.why} after {run.seconds:g} s", ""]
        if run.tail:
            lines += ["  ```", *(f"  {line}" for line in run.tail), "  ```", ""]
    verdict = exit_code(runs)
    lines.append(
        "All benches ran and every figure with a target is within it."
        if verdict == 0
        else "**Not all benches ran, or a figure is outside its target.**"
    )
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file in the same directory, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def report(
    machine: Mapping[str, Any],
    floors: Floors | None,
    runs: Sequence[BenchRun],
    results: Path,
    argv: Sequence[str],
) -> str:
    """Write latest.json and latest.md into ``results``; return the Markdown."""
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    document = {
        "generated_at": generated,
        "argv": list(argv),
        "machine": dict(machine),
        "floors": floors,
        "benches": {
            run.name: {
                "status": run.status,
                "exit_code": run.exit_code,
                "seconds": run.seconds,
                "why": run.why,
                "output_tail": run.tail,
                "rows": [asdict(row) for row in run.rows],
                "result": run.result,
            }
            for run in runs
        },
        "exit_code": exit_code(runs),
    }
    markdown = render_markdown(machine, floors, runs, generated)
    write_atomic(results / "latest.json", json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    write_atomic(results / "latest.md", markdown)
    return markdown


def timeout_minutes(name: str, given: float | None) -> float:
    """``--timeout-minutes`` when given, else the bench's own default."""
    return given if given is not None else LONGER_TIMEOUT_MINUTES.get(name, TIMEOUT_MINUTES)


def parse_args(argv: Sequence[str] | None, benches: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run_all",
        description="Run the benchmarks and write bench/results/latest.{json,md}."
        f" Benches: {', '.join(benches)}.",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        action="extend",
        default=[],
        metavar="NAME",
        choices=benches,
        help="run just these benches",
    )
    parser.add_argument(
        "--skip",
        nargs="+",
        action="extend",
        default=[],
        metavar="NAME",
        choices=benches,
        help="run all but these",
    )
    longer = ", ".join(f"{name} {minutes:g}" for name, minutes in LONGER_TIMEOUT_MINUTES.items())
    parser.add_argument(
        "--timeout-minutes",
        type=float,
        default=None,
        help=f"for every bench (default {TIMEOUT_MINUTES:g}; {longer})",
    )
    parser.add_argument(
        "--no-floors",
        action="store_true",
        help="do not measure the floors (no containers started for them)",
    )
    return parser.parse_args(argv)


def main(
    argv: Sequence[str] | None = None,
    *,
    benches: Sequence[str] = BENCHES,
    prefix: str = "bench",
    root: Path = ROOT,
    results: Path = RESULTS,
    machine: Callable[[], dict[str, Any]] = describe_machine,
    floors: Callable[[], dict[str, Any]] | None = None,
    grace: float = GRACE_SECONDS,
) -> int:
    """Run the chosen ``benches`` (modules ``PREFIX.NAME`` under ``root``), report, exit code."""
    args = parse_args(argv, benches)
    chosen = [n for n in benches if (not args.only or n in args.only) and n not in args.skip]
    described = machine()
    measured: dict[str, Any] | None = None
    if not args.no_floors:
        if floors is None:
            from bench.floors import measure_floors

            floors = measure_floors
        print("run_all: measuring floors", file=sys.stderr, flush=True)
        measured = floors()
    runs = []
    for name in chosen:
        print(f"run_all: {name} …", file=sys.stderr, flush=True)
        run = run_bench(
            name,
            prefix=prefix,
            root=root,
            results=results,
            timeout=60 * timeout_minutes(name, args.timeout_minutes),
            grace=grace,
        )
        if run.result is not None:
            run.rows = extract(name, run.result, measured or {})
        print(f"run_all: {name}: {run.status} in {run.seconds:g} s", file=sys.stderr, flush=True)
        runs.append(run)
    described["load_average_at_end"] = load_average()
    print(report(described, measured, runs, results, sys.argv[1:] if argv is None else argv))
    return exit_code(runs)


if __name__ == "__main__":
    sys.exit(main())
