"""The runbook's parts: its commands are argv lists quoted in one place; its scripts do what
they say, run for real (the flock keeper excludes soakgate's ``stage_lock`` and the other way
round, a killed keeper frees the lock, appends are whole lines, bad-releases files are read
tolerantly); it follows the rollback steps in order with a fake host and refuses what it must
under the lock; it writes the same upstream file, lock file and names as soakgate and as
``playbooks/rollback.yml``; its SSH connections refuse unknown host keys (a real paramiko
server on loopback)."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shlex
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from soakgate import runbook
from soakgate.adapters.ssh.host_keys import fingerprint, unknown_host_key
from soakgate.adapters.stage.lock import lock_path, read_holder, stage_lock
from soakgate.core import proxy_conf
from soakgate.core.names import StageNames
from soakgate.core.proxy_conf import UpstreamTarget, parse_upstream, render_upstream
from soakgate.errors import (
    BadRelease,
    CommandFailed,
    ConfigError,
    LockHeld,
    RollbackFailed,
    SwitchRefused,
    UnknownHostKey,
)
from soakgate.runbook import (
    LOCK_BUSY,
    LOCK_LOST,
    StagePaths,
    append_command,
    bad_command,
    container_ip,
    describe_holder,
    flip_to_warm,
    hold_command,
    keeper_command,
    lock_record,
    parse_holder,
    probe_command,
    release_command,
    reload_command,
    shell_line,
    wait_command,
    warm_slot,
    warm_target,
    write_command,
)

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "rollback.yml"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def sh(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a command line as Fabric or Invoke would: through a shell."""
    return subprocess.run(
        ["sh", "-c", shell_line(argv)], capture_output=True, text=True, check=False
    )


# --- commands ---------------------------------------------------------------------------------
def test_commands_are_argv_lists() -> None:
    assert reload_command("t1-proxy-staging") == [
        "docker",
        "exec",
        "t1-proxy-staging",
        "sh",
        "-c",
        "kill -HUP 1",
    ]
    assert wait_command(18081, "/health", "blue", 10)[-4:] == [
        "/health",
        "x-soakgate-slot",
        "blue",
        "10",
    ]
    assert keeper_command("/s/locks/dev.lock", 300)[-3:] == ["/s/locks/dev.lock", "300", "-n"]
    assert keeper_command("/s/locks/dev.lock", 300, 2.5)[-4:] == [
        "/s/locks/dev.lock",
        "300",
        "-w",
        "2.5",
    ]
    assert release_command("/s/locks/dev.lock", 42)[-2:] == ["/s/locks/dev.lock", "42"]
    assert probe_command("172.18.0.3", 8000, "/health", 1.0)[-4:] == [
        "172.18.0.3",
        "8000",
        "/health",
        "1.0",
    ]
    assert bad_command(("/a", "/b"))[-2:] == ["/a", "/b"]
    with pytest.raises(ValueError, match="one line"):
        append_command("/s/runbook.log", '{"a": 1}\n{"b": 2}')


def test_shell_line_quotes_every_argument() -> None:
    argv = ["cat", "/srv/a dir/$HOME;rm -rf /", "it's"]
    assert shlex.split(shell_line(argv)) == argv


def test_write_is_atomic_and_exact(tmp_path: Path) -> None:
    path = tmp_path / "proxy dir" / "upstream.conf"
    path.parent.mkdir()
    path.write_text("old\n")
    text = render_upstream(UpstreamTarget("blue", "app-staging-blue", 8000, DIGEST_A)) + "$x `y`\n"
    assert sh(write_command(str(path), text)).returncode == 0
    assert path.read_text() == text
    assert path.stat().st_mode & 0o777 == 0o644  # the proxy reads it as www-data
    assert os.listdir(path.parent) == ["upstream.conf"]  # no temp file left


