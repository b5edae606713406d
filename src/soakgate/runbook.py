"""The rollback runbook for when soakgate's control machine is unavailable: on the Docker host
itself, flip a stage's proxy to its warm slot. The same steps as ``playbooks/rollback.yml``.

    from soakgate.runbook import connect, flip_to_warm
    flip_to_warm(connect("ops@docker-host"), "production", "/srv/soakgate/.soakgate", port=18082)
    # {"stage": "production", "from": "green", "to": "blue", "seconds": 0.41, ...}

``c`` is anything with ``c.run(command, hide=True, warn=True, in_stream=False)`` returning a
result with ``.stdout`` and ``.ok``: a ``fabric.Connection`` for a remote host, or
``invoke.Context()`` here. :func:`connect` (and the ``fab`` task) load ``known_hosts`` and
refuse a host whose key is not in it.
Commands are argv lists; :func:`shell_line` is the one place that quotes them for the shell.
The host needs ``sh``, ``flock`` (util-linux), ``docker`` and ``python3``
(``playbooks/docker-host.yml`` sees to it).

The stage lock is the kernel ``flock`` that soakgate's own ``stage_lock`` takes on
``<state>/locks/<stage>.lock``. The runbook runs several commands, so a *keeper* holds it: a
``sleep`` started on the host with the locked descriptor, for at most ``lock_ttl`` seconds,
killed on release. The kernel frees the lock when the keeper dies, however it dies (a
dropped connection: at the ttl's end). Nothing guesses from a pid, and no lock file is ever
removed; the holder's JSON written into the file is for display only.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from soakgate.adapters.ssh.host_keys import KNOWN_HOSTS, unknown_host_key
from soakgate.adapters.stage.engine import UPSTREAM_FILE
from soakgate.adapters.stage.lock import describe_holder, parse_holder
from soakgate.core.names import LABEL_RELEASE, StageNames, digest_ref
from soakgate.core.proxy_conf import SLOT_HEADER, UpstreamTarget, parse_upstream, render_upstream
from soakgate.core.slots import SLOTS
from soakgate.errors import (
    BadRelease,
    CommandFailed,
    ConfigError,
    LockHeld,
    RollbackFailed,
    SwitchRefused,
)

LOCK_TTL = 300  # seconds a lock of a runbook whose connection died stays held
PROBE_TIMEOUT = 1.0  # seconds the warm slot gets to answer its one direct health probe
VIA = "fabric"
BAD_FILE = "bad-releases"  # one digest per line, written by soakgate from its ledger
LOCK_BUSY = 75  # the keeper's exit code when another process holds the lock (flock -E)
LOCK_LOST = 3  # the release's exit code when the keeper was gone already

# Scripts, constant: their values come in as positional parameters ("$1", sys.argv …), never
# pasted into the text. playbooks/rollback.yml runs the same texts (a unit test checks).
#
# Take the flock on fd 9 (refuse: "$@" = -n; wait: -w SECONDS) and hand fd 9 to a sleep that
# outlives this shell: it holds the lock until killed or its ttl ends. Prints "pid user host"
# of the keeper; when the lock is busy, exits 75 and prints the holder's record.
_KEEPER = """\
lock=$1 ttl=$2
shift 2
umask 077
mkdir -p "$(dirname "$lock")" || exit 1
exec 9>>"$lock" || exit 1
flock -E 75 "$@" 9 || { status=$?; [ "$status" = 75 ] && cat "$lock"; exit "$status"; }
nohup sleep "$ttl" 9>&9 </dev/null >/dev/null 2>&1 &
echo "$! $(id -un 2>/dev/null || id -u) $(uname -n)"
"""
# The holder's record, written in place (the lock is on this inode: never a rename).
_HOLD = 'printf "%s" "$2" > "$1"'
# Release: only while our keeper still holds fd 9 on this very file (device and inode), clear
# the record and stop the keeper; else touch nothing and exit 3 (the lock was lost).
_RELEASE = """\
held=$(stat -L -c %d:%i "/proc/$2/fd/9" 2>/dev/null) || exit 3
[ "$held" = "$(stat -L -c %d:%i "$1" 2>/dev/null)" ] || exit 3
: > "$1"
kill "$2"
"""
# The quarantined digests in the bad-releases files given (as JSON: digest -> file naming it),
# with a warning for each file that cannot be read or has lines that are not digests. A
# missing file names none: soakgate writes them, an older soakgate did not.
_BAD = """\
import json, re, sys
digest = re.compile(r"sha256:[0-9a-f]{64}")
bad, warnings = {}, []
for path in sys.argv[1:]:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            lines = [line.strip() for line in file.read().splitlines()]
    except FileNotFoundError:
        continue
    except OSError as exc:
        warnings.append(f"{path}: unreadable ({exc.strerror}); not checked")
        continue
    odd = [str(n) for n, line in enumerate(lines, 1) if line and not digest.fullmatch(line)]
    if odd:
        warnings.append(f"{path}: line {', '.join(odd[:5])} is not a release digest; ignored")
    for line in lines:
        if digest.fullmatch(line):
            bad.setdefault(line, path)
