"""The runbook's pure parts: its commands are argv lists quoted in one place, its shell steps do
what they say, it follows the rollback steps in order with a fake host, and it writes the
same upstream file, lock file and names as soakgate itself and as ``playbooks/rollback.yml``."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from soakgate import runbook
from soakgate.adapters.stage_lock import lock_path, read_holder
from soakgate.core import proxy_conf
from soakgate.core.names import StageNames
from soakgate.core.proxy_conf import UpstreamTarget, parse_upstream, render_upstream
from soakgate.errors import CommandFailed, LockHeld, RollbackFailed
from soakgate.runbook import (
    StagePaths,
    append_command,
    describe_holder,
    flip_to_warm,
    lock_record,
    parse_holder,
    release_lock_command,
    reload_command,
    shell_line,
    take_lock_command,
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
    assert reload_command("t1-proxy-staging") == ["docker", "kill", "-s", "HUP", "t1-proxy-staging"]
    assert wait_command(18081, "/health", "blue", 10)[-4:] == [
        "/health",
        "x-soakgate-slot",
        "blue",
        "10",
    ]


def test_shell_line_quotes_every_argument() -> None:
    argv = ["cat", "/srv/a dir/$HOME;rm -rf /", "it's"]
    assert shlex.split(shell_line(argv)) == argv


def test_write_is_atomic_and_exact(tmp_path: Path) -> None:
    path = tmp_path / "proxy dir" / "upstream.conf"
    path.parent.mkdir()
    path.write_text("old\n")
    text = render_upstream(UpstreamTarget("blue", "172.18.0.3", 8000, DIGEST_A)) + "$x `y`\n"
    assert sh(write_command(str(path), text)).returncode == 0
    assert path.read_text() == text
    assert path.stat().st_mode & 0o777 == 0o644  # the proxy reads it as www-data
    assert os.listdir(path.parent) == ["upstream.conf"]  # no temp file left


def test_lock_is_taken_once_and_released_only_by_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "staging.lock"
    ours, theirs = json.dumps({"pid": 1}), json.dumps({"pid": 2})
    assert sh(take_lock_command(str(path), ours)).returncode == 0
    assert read_holder(path) == {"pid": 1}
    assert sh(take_lock_command(str(path), theirs)).returncode != 0  # noclobber
    keeper = subprocess.Popen(["sleep", "30"])
    assert sh(release_lock_command(str(path), theirs, keeper.pid)).returncode == 0
    assert path.exists()  # not theirs to release
    assert keeper.wait(timeout=5) != 0  # the keeper is stopped anyway
    assert sh(release_lock_command(str(path), ours, keeper.pid)).returncode == 0
    assert not path.exists()


def test_append_adds_one_line(tmp_path: Path) -> None:
    path = tmp_path / "runbook.log"
    for n in (1, 2):
        assert sh(append_command(str(path), json.dumps({"n": n}))).returncode == 0
    assert path.read_text() == '{"n": 1}\n{"n": 2}\n'


# --- pure decisions ---------------------------------------------------------------------------
def test_warm_slot_is_the_other_one() -> None:
    assert (warm_slot("blue"), warm_slot("green")) == ("green", "blue")
    with pytest.raises(ValueError):
        warm_slot("none")


def test_warm_target_from_inspect_data() -> None:
    data = inspected(DIGEST_A, "t1-soakgate-staging", "172.18.0.3")
    assert warm_target(data, "blue", "t1-soakgate-staging", 8000) == UpstreamTarget(
        "blue", "172.18.0.3", 8000, DIGEST_A
    )
    with pytest.raises(RollbackFailed, match="not on other-net"):
        warm_target(data, "blue", "other-net", 8000)


def test_lock_record_is_what_stage_lock_reads(tmp_path: Path) -> None:
    from datetime import UTC, datetime

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
    assert parse_holder("not json") is None and describe_holder(None) == "an unreadable lock file"


def test_paths_are_soakgates() -> None:
    paths = StagePaths.of("/srv/sg/.soakgate/", "production")
    state = Path("/srv/sg/.soakgate")
    assert paths.lock == str(lock_path(state, "production"))
    assert paths.upstream == str(state / "stages" / "production" / "proxy" / "upstream.conf")
    assert paths.log == str(state / "runbook.log")


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
                with_name = [t for t in task[section] if t.get("name") == name]
                if with_name:
                    return with_name[0]
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
        UpstreamTarget("blue", "172.18.0.3", 8000, DIGEST_A),
        UpstreamTarget("green", "10.1.2.3", 9000, DIGEST_B),
    ):
        values = {
            "warm_slot": target.slot,
            "to_release": target.digest,
            "warm_address": target.address,
            "app_port": target.port,
        }
        assert render(content, values) == render_upstream(target)


def test_playbook_reads_the_marker_line_and_writes_the_file_as_soakgate_does() -> None:
    variables, _ = playbook_vars()
    assert variables["marker_pattern"] == proxy_conf._MARKER.pattern
    assert variables["write_script"] == runbook._WRITE


@pytest.mark.parametrize("namespace", ["", "t1"])
def test_playbook_names_and_paths_are_soakgates(namespace: str) -> None:
    variables, _ = playbook_vars()
    values = {**variables, "stage": "staging", "state_dir": "/srv/sg", "namespace": namespace}
    names = StageNames("staging", namespace)
    paths = StagePaths.of("/srv/sg", "staging")
    assert render("{{ proxy_name }}", values) == names.proxy
    assert render("{{ network_name }}", values) == names.network
    assert render("{{ prefix }}app-{{ stage }}-blue", values) == names.app("blue")
    assert render("{{ conf_dir }}/upstream.conf", values) == paths.upstream
    assert render("{{ lock_file }}", values) == paths.lock


# --- the steps, with a fake host --------------------------------------------------------------
@dataclass
class FakeResult:
    stdout: str = ""
    ok: bool = True
    exited: int = 0
    stderr: str = ""


class FakeHost:
    """A Docker host in a dict: answers the runbook's commands, records them, fails loudly."""

    def __init__(self, *, warm_running: bool = True, lock: str | None = None) -> None:
        self.files = {
            "/s/stages/staging/proxy/upstream.conf": render_upstream(
                UpstreamTarget("green", "172.18.0.4", 8000, DIGEST_B)
            )
        }
        if lock is not None:
            self.files["/s/locks/staging.lock"] = lock
        self.warm_running = warm_running
        self.alive: set[int] = set()
        self.broken: set[str] = set()  # slots that do not answer
        self.calls: list[list[str]] = []

    def run(self, command: str, **kwargs: Any) -> FakeResult:
        assert kwargs == {"hide": True, "warn": True, "in_stream": False}
        argv = shlex.split(command)
        self.calls.append(argv)
        match argv:
            case ["cat", path]:
                text = self.files.get(path)
                return FakeResult(text or "", text is not None)
            case ["docker", "inspect", name]:
                assert name == "app-staging-blue"
                return FakeResult(
                    json.dumps(
                        [
                            inspected(
                                DIGEST_A,
                                "soakgate-staging",
                                "172.18.0.3",
                                running=self.warm_running,
                            )
                        ]
                    )
                )
            case ["test", "-d", proc]:
                return FakeResult(ok=int(proc.rsplit("/", 1)[1]) in self.alive)
            case ["rm", "-f", path]:
                self.files.pop(path, None)
                return FakeResult()
            case ["sh", "-c", _, "sh", "300"]:
                return FakeResult("777 ops host-1\n")
            case ["sh", "-c", script, "sh", path, text] if "set -C" in script:
                if path in self.files:
                    return FakeResult(ok=False, exited=1)
                self.files[path] = text
                return FakeResult()
            case ["sh", "-c", script, "sh", path, text] if "mv -f" in script:
                self.files[path] = text
                return FakeResult()
            case ["sh", "-c", script, "sh", path, line] if ">>" in script:
                self.files[path] = self.files.get(path, "") + line + "\n"
                return FakeResult()
            case ["sh", "-c", _, "sh", path, record, "777"]:
                if self.files.get(path) == record:
                    del self.files[path]
                return FakeResult()
            case ["docker", "kill", "-s", "HUP", "proxy-staging"]:
                return FakeResult()
            case ["python3", "-c", _, "18081", "/health", "x-soakgate-slot", slot, _]:
                target = parse_upstream(self.files["/s/stages/staging/proxy/upstream.conf"])
                if target is not None and target.slot == slot and slot not in self.broken:
                    return FakeResult("0.05\n")
                return FakeResult("502 from slot None", False, 1)
        raise AssertionError(f"unexpected command: {argv}")

    def steps(self) -> list[str]:
        return [
            " ".join(argv[:2]) if argv[0] != "sh" else argv[2].split()[0] for argv in self.calls
        ]


