"""The rollback runbook for when soakgate's control machine is unavailable: on the Docker host
itself, flip a stage's proxy to its warm slot. The same steps as ``playbooks/rollback.yml``.

    from soakgate.runbook import connect, flip_to_warm
    flip_to_warm(connect("ops@docker-host"), "production", "/srv/soakgate/.soakgate", port=18082)
    # {"stage": "production", "from": "green", "to": "blue", "seconds": 0.41, ...}

``c`` is anything with ``c.run(command, hide=True, warn=True, in_stream=False)`` returning a
result with ``.stdout`` and ``.ok``: a ``fabric.Connection`` for a remote host, or
``invoke.Context()`` here.
Commands are argv lists; :func:`shell_line` is the one place that quotes them for the shell.
The host needs ``sh``, ``docker`` and ``python3`` (``playbooks/prepare-host.yml`` sees to it).

The stage lock is the file soakgate's own lock uses. Its ``pid`` is a *keeper* process the
runbook starts on the host (``sleep``, at most ``lock_ttl`` seconds) and kills on release, so
soakgate sees a live holder while the runbook works, and a stale lock it may recover when the
runbook's connection died mid-way.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from soakgate.adapters.stage_engine import LABEL_RELEASE, SLOT_HEADER, UPSTREAM_FILE
from soakgate.adapters.stage_lock import describe_holder, parse_holder
from soakgate.core.names import StageNames
from soakgate.core.proxy_conf import UpstreamTarget, parse_upstream, render_upstream
from soakgate.core.slots import SLOTS
from soakgate.errors import CommandFailed, LockHeld, RollbackFailed

LOCK_TTL = 300  # seconds a lock of a runbook whose connection died stays live
VIA = "fabric"

# Shell scripts, constant: their values come in as positional parameters ("$1" …), never
# pasted into the text.
_KEEPER = 'nohup sleep "$1" </dev/null >/dev/null 2>&1 & echo "$! $(id -un) $(hostname)"'
_TAKE = 'mkdir -p "$(dirname "$1")" && set -C && printf "%s" "$2" > "$1"'
_RELEASE = '[ "$(cat "$1" 2>/dev/null)" = "$2" ] && rm -f "$1"; kill "$3" 2>/dev/null; true'
_WRITE = (
    'tmp="$(dirname "$1")/.$(basename "$1").$$" && printf "%s" "$2" > "$tmp"'
    ' && chmod 644 "$tmp" && mv -f "$tmp" "$1"'
)
_APPEND = 'printf "%s\\n" "$2" >> "$1"'
_WAIT = """\
import http.client, sys, time
port, path, header, slot = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
timeout = float(sys.argv[5])
started, seen = time.monotonic(), "no answer"
while time.monotonic() - started < timeout:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        response.read()
        seen = f"{response.status} from slot {response.getheader(header)}"
        if response.status == 200 and response.getheader(header) == slot:
            print(f"{time.monotonic() - started:.3f}")
            sys.exit(0)
    except OSError as exc:
        seen = str(exc)
    finally:
        connection.close()
    time.sleep(0.02)
print(seen)
sys.exit(1)
"""


class Context(Protocol):
    """What the runbook needs of Fabric's ``Connection`` or Invoke's ``Context``."""

    def run(self, command: str, **kwargs: Any) -> Any: ...


# --- pure parts ------------------------------------------------------------------------------
@dataclass(frozen=True)
class StagePaths:
    """Where a stage's files are under the state dir on the host (as soakgate lays them out)."""

    upstream: str
    lock: str
    log: str

    @classmethod
    def of(cls, state_dir: str, stage: str) -> StagePaths:
        state = state_dir.rstrip("/") or "/"
        return cls(
            upstream=f"{state}/stages/{stage}/proxy/{UPSTREAM_FILE}",
            lock=f"{state}/locks/{stage}.lock",  # = adapters.stage_lock.lock_path
            log=f"{state}/runbook.log",
        )


def warm_slot(active: str) -> str:
    """The slot that is not ``active``."""
    if active not in SLOTS:
        raise ValueError(f"no slot {active!r}")
    return SLOTS[1 - SLOTS.index(active)]