print(json.dumps({"bad": bad, "warnings": warnings}))
"""
_WRITE = (
    'tmp="$(dirname "$1")/.$(basename "$1").$$" && printf "%s" "$2" > "$tmp"'
    ' && chmod 644 "$tmp" && sync "$tmp" && mv -f "$tmp" "$1" && sync "$(dirname "$1")"'
)
# One write(2) of one line, O_APPEND: lines of concurrent writers never interleave. A last
# line left without its newline (a full disk) gets one first, in the same write.
_APPEND = """\
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
try:
    fcntl.flock(fd, fcntl.LOCK_EX)  # no other writer's half-copied line looks torn to this one
    size = os.fstat(fd).st_size
    torn = size > 0 and os.pread(fd, 1, size - 1) != b"\\n"
    data = (b"\\n" if torn else b"") + sys.argv[2].encode() + b"\\n"
    if os.write(fd, data) != len(data):
        sys.exit("short write to " + sys.argv[1])
finally:
    os.close(fd)
"""
# One health GET straight at the warm container: exit 0 on 200, else say what came back.
_PROBE = """\
import http.client, sys
address, port, path, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
connection = http.client.HTTPConnection(address, port, timeout=timeout)
try:
    connection.request("GET", path, headers={"Connection": "close"})
    response = connection.getresponse()
    response.read()
except (OSError, http.client.HTTPException) as exc:
    sys.exit(f"no answer from {address}:{port}{path} ({exc})")
finally:
    connection.close()
if response.status != 200:
    sys.exit(f"{address}:{port}{path} answered {response.status}")
"""
_WAIT = """\
import http.client, sys, time
port, path, header, slot = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
timeout = float(sys.argv[5])
# done once the slot alone has answered for 0.3 s: nginx's old worker accepts beside the new
# one for ~0.1 s after a reload; prints the seconds to the slot's first answer
started, seen, first, alone = time.monotonic(), "no answer", None, None
while time.monotonic() - started < timeout:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        response.read()
        seen = f"{response.status} from slot {response.getheader(header)}"
        if response.status == 200 and response.getheader(header) == slot:
            now = time.monotonic()
            first = now - started if first is None else first
            alone = now if alone is None else alone
            if now - alone >= 0.3:
                print(f"{first:.3f}")
                sys.exit(0)
        else:
            alone = None
    except OSError as exc:
        seen, alone = str(exc), None
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
    bad: tuple[str, ...]  # the stage's own list, then the state dir's (all stages)

    @classmethod
    def of(cls, state_dir: str, stage: str) -> StagePaths:
        state = state_dir.rstrip("/") or "/"
        return cls(
            upstream=f"{state}/stages/{stage}/proxy/{UPSTREAM_FILE}",
            lock=f"{state}/locks/{stage}.lock",  # = adapters.stage_lock.lock_path
            log=f"{state}/runbook.log",
            bad=(f"{state}/stages/{stage}/{BAD_FILE}", f"{state}/{BAD_FILE}"),
        )


def warm_slot(active: str) -> str:
    """The slot that is not ``active``."""
    if active not in SLOTS:
        raise ValueError(f"no slot {active!r}")
    return SLOTS[1 - SLOTS.index(active)]


def warm_target(
    inspected: dict[str, Any], names: StageNames, slot: str, port: int
) -> UpstreamTarget:
    """The upstream of the warm slot: its container *name* (the proxy re-resolves it) and the
    release its ``docker inspect`` label names."""
    labels = inspected.get("Config", {}).get("Labels") or {}
    return UpstreamTarget(slot, names.app(slot), port, str(labels.get(LABEL_RELEASE) or "unknown"))


def container_ip(inspected: dict[str, Any], network: str) -> str:
    """The container's address on ``network`` now, from ``docker inspect`` (for the direct
    probe only: it may change when the engine restarts)."""
    address = (inspected.get("NetworkSettings", {}).get("Networks") or {}).get(network, {})
    ip = address.get("IPAddress") if isinstance(address, dict) else None
    if not ip:
        raise RollbackFailed(f"the warm container {inspected.get('Name', '?')} is not on {network}")
    return str(ip)