# --- the lock, for real: flock(1) and a keeper against soakgate's stage_lock ------------------
def take(path: Path, ttl: int = 60, wait: float = 0) -> subprocess.CompletedProcess[str]:
    return sh(keeper_command(str(path), ttl, wait))


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not: it holds no descriptor any more)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def keepers() -> Iterator[list[int]]:
    """Keeper pids a test started; stopped afterwards if still running."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if alive(pid):
            os.kill(pid, 15)


def test_the_keeper_holds_the_kernel_lock_that_stage_lock_takes(
    tmp_path: Path, keepers: list[int]
) -> None:
    path = lock_path(tmp_path, "staging")
    taken = take(path)
    assert taken.returncode == 0, taken.stderr
    pid, user, host = taken.stdout.split()
    keepers.append(int(pid))
    assert alive(int(pid)) and (user, host) == (os.environ.get("USER", user), socket.gethostname())
    assert path.parent.stat().st_mode & 0o777 == 0o700 and path.stat().st_mode & 0o777 == 0o600
    record = lock_record(taken.stdout, "fab rollback staging", datetime.now(UTC))
    assert sh(hold_command(str(path), json.dumps(record))).returncode == 0
    assert read_holder(path) == record

    # soakgate refuses, naming the runbook; a second runbook is refused with the record
    refused = rf"locked by .* pid {pid} \(fab rollback staging\)"
    with pytest.raises(LockHeld, match=refused), stage_lock(tmp_path, "staging", "x", wait=0):
        pass
    again = take(path)
    assert again.returncode == LOCK_BUSY and parse_holder(again.stdout) == record

    # released: the record cleared, the keeper stopped, the lock free for soakgate
    assert sh(release_command(str(path), int(pid))).returncode == 0
    with stage_lock(tmp_path, "staging", "soakgate deploy", wait=5) as held:
        assert held["command"] == "soakgate deploy"
    assert not alive(int(pid))
    assert path.exists()  # never removed


def test_a_stage_lock_holder_refuses_the_keeper_and_a_wait_gets_it_after(tmp_path: Path) -> None:
    path = lock_path(tmp_path, "dev")
    with stage_lock(tmp_path, "dev", "soakgate deploy dev", wait=0) as record:
        refused = take(path)
        assert refused.returncode == LOCK_BUSY
        assert parse_holder(refused.stdout) == record  # the holder, read from the file
        waited = take(path, wait=0.2)  # flock -w: refused too when the wait runs out
        assert waited.returncode == LOCK_BUSY
    got = take(path, wait=5)
    assert got.returncode == 0
    pid = int(got.stdout.split()[0])
    assert sh(release_command(str(path), pid)).returncode == 0


def test_a_killed_keeper_frees_the_lock(tmp_path: Path, keepers: list[int]) -> None:
    path = lock_path(tmp_path, "dev")
    taken = take(path)
    pid = int(taken.stdout.split()[0])
    keepers.append(pid)
    os.kill(pid, 9)  # a dropped connection at the ttl's end, or anyone's kill
    with stage_lock(tmp_path, "dev", "soakgate deploy", wait=5):
        # the lock is not the keeper's any more: its release touches nothing and says so
        before = path.read_text()
        assert sh(release_command(str(path), pid)).returncode == LOCK_LOST
        assert path.read_text() == before


def test_release_stops_only_a_keeper_of_this_lock(tmp_path: Path, keepers: list[int]) -> None:
    """No pid guessing: a process that does not hold this very file is not ours to kill."""
    other = subprocess.Popen(["sleep", "60"])
    try:
        path = lock_path(tmp_path, "dev")
        taken = take(path)
        keepers.append(int(taken.stdout.split()[0]))
        assert sh(release_command(str(path), other.pid)).returncode == LOCK_LOST
        assert other.poll() is None
        assert take(path).returncode == LOCK_BUSY  # still held by its keeper
    finally:
        other.kill()
        other.wait()


# --- the other scripts, for real --------------------------------------------------------------
def test_append_adds_whole_lines_in_one_write(tmp_path: Path) -> None:
    path = tmp_path / "runbook.log"
    for n in (1, 2):
        assert sh(append_command(str(path), json.dumps({"n": n}))).returncode == 0
    assert path.read_text() == '{"n": 1}\n{"n": 2}\n'
    assert path.stat().st_mode & 0o777 == 0o600

    path.write_text('{"n": 1}\n{"torn')  # a line cut short (a full disk)
    assert sh(append_command(str(path), '{"n": 3}')).returncode == 0
    assert path.read_text().splitlines() == ['{"n": 1}', '{"torn', '{"n": 3}']

    # concurrent writers: every line whole
    path.unlink()
    line = json.dumps({"pad": "x" * 3000})
    writers = [
        subprocess.Popen(["sh", "-c", shell_line(append_command(str(path), line))])
        for _ in range(12)
    ]
    assert [writer.wait() for writer in writers] == [0] * 12
    assert path.read_text().splitlines() == [line] * 12


def bad_read(*paths: Path) -> dict[str, Any]:
    result = sh(bad_command([str(path) for path in paths]))
    assert result.returncode == 0, result.stderr
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def test_bad_releases_files_are_read_tolerantly(tmp_path: Path) -> None:
    stage_file, state_file = tmp_path / "stage-bad", tmp_path / "state-bad"
    assert bad_read(stage_file, state_file) == {"bad": {}, "warnings": []}  # none written yet

    stage_file.write_text(f"{DIGEST_A}\n\n")
    state_file.write_text(f"  {DIGEST_B}  \n{DIGEST_A}\nnot a digest\n{DIGEST_A[:-1]}\n")
    found = bad_read(stage_file, state_file)
    assert found["bad"] == {DIGEST_A: str(stage_file), DIGEST_B: str(state_file)}
    assert found["warnings"] == [f"{state_file}: line 3, 4 is not a release digest; ignored"]

    stage_file.write_bytes(b"\xff\xfe\x00garbage\n" + DIGEST_B.encode() + b"\n")
    found = bad_read(stage_file, tmp_path)  # binary junk; a directory where a file should be
    assert found["bad"] == {DIGEST_B: str(stage_file)}
    assert found["warnings"][0] == f"{stage_file}: line 1 is not a release digest; ignored"
    assert found["warnings"][1].startswith(f"{tmp_path}: unreadable (")


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_probe_passes_only_a_200(health_server: http.server.HTTPServer) -> None:
    port = health_server.server_address[1]
    assert sh(probe_command("127.0.0.1", port, "/health", 1.0)).returncode == 0
    missing = sh(probe_command("127.0.0.1", port, "/nope", 1.0))
    assert missing.returncode != 0 and missing.stderr.strip().endswith("/nope answered 404")
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = unused.getsockname()[1]
    refused = sh(probe_command("127.0.0.1", closed, "/health", 1.0))
    assert refused.returncode != 0 and "no answer from 127.0.0.1" in refused.stderr


# --- pure decisions ---------------------------------------------------------------------------
def test_warm_slot_is_the_other_one() -> None:
    assert (warm_slot("blue"), warm_slot("green")) == ("green", "blue")
    with pytest.raises(ValueError):
        warm_slot("none")


def test_the_warm_target_is_the_container_name_its_probe_the_address() -> None:
    data = inspected(DIGEST_A, "t1-soakgate-staging", "172.18.0.3")
    names = StageNames("staging", "t1")
    assert warm_target(data, names, "blue", 8000) == UpstreamTarget(
        "blue", "t1-app-staging-blue", 8000, DIGEST_A
    )
    assert container_ip(data, "t1-soakgate-staging") == "172.18.0.3"
    with pytest.raises(RollbackFailed, match="not on other-net"):
        container_ip(data, "other-net")


def test_lock_record_is_what_stage_lock_reads(tmp_path: Path) -> None:
    record = lock_record(
        "4242 ops host-1\n", "fab rollback staging", datetime(2026, 1, 2, tzinfo=UTC)
    )
    path = lock_path(tmp_path, "staging")
    path.parent.mkdir()
    path.write_text(json.dumps(record))
    assert read_holder(path) == record
    assert describe_holder(record) == (
        "ops@host-1 pid 4242 (fab rollback staging) since 2026-01-02T00:00:00+00:00"
    )
    assert parse_holder("not json") is None


def test_paths_are_soakgates() -> None:
    paths = StagePaths.of("/srv/sg/.soakgate/", "production")
    state = Path("/srv/sg/.soakgate")
    assert paths.lock == str(lock_path(state, "production"))
    assert paths.upstream == str(state / "stages" / "production" / "proxy" / "upstream.conf")
    assert paths.log == str(state / "runbook.log")
    assert paths.bad == (
        str(state / "stages" / "production" / "bad-releases"),
        str(state / "bad-releases"),
    )


# --- parity with playbooks/rollback.yml ---------------------------------------------------------
def playbook_vars() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    play = yaml.safe_load(PLAYBOOK.read_text())[0]
    return play["vars"], play["tasks"]


def find_task(tasks: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for task in tasks:
        if task.get("name") == name:
            return task
        for section in ("block", "rescue", "always"):
            if section in task:
                try:
                    return find_task(task[section], name)
                except AssertionError:
                    pass
    raise AssertionError(f"no task {name!r} in {PLAYBOOK}")


def render(template: str, values: dict[str, Any]) -> str:
    """Render like Ansible: variables may refer to other variables."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    scope = dict(values)
    text = template
    for _ in range(5):
        text = env.from_string(text).render(**scope)
        scope = {
            key: env.from_string(value).render(**scope) if isinstance(value, str) else value
            for key, value in scope.items()
        }
    return text