def warm_target(inspected: dict[str, Any], slot: str, network: str, port: int) -> UpstreamTarget:
    """Where the warm slot's container answers, from its ``docker inspect`` data."""
    labels = inspected.get("Config", {}).get("Labels") or {}
    address = (inspected.get("NetworkSettings", {}).get("Networks") or {}).get(network, {})
    ip = address.get("IPAddress") if isinstance(address, dict) else None
    if not ip:
        raise RollbackFailed(f"the warm container {inspected.get('Name', '?')} is not on {network}")
    return UpstreamTarget(slot, str(ip), port, str(labels.get(LABEL_RELEASE) or "unknown"))


def lock_record(keeper: str, command: str, since: datetime) -> dict[str, Any]:
    """The lock file's JSON from the keeper's ``"<pid> <user> <host>"`` line."""
    pid, user, host = keeper.split()
    return {
        "pid": int(pid),
        "user": user,
        "host": host,
        "command": command,
        "since": since.isoformat(timespec="seconds"),
    }


# --- commands: argv lists ---------------------------------------------------------------------
def shell_line(argv: Sequence[str]) -> str:
    """The one place an argv list becomes a shell command line."""
    return " ".join(shlex.quote(arg) for arg in argv)


def read_command(path: str) -> list[str]:
    return ["cat", path]


def inspect_command(name: str) -> list[str]:
    return ["docker", "inspect", name]


def alive_command(pid: int) -> list[str]:
    return ["test", "-d", f"/proc/{pid}"]  # also true for a pid of another user


def remove_command(path: str) -> list[str]:
    return ["rm", "-f", path]


def keeper_command(ttl: int) -> list[str]:
    return ["sh", "-c", _KEEPER, "sh", str(ttl)]


def kill_command(pid: int) -> list[str]:
    return ["kill", str(pid)]


def take_lock_command(path: str, record: str) -> list[str]:
    return ["sh", "-c", _TAKE, "sh", path, record]  # noclobber: O_EXCL, as stage_lock


def release_lock_command(path: str, record: str, keeper_pid: int) -> list[str]:
    return ["sh", "-c", _RELEASE, "sh", path, record, str(keeper_pid)]


def write_command(path: str, text: str) -> list[str]:
    return ["sh", "-c", _WRITE, "sh", path, text]  # temp file + rename: atomic


def reload_command(proxy: str) -> list[str]:
    return ["docker", "kill", "-s", "HUP", proxy]


def wait_command(port: int, health_path: str, slot: str, timeout: float) -> list[str]:
    return ["python3", "-c", _WAIT, str(port), health_path, SLOT_HEADER, slot, str(timeout)]


def append_command(path: str, line: str) -> list[str]:
    return ["sh", "-c", _APPEND, "sh", path, line]


# --- running -----------------------------------------------------------------------------------
def _run(c: Context, argv: list[str], *, check: bool = True) -> Any:
    # in_stream=False: the steps read no input, and a runbook must not wait on (or steal) the
    # operator's terminal, nor fail where there is no stdin at all (CI, cron, pytest).
    result = c.run(shell_line(argv), hide=True, warn=True, in_stream=False)
    if check and not result.ok:
        from soakgate.adapters.process import Result

        raise CommandFailed(
            Result(
                tuple(argv),
                int(getattr(result, "exited", 1)),
                result.stdout,
                str(getattr(result, "stderr", "")),
            ),
            what=argv[0] if argv[0] != "sh" else "shell step",
        )
    return result


def _take_lock(
    c: Context, path: str, stage: str, ttl: int, command: str, warn: Callable[[str], None]
) -> tuple[str, int]:
    """Take the stage lock as soakgate does; return the record written and the keeper's pid."""
    found = _run(c, read_command(path), check=False)
    if found.ok:
        holder = parse_holder(found.stdout)
        pid = holder.get("pid") if holder else None
        if isinstance(pid, int) and _run(c, alive_command(pid), check=False).ok:
            raise LockHeld(
                f"stage {stage} locked by {describe_holder(holder)}",
                hint=f"wait for it to finish, or stop pid {pid} on the host if it hangs",
            )
        warn(f"stage {stage}: recovering a stale lock left by {describe_holder(holder)}")
        _run(c, remove_command(path))
    record = lock_record(_run(c, keeper_command(ttl)).stdout, command, datetime.now(UTC))
    text = json.dumps(record)
    if not _run(c, take_lock_command(path, text), check=False).ok:
        _run(c, kill_command(int(record["pid"])), check=False)
        holder = parse_holder(_run(c, read_command(path), check=False).stdout)
        raise LockHeld(
            f"stage {stage} was locked meanwhile by {describe_holder(holder)}",
            hint="wait for it to finish, then run the runbook again",
        )
    return text, int(record["pid"])


