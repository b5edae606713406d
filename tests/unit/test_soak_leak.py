"""The soak's planted leak: the Dockerfile lines built from an image's command, and the
launcher itself, run for real on this host as a leaking image runs it (``python -I -c``)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from soakgate.adapters.soak import leak_launcher
from soakgate.core.leak import LEAK_LABEL, leak_lines
from soakgate.errors import SoakgateError
from tests.unit.test_throttle import LAUNCHER, parsed


def test_the_original_cmd_is_restated_after_the_launcher() -> None:
    lines = leak_lines(LAUNCHER, None, ["python", "-m", "app"], 256)
    assert parsed(lines) == {
        "ENTRYPOINT": ["python", "-I", "-c", LAUNCHER, "256", "512", "--"],
        "CMD": ["python", "-m", "app"],
        "LABEL": f'{LEAK_LABEL}="256"',
    }


def test_entrypoint_and_cmd_run_as_one_command_under_python3() -> None:
    lines = leak_lines(LAUNCHER, ["/docker-entrypoint.sh"], ["serve"], 64, max_mib=100)
    assert parsed(lines)["ENTRYPOINT"] == ["python3", "-I", "-c", LAUNCHER, "64", "100", "--"]
    assert parsed(lines)["CMD"] == ["/docker-entrypoint.sh", "serve"]


def test_the_launcher_text_survives_its_json_line_whole() -> None:
    source = leak_launcher.source()
    (entrypoint, *_) = leak_lines(source, None, ["python", "-m", "app"], 256)
    assert json.loads(entrypoint.removeprefix("ENTRYPOINT "))[3] == source


@pytest.mark.parametrize(
    ("entrypoint", "cmd", "rate", "message"),
    [
        (None, None, 256, "no ENTRYPOINT, no CMD"),
        (None, ["python", "-m", "app"], 0, "needs a positive rate"),
    ],
)
def test_bad_leaks_are_refused(
    entrypoint: list[str] | None, cmd: list[str] | None, rate: int, message: str
) -> None:
    with pytest.raises(SoakgateError, match=message):
        leak_lines(LAUNCHER, entrypoint, cmd, rate)


# --- the launcher, for real --------------------------------------------------------------------

# The command the launcher execs: it finds the leaker (its only child), reports the child's
# resident memory every 0.5 s for 3 s, and exits 3.
WATCH = """
import json, os, sys, time
me = os.getpid()
def children():
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[1]) == me:
                    found.append(int(pid))
        except OSError:
            pass
    return found
def rss(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
(child,) = children()
seen = []
for _ in range(7):
    seen.append(rss(child))
    time.sleep(0.5)
print(json.dumps({"pid": me, "child": child, "rss_kib": seen}))
sys.exit(3)
"""


def run_launcher(*argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", "-c", leak_launcher.source(), *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_the_leaker_grows_steadily_up_to_its_cap_and_the_command_keeps_the_pid() -> None:
    started = time.monotonic()
    done = run_launcher("2048", "5", "--", sys.executable, "-c", WATCH)
    assert done.returncode == 3, done.stderr  # the command's own exit status
    report = json.loads(done.stdout)
    seen = report["rss_kib"]
    # 2 MiB at once, 2 MiB more a second later, then the 5 MiB cap stops it (4 MiB held)
    assert seen[-1] - seen[0] >= 2048 * 0.9, seen
    assert seen[-1] - seen[0] <= 4096 * 1.1, seen
    assert seen[-1] == pytest.approx(seen[-2], abs=256), seen
    assert time.monotonic() - started < 10
    # its parent gone, the leaker ends within a second or two
    deadline = time.monotonic() + 5
    while not gone(report["child"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone(report["child"])


def test_the_command_replaces_the_launcher_and_keeps_its_pid() -> None:
    """exec, not a child: in a container the service stays PID 1 and gets the signals."""
    command = [sys.executable, "-c", "import os; print(os.getpid())"]
    with subprocess.Popen(
        [sys.executable, "-I", "-c", leak_launcher.source(), "1", "1", "--", *command],
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert int(out) == process.pid


@pytest.mark.parametrize(
    "argv", [[], ["0", "5", "--", "true"], ["10", "x", "--", "true"], ["10", "5", "--"]]
)
def test_bad_arguments_print_the_usage(argv: list[str]) -> None:
    done = run_launcher(*argv)
    assert done.returncode == 2 and "usage: leak_launcher KIB_PER_SECOND" in done.stderr


def test_a_missing_command_is_exit_127() -> None:
    done = run_launcher("1", "1", "--", "/nonexistent/soakgate-command")
    assert done.returncode == 127 and "cannot run /nonexistent/soakgate-command" in done.stderr