def test_playbook_writes_the_upstream_file_soakgate_writes() -> None:
    _, tasks = playbook_vars()
    content = find_task(
        tasks, "Write upstream.conf for the warm slot (a temp file, then a rename)"
    )["vars"]["upstream_conf"]
    for target in (
        UpstreamTarget("blue", "app-staging-blue", 8000, DIGEST_A),
        UpstreamTarget("green", "t1-app-dev-green", 9000, DIGEST_B),
    ):
        values = {
            "warm_slot": target.slot,
            "to_release": target.digest,
            "warm_name": target.address,
            "app_port": target.port,
        }
        assert render(content, values) == render_upstream(target)


def test_playbook_runs_the_runbooks_scripts() -> None:
    variables, _ = playbook_vars()
    assert variables["marker_pattern"] == proxy_conf._MARKER.pattern
    assert {
        name: variables[f"{name}_script"]
        for name in ("keeper", "hold", "release", "bad", "probe", "write", "append")
    } == {
        "keeper": runbook._KEEPER,
        "hold": runbook._HOLD,
        "release": runbook._RELEASE,
        "bad": runbook._BAD,
        "probe": runbook._PROBE,
        "write": runbook._WRITE,
        "append": runbook._APPEND,
    }


@pytest.mark.parametrize(("wait", "options"), [(None, ["-n"]), (0, ["-n"]), (2.5, ["-w", "2.5"])])
def test_playbook_takes_the_lock_as_the_runbook_does(
    wait: float | None, options: list[str]
) -> None:
    variables, _ = playbook_vars()
    values = {} if wait is None else {"lock_wait": wait}
    env = jinja2.Environment(undefined=jinja2.ChainableUndefined)
    env.filters["float"] = float
    env.filters["string"] = str
    rendered = env.from_string(variables["lock_options"]).render(**values)
    assert rendered == str(options) == str(runbook.flock_options(wait or 0))