def lock_record(keeper: str, command: str, since: datetime) -> dict[str, Any]:
    """The lock file's JSON (as ``stage_lock`` writes it) from the keeper's ``"<pid> <user>
    <host>"`` line."""
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
    return shlex.join(argv)


def read_command(path: str) -> list[str]:
    return ["cat", path]


def bad_command(paths: Sequence[str]) -> list[str]:
    return ["python3", "-c", _BAD, *paths]


def inspect_command(name: str) -> list[str]:
    return ["docker", "inspect", name]


def flock_options(wait: float) -> list[str]:
    """``flock(1)``'s options: refuse at once, or wait up to ``wait`` seconds."""
    return ["-n"] if wait <= 0 else ["-w", f"{wait:g}"]


def keeper_command(path: str, ttl: int, wait: float = 0) -> list[str]:
    return ["sh", "-c", _KEEPER, "sh", path, str(ttl), *flock_options(wait)]


def hold_command(path: str, record: str) -> list[str]:
    return ["sh", "-c", _HOLD, "sh", path, record]


def release_command(path: str, keeper_pid: int) -> list[str]:
    return ["sh", "-c", _RELEASE, "sh", path, str(keeper_pid)]


def write_command(path: str, text: str) -> list[str]:
    return ["sh", "-c", _WRITE, "sh", path, text]  # temp file + fsync + rename: atomic


def reload_command(proxy: str) -> list[str]:
    # not `docker kill -s HUP`: the engine (20.10) counts any kill as a manual stop, and then
    # never restarts the proxy when it crashes
    return ["docker", "exec", proxy, "sh", "-c", "kill -HUP 1"]


def probe_command(address: str, port: int, health_path: str, timeout: float) -> list[str]:
    return ["python3", "-c", _PROBE, address, str(port), health_path, str(timeout)]


def wait_command(port: int, health_path: str, slot: str, timeout: float) -> list[str]:
    return ["python3", "-c", _WAIT, str(port), health_path, SLOT_HEADER, slot, str(timeout)]


def append_command(path: str, line: str) -> list[str]:
    if "\n" in line:
        raise ValueError("a runbook.log entry is one line")
    return ["python3", "-c", _APPEND, path, line]


# --- running -----------------------------------------------------------------------------------
def _run(c: Context, argv: list[str], *, check: bool = True) -> Any:
    # in_stream=False: the steps read no input, and a runbook must not wait on (or steal) the
    # operator's terminal, nor fail where there is no stdin at all (CI, cron, pytest).
    result = c.run(shell_line(argv), hide=True, warn=True, in_stream=False)
    if check and not result.ok:
        raise CommandFailed(
            _result(argv, result), what=argv[0] if argv[0] != "sh" else "shell step"
        )
    return result


def _result(argv: list[str], result: Any) -> Any:
    from soakgate.adapters.process import Result

    return Result(
        tuple(argv),
        int(getattr(result, "exited", 1)),
        result.stdout,
        str(getattr(result, "stderr", "")),
    )


def take_lock(c: Context, path: str, stage: str, ttl: int, wait: float, command: str) -> int:
    """Take the stage lock (a keeper on the host holds it), write our record into it; return
    the keeper's pid. ``LockHeld`` names the holder when it stays busy for ``wait`` seconds."""
    taken = _run(c, keeper_command(path, ttl, wait), check=False)
    if getattr(taken, "exited", None) == LOCK_BUSY:
        holder = parse_holder(taken.stdout)
        pid = holder.get("pid") if holder else None
        raise LockHeld(
            f"stage {stage} is locked by {describe_holder(holder)}",
            hint="wait for it to finish (or give --lock-wait SECONDS)"
            + (f"; if it hangs, stop pid {pid} on the host" if pid else ""),
        )
    if not taken.ok:
        raise CommandFailed(_result(keeper_command(path, ttl, wait), taken), what="taking the lock")
    record = lock_record(taken.stdout, command, datetime.now(UTC))
    keeper = int(record["pid"])
    try:
        _run(c, hold_command(path, json.dumps(record)))
    except BaseException:
        release_lock(c, path, keeper, lambda message: None)
        raise
    return keeper


