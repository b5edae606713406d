"""The drill's throttle: the Dockerfile lines built from an image's command, and the launcher
itself, run for real on this host as the drill's image runs it (``python -c <its text>``)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from soakgate.adapters.docker import throttle_launcher
from soakgate.core.throttle import DRILL_LABEL, throttle_lines
from soakgate.errors import SoakgateError

LAUNCHER = "print('launcher')"


def parsed(lines: list[str]) -> dict[str, object]:
    """{instruction: its JSON argument} of the lines (LABEL kept as text)."""
    found: dict[str, object] = {}
    for line in lines:
        instruction, _, rest = line.partition(" ")
        found[instruction] = rest if instruction == "LABEL" else json.loads(rest)
    return found


def test_the_original_cmd_is_restated_after_the_launcher() -> None:
    lines = throttle_lines(LAUNCHER, None, ["python", "-m", "app"], 0.05)
    assert parsed(lines) == {
        "ENTRYPOINT": ["python", "-I", "-c", LAUNCHER, "0.05", "30", "--"],
        "CMD": ["python", "-m", "app"],
        "LABEL": 'soakgate.drill="true"',
    }
    assert lines[-1] == DRILL_LABEL


def test_an_entrypoint_alone_becomes_the_cmd() -> None:
    python = "/usr/local/bin/python3.14"
    lines = throttle_lines(LAUNCHER, [python, "-m", "app"], [], 0.2, listen_wait=5)
    assert parsed(lines)["ENTRYPOINT"] == [python, "-I", "-c", LAUNCHER, "0.2", "5", "--"]
    assert parsed(lines)["CMD"] == ["/usr/local/bin/python3.14", "-m", "app"]


def test_entrypoint_and_cmd_run_as_one_command_under_python3() -> None:
    lines = throttle_lines(LAUNCHER, ["/docker-entrypoint.sh"], ["serve", "--port", "80"], 0.01)
    assert parsed(lines)["ENTRYPOINT"] == ["python3", "-I", "-c", LAUNCHER, "0.01", "30", "--"]
    assert parsed(lines)["CMD"] == ["/docker-entrypoint.sh", "serve", "--port", "80"]


def test_a_period_is_passed_only_when_asked_for() -> None:
    lines = throttle_lines(LAUNCHER, None, ["python", "-m", "app"], 0.9, period=0.01)
    launch = ["python", "-I", "-c", LAUNCHER, "0.9", "30", "0.01", "--"]
    assert parsed(lines)["ENTRYPOINT"] == launch


def test_the_launcher_text_survives_its_json_line_whole() -> None:
    source = throttle_launcher.source()
    (entrypoint, *_) = throttle_lines(source, None, ["python", "-m", "app"], 0.05)
    assert "\n" not in entrypoint
    assert json.loads(entrypoint.removeprefix("ENTRYPOINT "))[3] == source


def test_an_image_without_a_command_cannot_be_drilled() -> None:
    with pytest.raises(SoakgateError, match="no ENTRYPOINT, no CMD"):
        throttle_lines(LAUNCHER, None, None, 0.05)


# --- the launcher, for real --------------------------------------------------------------------


def launcher(cpus: float, *command: str, listen_wait: float = 0) -> list[str]:
    """The argv the drill's image runs: the launcher's text through ``python -I -c``."""
    source = throttle_launcher.source()
    return [sys.executable, "-I", "-c", source, str(cpus), str(listen_wait), "--", *command]


BUSY = (
    "import time\n"
    "end = time.monotonic() + 2.0\n"
    "while time.monotonic() < end: pass\n"
    "print(time.process_time())\n"
)


def test_a_busy_child_gets_its_share_of_one_cpu() -> None:
    started = time.monotonic()
    done = subprocess.run(
        launcher(0.1, sys.executable, "-c", BUSY), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    cpu = float(done.stdout)
    assert 0 < cpu < 0.5  # ~0.2 s of CPU in 2 s: unthrottled it would spin for all of them
    assert time.monotonic() - started < 10


def test_a_short_period_slows_a_busy_child_by_its_share() -> None:
    source = throttle_launcher.source()
    argv = [sys.executable, "-I", "-c", source, "0.5", "0", "0.01", "--", sys.executable, "-c"]
    done = subprocess.run([*argv, BUSY], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert 0.5 < float(done.stdout) < 1.5  # half of 2 s, in 10 ms cycles


STARTS_THEN_LISTENS = (
    "import socket, time\n"
    "started = time.monotonic()\n"
    "while time.process_time() < 0.4: pass\n"
    "print(time.monotonic() - started)\n"
    "server = socket.create_server(('127.0.0.1', 0))\n"
    "listened = time.process_time()\n"
    "end = time.monotonic() + 2.0\n"
    "while time.monotonic() < end: pass\n"
    "print(time.process_time() - listened)\n"
)


def test_the_start_runs_at_full_speed_until_the_child_listens() -> None:
    done = subprocess.run(
        launcher(0.1, sys.executable, "-c", STARTS_THEN_LISTENS, listen_wait=20),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    start_wall, serving_cpu = map(float, done.stdout.split())
    assert start_wall < 2.5  # 0.4 s of CPU: throttled to 0.1 it would take 4 s
    assert serving_cpu < 0.5  # then ~0.2 s of CPU in 2 s


def test_a_child_that_never_listens_is_throttled_after_the_wait() -> None:
    done = subprocess.run(
        launcher(0.1, sys.executable, "-c", BUSY, listen_wait=0.5),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) < 1.0  # ~0.5 s at full speed, then ~0.15 s in 1.5 s


HANDLES_TERM = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda n, f: (print('term', flush=True), sys.exit(3)))\n"
    "print('ready', flush=True)\n"
    "time.sleep(30)\n"
)


def test_sigterm_is_passed_on_and_the_childs_status_comes_back() -> None:
    with subprocess.Popen(
        launcher(0.05, sys.executable, "-c", HANDLES_TERM), stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"  # the child runs (throttled)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=10)
        rest = process.stdout.read()
    assert (status, rest) == (3, "term\n")
    assert time.monotonic() - started < 2  # the child was continued to shut down


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("raise SystemExit(7)", 7),
        ("pass", 0),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", 128 + signal.SIGKILL),
    ],
)
def test_the_exit_status_is_the_childs(code: str, status: int) -> None:
    done = subprocess.run(launcher(0.5, sys.executable, "-c", code), timeout=30)
    assert done.returncode == status


def test_a_command_that_is_not_there_exits_127() -> None:
    done = subprocess.run(
        launcher(0.5, "/nonexistent/serve"), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 127 and "cannot run /nonexistent/serve" in done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["0.1", "0"],
        ["0", "0", "--", "true"],
        ["2", "0", "--", "true"],
        ["x", "0", "--", "true"],
        ["0.1", "-1", "--", "true"],
        ["0.1", "--", "true"],
        ["0.1", "0", "0.0001", "--", "true"],
        ["0.1", "0", "soon", "--", "true"],
    ],
)
def test_a_wrong_call_says_how_to_call_it(argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-I", "-c", throttle_launcher.source(), *argv],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "usage: throttle_launcher CPUS" in done.stderr