@pytest.mark.parametrize("namespace", ["", "t1"])
def test_playbook_names_and_paths_are_soakgates(namespace: str) -> None:
    variables, _ = playbook_vars()
    for ansible_only in ("record_path", "run_id"):  # Ansible's lookup() and hostvars
        del variables[ansible_only]
    # stage_dir: the state dir as the playbook's first task found it on the host
    values = {**variables, "stage": "staging", "stage_dir": "/srv/sg", "namespace": namespace}
    names = StageNames("staging", namespace)
    paths = StagePaths.of("/srv/sg", "staging")
    assert render("{{ proxy_name }}", values) == names.proxy
    assert render("{{ network_name }}", values) == names.network
    assert render("{{ prefix }}app-{{ stage }}-blue", values) == names.app("blue")
    assert render("{{ conf_dir }}/upstream.conf", values) == paths.upstream
    assert render("{{ lock_file }}", values) == paths.lock
    assert [render(path, values) for path in variables["bad_files"]] == list(paths.bad)


# --- the steps, with a fake host --------------------------------------------------------------
UPSTREAM = "/s/stages/staging/proxy/upstream.conf"
LOCK = "/s/locks/staging.lock"


@dataclass
class FakeResult:
    stdout: str = ""
    ok: bool = True
    exited: int = 0
    stderr: str = ""