def flip_to_warm(
    c: Context,
    stage: str,
    state_dir: str,
    *,
    namespace: str = "",
    port: int,
    health_path: str = "/health",
    container_port: int = 8000,
    timeout: float = 10.0,
    lock_ttl: int = LOCK_TTL,
    warn: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Switch ``stage``'s proxy to its warm slot and wait until that slot serves the health
    path through the proxy; return what was done and how long it took (also appended to
    ``<state_dir>/runbook.log``). Traffic goes back to the old slot if the warm one does not
    answer within ``timeout`` seconds.
    """
    started = time.monotonic()
    paths = StagePaths.of(state_dir, stage)
    names = StageNames(stage, namespace)
    read = _run(c, read_command(paths.upstream), check=False)
    current = parse_upstream(read.stdout) if read.ok else None
    if current is None or current.slot not in SLOTS:
        raise RollbackFailed(
            f"{paths.upstream} is missing or routes to no slot: stage {stage} is not deployed"
            " on this host",
            hint="check --stage and --state-dir",
        )
    warm = warm_slot(current.slot)
    inspected = _run(c, inspect_command(names.app(warm)), check=False)
    data = json.loads(inspected.stdout)[0] if inspected.ok else None
    if not data or not data.get("State", {}).get("Running"):
        raise RollbackFailed(
            f"the warm slot {warm} of {stage} ({names.app(warm)})"
            f" {'is not running' if data else 'does not exist'}: no emergency flip possible",
            hint=f"run a cold rollback from the control machine: soakgate rollback {stage}"
            " --to RELEASE",
        )
    target = warm_target(data, warm, names.network, container_port)
    record, keeper = _take_lock(c, paths.lock, stage, lock_ttl, f"fab rollback {stage}", warn)
    try:
        flipped = time.monotonic()
        _run(c, write_command(paths.upstream, render_upstream(target)))
        _run(c, reload_command(names.proxy))
        served = _run(c, wait_command(port, health_path, warm, timeout), check=False)
        if not served.ok:
            _run(c, write_command(paths.upstream, read.stdout))
            _run(c, reload_command(names.proxy))
            back = _run(c, wait_command(port, health_path, current.slot, timeout), check=False)
            raise RollbackFailed(
                f"the {warm} slot of {stage} did not answer {health_path} through the proxy"
                f" within {timeout:g} s (last: {served.stdout.strip()}); "
                + (
                    f"traffic is back on {current.slot}"
                    if back.ok
                    else f"the proxy points at {current.slot} again, which does not answer"
                    f" either ({back.stdout.strip()})"
                ),
                hint=f"look at the logs: docker logs {names.app(warm)}",
            )
        done = time.monotonic()
        result: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "stage": stage,
            "from": current.slot,
            "to": warm,
            "from_release": current.digest,
            "to_release": target.digest,
            "seconds": round(done - started, 3),
            "flip_seconds": round(done - flipped, 3),
            "via": VIA,
        }
        _run(c, append_command(paths.log, json.dumps(result)))
    finally:
        _run(c, release_lock_command(paths.lock, record, keeper), check=False)
    return result


def connect(host: str, **options: Any) -> Any:
    """A ``fabric.Connection`` to ``host`` (``user@host:port``; ``options`` as Fabric takes
    them, e.g. ``connect_kwargs={"key_filename": "…"}``), opened lazily by Fabric."""
    import soakgate

    soakgate.allow_ssh()  # soakgate switches paramiko off unless asked
    from fabric import Connection

    return Connection(host, **options)