def release_lock(c: Context, path: str, keeper: int, warn: Callable[[str], None]) -> None:
    released = _run(c, release_command(path, keeper), check=False)
    if getattr(released, "exited", 0) == LOCK_LOST:
        warn(
            f"the lock keeper (pid {keeper}) was gone before the release: {path} may have been"
            " free for part of the run (give a larger --lock-ttl)"
        )
    elif not released.ok:
        said = str(getattr(released, "stderr", "")).strip().splitlines() or ["no answer"]
        warn(f"{path}: not released ({said[-1]}); it is free when pid {keeper} ends")


def _bad_releases(c: Context, paths: StagePaths, warn: Callable[[str], None]) -> dict[str, str]:
    """The quarantined digests soakgate left on the host, each with the file naming it. A
    missing file names none; an unreadable or malformed one is a warning, never a stop."""
    read = _run(c, bad_command(paths.bad), check=False)
    try:
        found: Any = json.loads(read.stdout) if read.ok else {}
        bad, warnings = found["bad"], found["warnings"]
        if not isinstance(bad, dict) or not isinstance(warnings, list):
            raise TypeError(type(bad).__name__)
    except (ValueError, TypeError, KeyError):
        said = str(getattr(read, "stderr", "")).strip().splitlines() or ["no answer"]
        warn(f"{', '.join(paths.bad)}: not read ({said[-1]}); bad releases not checked")
        return {}
    for warning in warnings:
        warn(str(warning))
    return {str(digest): str(path) for digest, path in bad.items()}


def _healthy_warm_target(
    c: Context,
    paths: StagePaths,
    names: StageNames,
    warm: str,
    container_port: int,
    health_path: str,
    probe_timeout: float,
    warn: Callable[[str], None],
) -> UpstreamTarget:
    """The warm slot as an upstream target, once it is running, not marked bad, and answers
    one direct health probe; else the error saying which of those it is not."""
    stage = names.stage
    inspected = _run(c, inspect_command(names.app(warm)), check=False)
    data = json.loads(inspected.stdout)[0] if inspected.ok else None
    if not data or not data.get("State", {}).get("Running"):
        raise RollbackFailed(
            f"the warm slot {warm} of {stage} ({names.app(warm)})"
            f" {'is not running' if data else 'does not exist'}: no emergency flip possible",
            hint=f"run a cold rollback from the control machine: soakgate rollback {stage}"
            " --to RELEASE",
        )
    target = warm_target(data, names, warm, container_port)
    marked = _bad_releases(c, paths, warn).get(target.digest)
    if marked:
        raise BadRelease(
            f"the warm slot {warm} of {stage} runs {digest_ref(target.digest)}, marked bad in"
            f" {marked}: no flip to it",
            hint=f"roll forward or back to a good release from the control machine:"
            f" soakgate rollback {stage} --to RELEASE",
        )
    address = container_ip(data, names.network)
    probe = _run(c, probe_command(address, container_port, health_path, probe_timeout), check=False)
    if not probe.ok:
        said = str(getattr(probe, "stderr", "")).strip().splitlines() or ["no answer"]
        raise SwitchRefused(
            f"the {warm} slot of {stage} is not healthy ({said[-1]}): nothing switched",
            hint=f"look at its logs: docker logs {names.app(warm)}",
        )
    return target