@dataclass
class FakeHost:
    """A Docker host in a dict: answers the runbook's commands, records them, fails loudly."""

    warm_running: bool = True
    holder: str | None = None  # the record of another process holding the lock
    bad: dict[str, str] = field(default_factory=dict)
    unhealthy: set[str] = field(default_factory=set)  # slots whose direct probe fails
    broken: set[str] = field(default_factory=set)  # slots that do not answer through the proxy
    flip_meanwhile: bool = False  # another flip lands between the first read and the lock
    calls: list[list[str]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    keeper: int | None = None

    def __post_init__(self) -> None:
        self.files[UPSTREAM] = render_upstream(
            UpstreamTarget("green", "app-staging-green", 8000, DIGEST_B)
        )

    def run(self, command: str, **kwargs: Any) -> FakeResult:
        assert kwargs == {"hide": True, "warn": True, "in_stream": False}
        argv = shlex.split(command)
        self.calls.append(argv)
        match argv:
            case ["cat", path]:
                text = self.files.get(path)
                return FakeResult(text or "", text is not None)
            case ["sh", "-c", runbook._KEEPER, "sh", path, "300", *options]:
                assert path == LOCK and options == ["-n"]
                if self.flip_meanwhile:
                    self.files[UPSTREAM] = render_upstream(
                        UpstreamTarget("blue", "app-staging-blue", 8000, DIGEST_A)
                    )
                if self.holder is not None:
                    return FakeResult(self.holder, False, LOCK_BUSY)
                self.keeper = 777
                return FakeResult("777 ops host-1\n")
            case ["sh", "-c", runbook._HOLD, "sh", path, text]:
                assert self.keeper is not None, "a record written without the lock"
                self.files[path] = text
                return FakeResult()
            case ["sh", "-c", runbook._RELEASE, "sh", path, "777"]:
                if self.keeper is None:
                    return FakeResult(ok=False, exited=LOCK_LOST)
                self.files[path], self.keeper = "", None
                return FakeResult()
            case ["docker", "inspect", name]:
                assert name == "app-staging-blue"
                data = inspected(
                    DIGEST_A, "soakgate-staging", "172.18.0.3", running=self.warm_running
                )
                return FakeResult(json.dumps([data]))
            case ["python3", "-c", runbook._BAD, *paths]:
                assert paths == list(StagePaths.of("/s", "staging").bad)
                return FakeResult(json.dumps({"bad": self.bad, "warnings": ["/s/bad-releases: x"]}))
            case ["python3", "-c", runbook._PROBE, "172.18.0.3", "8000", "/health", "1.0"]:
                if "blue" in self.unhealthy:
                    return FakeResult("", False, 1, "172.18.0.3:8000/health answered 503\n")
                return FakeResult()
            case ["sh", "-c", runbook._WRITE, "sh", path, text]:
                assert self.keeper is not None, "the upstream written without the lock"
                self.files[path] = text
                return FakeResult()
            case ["python3", "-c", runbook._APPEND, path, line]:
                self.files[path] = self.files.get(path, "") + line + "\n"
                return FakeResult()
            case ["docker", "exec", "proxy-staging", "sh", "-c", "kill -HUP 1"]:
                return FakeResult()
            case ["python3", "-c", runbook._WAIT, "18081", "/health", "x-soakgate-slot", slot, _]:
                target = parse_upstream(self.files[UPSTREAM])
                if target is not None and target.slot == slot and slot not in self.broken:
                    return FakeResult("0.05\n")
                return FakeResult("502 from slot None", False, 1)
        raise AssertionError(f"unexpected command: {argv}")

    def steps(self) -> list[str]:
        scripts = {
            runbook._KEEPER: "keeper",
            runbook._HOLD: "hold",
            runbook._RELEASE: "release",
            runbook._BAD: "bad",
            runbook._PROBE: "probe",
            runbook._WRITE: "write",
            runbook._APPEND: "append",
            runbook._WAIT: "wait",
        }
        return [
            scripts.get(argv[2], "?") if argv[1] == "-c" else " ".join(argv[:2])
            for argv in self.calls
        ]


def inspected(digest: str, network: str, ip: str, *, running: bool = True) -> dict[str, Any]:
    return {
        "Name": "/app-staging-blue",
        "State": {"Running": running},
        "Config": {"Labels": {"soakgate.release": digest}},
        "NetworkSettings": {"Networks": {network: {"IPAddress": ip}}},
    }


def flip(host: FakeHost, **kwargs: Any) -> dict[str, Any]:
    result: dict[str, Any] = flip_to_warm(host, "staging", "/s", port=18081, **kwargs)
    return result


def test_flip_follows_the_runbook() -> None:
    host = FakeHost()
    warnings: list[str] = []
    result = flip(host, warn=warnings.append)
    assert {k: result[k] for k in ("stage", "from", "to", "from_release", "to_release", "via")} == {
        "stage": "staging",
        "from": "green",
        "to": "blue",
        "from_release": DIGEST_B,
        "to_release": DIGEST_A,
        "via": "fabric",
    }
    assert host.files[UPSTREAM] == render_upstream(
        UpstreamTarget("blue", "app-staging-blue", 8000, DIGEST_A)  # the name, not the address
    )
    assert json.loads(host.files["/s/runbook.log"]) == result
    assert host.files[LOCK] == "" and host.keeper is None  # released
    assert warnings == ["/s/bad-releases: x"]  # the bad-releases reader's warnings pass on
    assert host.steps() == [
        "cat /s/stages/staging/proxy/upstream.conf",
        "keeper",  # take the lock
        "hold",  # our record into it
        "cat /s/stages/staging/proxy/upstream.conf",  # compare-and-swap
        "docker inspect",
        "bad",
        "probe",  # once, straight at the container
        "write",
        "docker exec",
        "wait",
        "append",  # runbook.log
        "release",
    ]


def test_a_stopped_warm_slot_is_refused_and_nothing_changes() -> None:
    host = FakeHost(warm_running=False)
    before = dict(host.files)
    with pytest.raises(RollbackFailed, match=r"warm slot blue of staging \(app-staging-blue\)"):
        flip(host)
    assert host.files == {**before, LOCK: ""} and host.keeper is None
    assert "write" not in host.steps()


def test_a_held_lock_is_refused_naming_its_holder() -> None:
    holder = json.dumps(
        {"pid": 99, "user": "ci", "host": "h", "command": "soakgate deploy", "since": "t"}
    )
    host = FakeHost(holder=holder)
    with pytest.raises(
        LockHeld, match=r"locked by ci@h pid 99 \(soakgate deploy\) since t"
    ) as held:
        flip(host)
    assert "stop pid 99" in held.value.hint
    assert host.steps() == ["cat /s/stages/staging/proxy/upstream.conf", "keeper"]

    host = FakeHost(holder="")  # the holder has not written its record yet
    with pytest.raises(LockHeld, match="a process that has not written its name yet"):
        flip(host)


def test_a_flip_that_happened_meanwhile_is_not_undone() -> None:
    host = FakeHost(flip_meanwhile=True)
    with pytest.raises(
        SwitchRefused, match=r"proxy changed meanwhile \(now slot blue, .*expected slot green"
    ):
        flip(host)
    assert host.files[UPSTREAM] == render_upstream(
        UpstreamTarget("blue", "app-staging-blue", 8000, DIGEST_A)
    )  # the other flip stands
    assert "write" not in host.steps() and host.keeper is None


def test_a_release_marked_bad_is_not_flipped_to() -> None:
    host = FakeHost(bad={DIGEST_A: "/s/stages/staging/bad-releases"})
    with pytest.raises(
        BadRelease, match=r"runs sha256:aaaaaaaaaaaa, marked bad in /s/stages/staging"
    ):
        flip(host)
    assert "write" not in host.steps() and host.keeper is None


def test_an_unreadable_bad_list_warns_and_the_flip_goes_on() -> None:
    host = FakeHost()
    original = host.run

    def run(command: str, **kwargs: Any) -> FakeResult:
        if runbook._BAD in shlex.split(command):
            return FakeResult("", False, 127, "python3: not found\n")
        return original(command, **kwargs)

    host.run = run  # type: ignore[method-assign]
    warnings: list[str] = []
    assert flip(host, warn=warnings.append)["to"] == "blue"
    assert warnings == [
        "/s/stages/staging/bad-releases, /s/bad-releases: not read (python3: not found);"
        " bad releases not checked"
    ]


def test_an_unhealthy_warm_slot_is_refused_before_the_switch() -> None:
    host = FakeHost(unhealthy={"blue"})
    before = host.files[UPSTREAM]
    with pytest.raises(
        SwitchRefused, match=r"blue slot of staging is not healthy \(.*answered 503\)"
    ):
        flip(host)
    assert host.files[UPSTREAM] == before and "write" not in host.steps() and host.keeper is None


def test_traffic_goes_back_when_the_warm_slot_does_not_answer() -> None:
    host = FakeHost(broken={"blue"})
    before = host.files[UPSTREAM]
    with pytest.raises(RollbackFailed, match=r"within 2 s .*502.*traffic is back on green"):
        flip(host, timeout=2)
    assert host.files[UPSTREAM] == before
    assert host.steps()[-4:] == ["write", "docker exec", "wait", "release"]  # back, then unlock
    assert host.keeper is None and "/s/runbook.log" not in host.files

    host = FakeHost(broken={"blue", "green"})
    with pytest.raises(RollbackFailed, match="points at green again, which does not answer"):
        flip(host, timeout=2)


def test_a_failing_step_names_its_command_and_still_unlocks() -> None:
    host = FakeHost()
    original = host.run

    def run(command: str, **kwargs: Any) -> FakeResult:
        if command.startswith("docker exec"):
            original(command, **kwargs)
            return FakeResult("", False, 1, "Error: No such container: proxy-staging")
        return original(command, **kwargs)

    host.run = run  # type: ignore[method-assign]
    with pytest.raises(CommandFailed, match="No such container: proxy-staging"):
        flip(host)
    assert host.keeper is None


def test_a_lost_lock_is_said() -> None:
    host = FakeHost()
    original = host.run

    def run(command: str, **kwargs: Any) -> FakeResult:
        if runbook._APPEND in shlex.split(command):
            host.keeper = None  # the keeper died (its ttl ended) during the flip
        return original(command, **kwargs)

    host.run = run  # type: ignore[method-assign]
    warnings: list[str] = []
    flip(host, warn=warnings.append)
    assert warnings[-1].startswith("the lock keeper (pid 777) was gone before the release")


def test_a_ttl_shorter_than_the_flip_is_refused() -> None:
    with pytest.raises(ConfigError, match="lock_ttl 20 s is too short"):
        flip(FakeHost(), lock_ttl=20, timeout=10)


# --- SSH: known_hosts and unknown keys, with a real server on loopback --------------------------
@pytest.fixture(scope="module")
def paramiko_mod() -> Any:
    import soakgate

    soakgate.allow_ssh()
    import paramiko

    return paramiko


@pytest.fixture
def ssh_server(paramiko_mod: Any) -> Iterator[tuple[int, Any]]:
    """An SSH server on 127.0.0.1 that lets ``ops``/``pw`` in; (port, host key)."""
    paramiko = paramiko_mod
    host_key = paramiko.RSAKey.generate(1024)

    interface: Any = paramiko.ServerInterface

    class Server(interface):  # type: ignore[misc]
        def check_auth_password(self, username: str, password: str) -> int:
            ok = (username, password) == ("ops", "pw")
            return int(paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED)

        def get_allowed_auths(self, username: str) -> str:
            return "password"

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    transports: list[Any] = []

    def serve() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            transport = paramiko.Transport(client)
            transport.add_server_key(host_key)
            transports.append(transport)
            with contextlib.suppress(paramiko.SSHException, EOFError):
                transport.start_server(server=Server())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], host_key
    listener.close()
    for transport in transports:
        transport.close()