def inspected(digest: str, network: str, ip: str, *, running: bool = True) -> dict[str, Any]:
    return {
        "Name": "/app-staging-blue",
        "State": {"Running": running},
        "Config": {"Labels": {"soakgate.release": digest}},
        "NetworkSettings": {"Networks": {network: {"IPAddress": ip}}},
    }


def flip(host: FakeHost, **kwargs: Any) -> dict[str, Any]:
    return flip_to_warm(host, "staging", "/s", port=18081, **kwargs)


def test_flip_follows_the_runbook() -> None:
    host = FakeHost()
    result = flip(host)
    assert {k: result[k] for k in ("stage", "from", "to", "from_release", "to_release", "via")} == {
        "stage": "staging",
        "from": "green",
        "to": "blue",
        "from_release": DIGEST_B,
        "to_release": DIGEST_A,
        "via": "fabric",
    }
    assert host.files["/s/stages/staging/proxy/upstream.conf"] == render_upstream(
        UpstreamTarget("blue", "172.18.0.3", 8000, DIGEST_A)
    )
    assert json.loads(host.files["/s/runbook.log"]) == result
    assert "/s/locks/staging.lock" not in host.files
    assert host.steps() == [
        "cat /s/stages/staging/proxy/upstream.conf",
        "docker inspect",
        "cat /s/locks/staging.lock",
        "nohup",  # the keeper
        "mkdir",  # take the lock
        'tmp="$(dirname',  # write upstream.conf
        "docker kill",
        "python3 -c",
        "printf",  # runbook.log
        "[",  # release the lock
    ]