def _switch_or_put_back(
    c: Context,
    paths: StagePaths,
    names: StageNames,
    port: int,
    health_path: str,
    timeout: float,
    active: str,
    warm: str,
    upstream: str,
    before: str,
) -> None:
    """Point the proxy at ``upstream`` and wait for ``warm`` to answer through it; when it does
    not, put ``before`` back and say where traffic is."""
    stage = names.stage
    _run(c, write_command(paths.upstream, upstream))
    _run(c, reload_command(names.proxy))
    served = _run(c, wait_command(port, health_path, warm, timeout), check=False)
    if not served.ok:
        _run(c, write_command(paths.upstream, before))
        _run(c, reload_command(names.proxy))
        back = _run(c, wait_command(port, health_path, active, timeout), check=False)
        raise RollbackFailed(
            f"the {warm} slot of {stage} did not answer {health_path} through the proxy"
            f" within {timeout:g} s (last: {served.stdout.strip()}); "
            + (
                f"traffic is back on {active}"
                if back.ok
                else f"the proxy points at {active} again, which does not answer"
                f" either ({back.stdout.strip()})"
            ),
            hint=f"look at the logs: docker logs {names.app(warm)}",
        )


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
    probe_timeout: float = PROBE_TIMEOUT,
    lock_ttl: int = LOCK_TTL,
    lock_wait: float = 0.0,
    warn: Callable[[str], None] = lambda message: None,
    expect_from: str | None = None,
    expect_release: str | None = None,
) -> dict[str, Any]:
    """Switch ``stage``'s proxy to its warm slot and wait until that slot serves the health
    path through the proxy; return what was done and how long it took (also appended to
    ``<state_dir>/runbook.log``). With ``expect_from`` / ``expect_release`` (soakgate's
    fallback on a host whose Docker API does not answer), refused unless the host serves
    ``expect_from`` now and its warm slot runs ``expect_release``: it must flip as the
    stage's other hosts did.

    Under the stage lock, a compare-and-swap: refused when the upstream file changed since it
    was read (another flip), when the warm slot runs a release soakgate marked bad, or when
    the warm slot fails one direct health probe (``probe_timeout``); traffic stays where it
    was. Traffic goes back to the old slot if the warm one does not answer through the proxy
    within ``timeout`` seconds.
    """
    if lock_ttl < 2 * timeout + probe_timeout + 30:
        raise ConfigError(
            f"lock_ttl {lock_ttl} s is too short for a flip timeout of {timeout:g} s",
            hint=f"give at least {int(2 * timeout + probe_timeout + 30)} s",
        )
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
    if expect_from is not None and current.digest != expect_from:
        raise SwitchRefused(
            f"this host serves {digest_ref(current.digest)}, not {digest_ref(expect_from)} as"
            " the stage's other hosts did: nothing switched",
            hint=f"see soakgate status {stage}",
        )
    warm = warm_slot(current.slot)
    keeper = take_lock(c, paths.lock, stage, lock_ttl, lock_wait, f"fab rollback {stage}")
    try:
        again = _run(c, read_command(paths.upstream), check=False)
        if not again.ok or again.stdout != read.stdout:
            now = parse_upstream(again.stdout) if again.ok else None
            seen = f"slot {now.slot}, {digest_ref(now.digest)}" if now else "unreadable"
            raise SwitchRefused(
                f"the {stage} proxy changed meanwhile (now {seen}; expected slot"
                f" {current.slot}, {digest_ref(current.digest)}): nothing switched",
                hint="someone else flipped it: look at the stage, then decide again",
            )
        target = _healthy_warm_target(
            c, paths, names, warm, container_port, health_path, probe_timeout, warn
        )
        if expect_release is not None and target.digest != expect_release:
            raise SwitchRefused(
                f"the warm slot {warm} of {stage} here runs {digest_ref(target.digest)}, not"
                f" {digest_ref(expect_release)}: nothing switched",
                hint=f"see soakgate status {stage}",
            )
        flipped = time.monotonic()
        _switch_or_put_back(
            c,
            paths,
            names,
            port,
            health_path,
            timeout,
            current.slot,
            warm,
            render_upstream(target),
            read.stdout,
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
        release_lock(c, paths.lock, keeper, warn)
    return result


# --- SSH ----------------------------------------------------------------------------------------
def trust_known_hosts(connection: Any, files: Sequence[str] = KNOWN_HOSTS) -> Any:
    """Make a ``fabric.Connection`` (not yet opened) check host keys: load the known_hosts
    ``files`` that exist, refuse a key none of them has (:class:`UnknownHostKey`, with its
    fingerprint), and let paramiko refuse a key that differs from the known one."""
    import soakgate

    soakgate.allow_ssh()
    from paramiko import RejectPolicy

    class RejectUnknown(RejectPolicy):  # type: ignore[misc]  # paramiko: untyped
        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            raise unknown_host_key(hostname, key.get_name(), key.asbytes(), files)

    for name in files:
        path = os.path.expanduser(name)
        if not os.path.isfile(path):
            continue
        try:
            connection.client.load_system_host_keys(path)
        except OSError as exc:
            raise ConfigError(f"{path}: unreadable ({exc.strerror or exc})") from None
    connection.client.set_missing_host_key_policy(RejectUnknown())
    return connection


def connect(host: str, *, known_hosts: Sequence[str] = KNOWN_HOSTS, **options: Any) -> Any:
    """A ``fabric.Connection`` to ``host`` (``user@host:port``; ``options`` as Fabric takes
    them, e.g. ``connect_kwargs={"key_filename": "…"}``), opened lazily by Fabric, that only
    talks to hosts whose key is in ``known_hosts``."""
    import soakgate

    soakgate.allow_ssh()  # soakgate switches paramiko off unless asked
    from fabric import Connection

    return trust_known_hosts(Connection(host, **options), known_hosts)