def test_an_unknown_host_key_is_refused_with_its_fingerprint(
    ssh_server: tuple[int, Any], tmp_path: Path
) -> None:
    port, key = ssh_server
    known = tmp_path / "known_hosts"
    known.write_text("")  # exists, but knows no host
    connection = runbook.connect(
        f"ops@127.0.0.1:{port}", known_hosts=[str(known)], connect_kwargs={"password": "pw"}
    )
    try:
        with pytest.raises(UnknownHostKey) as refused:
            connection.open()
    finally:
        connection.close()
    expected = fingerprint(key.asbytes())
    assert refused.value.message == (
        f"the SSH host key of 127.0.0.1:{port} (ssh-rsa {expected}) is in no known_hosts file"
        f" ({known}): not connecting"  # the files it read, not the defaults
    )
    assert f"ssh-keyscan -p {port} 127.0.0.1 >> ~/.ssh/known_hosts" in refused.value.hint
    assert "\n" not in refused.value.message + refused.value.hint
    assert not known.read_text()  # nothing added behind the operator's back


def test_a_known_host_key_connects_and_a_changed_one_is_refused(
    ssh_server: tuple[int, Any], tmp_path: Path, paramiko_mod: Any
) -> None:
    port, key = ssh_server
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {key.get_name()} {key.get_base64()}\n")
    connection = runbook.connect(
        f"ops@127.0.0.1:{port}", known_hosts=[str(known)], connect_kwargs={"password": "pw"}
    )
    try:
        connection.open()
        assert connection.is_connected
    finally:
        connection.close()

    other = paramiko_mod.RSAKey.generate(1024)
    known.write_text(f"[127.0.0.1]:{port} {other.get_name()} {other.get_base64()}\n")
    connection = runbook.connect(
        f"ops@127.0.0.1:{port}", known_hosts=[str(known)], connect_kwargs={"password": "pw"}
    )
    try:
        with pytest.raises(paramiko_mod.BadHostKeyException):
            connection.open()
    finally:
        connection.close()