def test_a_stopped_warm_slot_is_refused_before_anything_changes() -> None:
    host = FakeHost(warm_running=False)
    with pytest.raises(RollbackFailed, match=r"warm slot blue of staging \(app-staging-blue\)"):
        flip(host)
    assert host.steps() == ["cat /s/stages/staging/proxy/upstream.conf", "docker inspect"]


def test_a_live_holder_is_refused_and_a_stale_one_recovered() -> None:
    holder = json.dumps(
        {"pid": 99, "user": "ci", "host": "h", "command": "soakgate deploy", "since": "t"}
    )
    host = FakeHost(lock=holder)
    host.alive.add(99)
    with pytest.raises(LockHeld, match=r"locked by ci@h pid 99 \(soakgate deploy\)"):
        flip(host)
    assert host.files["/s/locks/staging.lock"] == holder

    host.alive.clear()
    warnings: list[str] = []
    flip(host, warn=warnings.append)
    assert warnings == [
        "stage staging: recovering a stale lock left by ci@h pid 99 (soakgate deploy) since t"
    ]
    assert "/s/locks/staging.lock" not in host.files


def test_traffic_goes_back_when_the_warm_slot_does_not_answer() -> None:
    host = FakeHost()
    before = host.files["/s/stages/staging/proxy/upstream.conf"]
    host.broken.add("blue")
    with pytest.raises(RollbackFailed, match=r"within 2 s .*502.*traffic is back on green"):
        flip(host, timeout=2)
    assert host.files["/s/stages/staging/proxy/upstream.conf"] == before
    # back, reload, wait for green, unlock
    assert host.steps()[-4:] == ['tmp="$(dirname', "docker kill", "python3 -c", "["]
    assert "/s/locks/staging.lock" not in host.files and "/s/runbook.log" not in host.files

    host.broken.add("green")
    with pytest.raises(RollbackFailed, match="points at green again, which does not answer"):
        flip(host, timeout=2)


def test_a_failing_step_names_its_command_and_still_unlocks() -> None:
    host = FakeHost()
    original = host.run

    def run(command: str, **kwargs: Any) -> FakeResult:
        if command.startswith("docker kill"):
            original(command, **kwargs)
            return FakeResult("", False, 1, "Error: No such container: proxy-staging")
        return original(command, **kwargs)

    host.run = run  # type: ignore[method-assign]
    with pytest.raises(CommandFailed, match="No such container: proxy-staging"):
        flip(host)
    assert "/s/locks/staging.lock" not in host.files
