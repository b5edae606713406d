"""Run a command so that it gets a share of one CPU: the drill's slow copy of a release.

    python throttle_launcher.py 0.05 30 -- python -m app
    python throttle_launcher.py 0.9 30 0.01 -- python -m app   # 10 % slower, finely spread

The command runs as a child in a process group of its own. It starts at full speed until a
process of that group listens on a TCP port (or 30 s have passed; 0: no wait), so a health
gate sees it come up as fast as the release does. Then, in a duty cycle of 100 ms, the group
is continued (SIGCONT) for ``cpus`` of the period and stopped (SIGSTOP) for the rest (a
shorter PERIOD spreads the stops finely: every request of a few ms is slowed alike): nothing
is asked of the command. SIGTERM, SIGINT, SIGHUP and SIGQUIT are passed on to it (and the
throttle ends, so it can shut down); the exit status is the child's, 128 + N when signal N
ended it (as tini reports it). Standard library only: the drill's image runs this text with
``python -I -c`` (soakgate.core.throttle), which is why nothing here imports soakgate.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PERIOD = 0.1  # seconds of one stop/continue cycle
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)
TCP_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
LISTEN = "0A"  # the state column of a listening socket in those tables
USAGE = (
    "usage: throttle_launcher CPUS LISTEN_WAIT [PERIOD] -- COMMAND [ARG...]"
    "  (0 < CPUS <= 1, PERIOD 0.002-1 s, default 0.1)"
)


def source() -> str:
    """This program's text (for an image's ``ENTRYPOINT ["python", "-I", "-c", …]``)."""
    return Path(__file__).read_text()


def listening() -> set[str]:
    """Inodes of the listening TCP sockets of this network namespace (none off Linux)."""
    found = set()
    for name in TCP_TABLES:
        with contextlib.suppress(OSError), open(name) as table:
            for row in table.readlines()[1:]:
                fields = row.split()
                if len(fields) > 9 and fields[3] == LISTEN:
                    found.add(fields[9])
    return found


def group_sockets(group: int) -> set[str]:
    """Inodes of the sockets the processes of process group ``group`` hold open."""
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc") if os.path.isdir("/proc") else []):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[2]) != group:
                    continue
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    found.add(target[len("socket:[") : -1])
        except (OSError, ValueError, IndexError):
            continue  # gone, or not ours to read
    return found


def signal_group(group: int, number: int) -> None:
    """Send a signal to the child's process group; a group already gone is no error."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, number)


def run(cpus: float, listen_wait: float, command: list[str], period: float = PERIOD) -> int:
    """Run ``command``, throttled to ``cpus`` of one CPU once it listens (or ``listen_wait``
    seconds have passed); its exit status (shell convention)."""
    ending: list[int] = []
    child: subprocess.Popen[bytes] | None = None

    def forward(number: int, frame: object) -> None:
        ending.append(number)
        if child is not None:
            child.send_signal(number)
            signal_group(child.pid, signal.SIGCONT)

    for number in FORWARDED:
        signal.signal(number, forward)
    try:
        child = subprocess.Popen(command, start_new_session=True)
    except OSError as error:
        print(f"throttle_launcher: cannot run {command[0]}: {error}", file=sys.stderr)
        return 127 if isinstance(error, FileNotFoundError) else 126
    if ending:  # a signal came before the child was there
        child.send_signal(ending[0])
    deadline = time.monotonic() + listen_wait
    while not ending and child.poll() is None and time.monotonic() < deadline:
        if listening() & group_sockets(child.pid):
            break
        time.sleep(period)
    running = period * cpus
    while not ending and child.poll() is None:
        time.sleep(running)
        if ending:
            break
        signal_group(child.pid, signal.SIGSTOP)
        time.sleep(period - running)
        signal_group(child.pid, signal.SIGCONT)
    signal_group(child.pid, signal.SIGCONT)
    status = child.wait()
    signal_group(child.pid, signal.SIGCONT)  # leave no stopped process behind
    return 128 - status if status < 0 else status


def main(argv: list[str]) -> int:
    period = PERIOD
    try:
        cpus, listen_wait = float(argv[0]), float(argv[1])
        if argv[2:3] != ["--"] and argv[3:4] == ["--"]:
            period = float(argv.pop(2))
    except (IndexError, ValueError):
        cpus, listen_wait = 0.0, 0.0
    command = argv[3:] if argv[2:3] == ["--"] else argv[2:]
    if not 0 < cpus <= 1 or not 0 <= listen_wait <= 3600 or not 0.002 <= period <= 1 or not command:
        print(USAGE, file=sys.stderr)
        return 2
    return run(cpus, listen_wait, command, period)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