def test_fab_over_ssh_refuses_an_unknown_host_in_one_line(
    ssh_server: tuple[int, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, paramiko_mod: Any
) -> None:
    """``fab -H`` makes its Connection itself, with Fabric's AutoAddPolicy: the task swaps in
    the known_hosts check before anything connects."""
    from fabric import Connection
    from invoke.exceptions import Exit

    from soakgate import fabfile

    port, key = ssh_server
    monkeypatch.setenv("HOME", str(tmp_path))  # ~/.ssh/known_hosts: none
    connection = Connection(f"ops@127.0.0.1:{port}", connect_kwargs={"password": "pw"})
    assert isinstance(connection.client._policy, paramiko_mod.AutoAddPolicy)
    try:
        with pytest.raises(Exit) as refused:
            fabfile.rollback(connection, stage="staging", state_dir="/s", port=18081)
    finally:
        connection.close()
    assert refused.value.code == UnknownHostKey.exit_code
    first, hint = str(refused.value.message).splitlines()
    assert first.startswith(f"error: the SSH host key of 127.0.0.1:{port} (ssh-rsa ")
    assert fingerprint(key.asbytes()) in first
    assert hint.startswith("hint: ") and f"ssh-keyscan -p {port} 127.0.0.1" in hint
    assert not (tmp_path / ".ssh").exists()  # nothing added behind the operator's back


def test_the_host_part_of_an_unknown_key_message() -> None:
    refused = unknown_host_key("db-1.example", "ssh-ed25519", b"key")
    assert refused.message.startswith("the SSH host key of db-1.example (ssh-ed25519 SHA256:")
    assert "ssh-keyscan -p 22 db-1.example >> ~/.ssh/known_hosts" in refused.hint
    # OpenSSH's form: sha256, base64 without padding
    assert fingerprint(b"key") == "SHA256:LHDhK3oGRvkiefQnx7OOczTY5Tic/xZ6HcMOc/gmtoM"
