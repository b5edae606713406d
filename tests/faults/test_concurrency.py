"""Issue G.9: commands of one stage at the same time, on the main engine in a scratch project.

- 8 ``soakgate deploy dev`` started at once (two releases, alternating) with ``--lock-wait``:
  all complete, one at a time — the ledger's deploy intervals (each event's time, minus the
  seconds the deploy took under the lock) never overlap — and the stage ends on the release
  of the last one, as the proxy, the upstream marker and ``soakgate status`` all say.
- Two ``soakgate rollback production --emergency`` at the same instant under bounded load:
  one restores A, the other refuses in one line (the stage is locked, or nothing good is left
  to roll back to); 0 failed requests.
- An emergency rollback fired while a plain ``pulumi up --stack production`` is switching:
  whatever the interleaving, no command hangs, each loser says why in one line, and the proxy,
  the marker, status and the ledger agree afterwards; 0 failed requests.

Each assertion says what was lost: the goal is nothing.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import datetime

import httpx
import pytest

from soakgate.adapters.load import LoadGenerator
from soakgate.core.proxy_conf import parse_upstream
from soakgate.core.release import Release
from soakgate.scratch import ROOT, ScratchProject, past_gates

pytestmark = pytest.mark.integration

SOAKGATE = str(ROOT / ".venv" / "bin" / "soakgate")
PARALLEL = 8
COMMAND_TIMEOUT = 600.0  # seconds: no command may hang longer
LOAD_LIMIT = 180.0  # seconds: the load stops by itself


@dataclass
class Ran:
    argv: list[str]
    returncode: int
    output: str

    def error_lines(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.startswith("error:")]


def run_at_once(project: ScratchProject, commands: list[list[str]]) -> list[Ran]:
    """Start every command at the same instant (a barrier), wait for all; bounded."""
    barrier = threading.Barrier(len(commands))
    results: list[Ran | None] = [None] * len(commands)

    def one(index: int, argv: list[str]) -> None:
        barrier.wait()
        done = project.run(*argv, timeout=COMMAND_TIMEOUT)
        results[index] = Ran(argv, done.returncode, done.stdout + done.stderr)

    threads = [threading.Thread(target=one, args=(i, argv)) for i, argv in enumerate(commands)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(COMMAND_TIMEOUT + 30)
    assert all(result is not None for result in results), "a command hung"
    return [result for result in results if result is not None]


def lost(load: LoadGenerator) -> str:
    report = load.report
    return f"{report.failed} of {report.sent} requests failed: {report.first_failures}"


def deploy(project: ScratchProject, stage: str, release: Release) -> None:
    result = project.soakgate(
        "deploy", stage, "--release", release.digest, "--skip-verify", *past_gates(stage)
    )
    assert result.returncode == 0, result.stdout + result.stderr


def history(project: ScratchProject, stage: str) -> list[dict[str, object]]:
    result = project.soakgate("history", stage, "--json")
    assert result.returncode == 0, result.stderr
    events: list[dict[str, object]] = json.loads(result.stdout)
    return events


def parse_time(text: object) -> float:
    assert isinstance(text, str)
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def agreed_release(project: ScratchProject, stage: str) -> str:
    """The release that the proxy serves, after checking that the upstream marker and
    ``soakgate status`` say the same (release and slot); returns it."""
    deadline = time.monotonic() + 5  # nginx's old workers drain after a reload
    answers: list[tuple[str, str]] = []
    while time.monotonic() < deadline:
        response = httpx.get(f"{project.url(stage)}/version", timeout=5)
        assert response.status_code == 200, response.text
        answers.append((response.json()["release"], response.headers["x-soakgate-slot"]))
        if len(answers) >= 3 and len(set(answers[-3:])) == 1:
            break
        time.sleep(0.1)
    release, slot = answers[-1]
    marker = parse_upstream(
        (project.state / "stages" / stage / "proxy" / "upstream.conf").read_text()
    )
    assert marker is not None, "the upstream file is not soakgate's"
    assert (marker.slot, marker.digest) == (slot, release), f"marker {marker}, served {slot}"
    status = json.loads(project.soakgate("status", "--json").stdout)
    view = next(view for view in status if view["stage"] == stage)
    active = next(s for s in view["slots"] if s["name"] == view["active"])
    assert (view["active"], active["digest"]) == (slot, release), f"status {view}"
    assert not view["health"].startswith("DRIFT"), view["health"]
    return release


def test_eight_parallel_deploys_hold_the_lock_one_at_a_time(
    scratch: ScratchProject, releases: dict[str, Release]
) -> None:
    pair = [releases["3.12"], releases["3.14"]]
    commands = [
        [
            SOAKGATE,
            "deploy",
            "dev",
            "--release",
            pair[i % 2].digest,
            "--skip-verify",
            "--lock-wait",
            "540",
        ]
        for i in range(PARALLEL)
    ]
    ran = run_at_once(scratch, commands)
    failed = [(r.returncode, r.output[-1500:]) for r in ran if r.returncode != 0]
    assert not failed, f"{len(failed)} of {PARALLEL} deploys failed: {failed}"

    deploys = [e for e in history(scratch, "dev") if e["kind"] == "deploy"]
    assert len(deploys) == PARALLEL, f"{PARALLEL - len(deploys)} deploys left no ledger entry"
    intervals = []
    for event in deploys:
        data = event["data"]
        assert isinstance(data, dict)
        end = parse_time(event["time"])
        intervals.append((end - float(data["seconds"]), end, event["seq"]))
    intervals.sort()
    # a deploy's start is its entry's time less its "seconds", which the ledger keeps to 0.01 s
    rounding = 0.005
    for (_, end, seq), (start, _, next_seq) in itertools.pairwise(intervals):
        assert start >= end - rounding, (
            f"deploys {seq} and {next_seq} overlapped by {end - start:.2f} s: {intervals}"
        )
    waited = [e["data"]["waited_seconds"] for e in deploys if isinstance(e["data"], dict)]
    assert max(waited) > 0, "no deploy waited for the lock: they did not run at the same time"
    last = max(deploys, key=lambda event: int(str(event["seq"])))
    assert agreed_release(scratch, "dev") == last["to_release"]


def test_two_emergency_rollbacks_at_once_one_wins_nothing_dropped(
    scratch: ScratchProject, releases: dict[str, Release]
) -> None:
    good, bad = releases["3.12"], releases["3.14"]
    deploy(scratch, "production", good)
    deploy(scratch, "production", bad)
    argv = [SOAKGATE, "rollback", "production", "--emergency", "--reason", "two on call"]
    url = f"{scratch.url('production')}/version"
    with LoadGenerator(url, rate=50, max_seconds=LOAD_LIMIT) as load:
        ran = run_at_once(scratch, [argv, argv])
    assert load.report.sent > 20, load.report
    assert load.report.failed == 0, (
        f"{load.report.failed} requests failed: {load.report.first_failures}"
    )
    winners = [r for r in ran if r.returncode == 0]
    losers = [r for r in ran if r.returncode != 0]
    assert len(winners) == 1, [(r.returncode, r.output[-800:]) for r in ran]
    (loser,) = losers
    assert loser.returncode in (6, 9), loser.output  # locked, or nothing good left
    assert len(loser.error_lines()) == 1, loser.output
    assert "Traceback" not in loser.output
    assert agreed_release(scratch, "production") == good.digest
    rollbacks = [e for e in history(scratch, "production") if e["kind"] == "rollback"]
    assert [(e["from_release"], e["to_release"]) for e in rollbacks] == [
        (bad.digest, good.digest)
    ], "the ledger's rollbacks do not say what happened"


def test_emergency_rollback_during_a_plain_pulumi_up(
    scratch: ScratchProject, releases: dict[str, Release]
) -> None:
    """A plain ``pulumi up`` switching production back to the warm A while an emergency
    rollback (which also wants A) is fired: they exclude each other through the stage lock."""
    good, bad = releases["3.12"], releases["3.14"]
    deploy(scratch, "production", good)
    deploy(scratch, "production", bad)
    config = scratch.pulumi(
        "config", "set", "soakgate:release", good.digest, "--stack", "production"
    )
    assert config.returncode == 0, config.stderr
    url = f"{scratch.url('production')}/version"
    with LoadGenerator(url, rate=50, max_seconds=LOAD_LIMIT) as load:
        up = subprocess.Popen(
            ["pulumi", "up", "--yes", "--non-interactive", "--stack", "production"],
            cwd=scratch.root,
            env=scratch.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lock = scratch.state / "locks" / "production.lock"
        deadline = time.monotonic() + 120  # fire once the update runs (its provider works)
        while up.poll() is None and time.monotonic() < deadline:
            if lock.exists() and "pulumi up" in lock.read_text():
                break
            time.sleep(0.02)
        rollback = scratch.soakgate(
            "rollback",
            "production",
            "--emergency",
            "--reason",
            "during pulumi up",
            timeout=COMMAND_TIMEOUT,
        )
        output, _ = up.communicate(timeout=COMMAND_TIMEOUT)
    assert load.report.failed == 0, (
        f"{load.report.failed} requests failed: {load.report.first_failures}"
    )
    assert "Traceback" not in rollback.stdout + rollback.stderr
    if rollback.returncode != 0:
        lines = [line for line in rollback.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1, rollback.stderr
    release = agreed_release(scratch, "production")
    rollbacks = [e for e in history(scratch, "production") if e["kind"] == "rollback"]
    if rollback.returncode == 0:
        assert rollbacks and rollbacks[-1]["to_release"] == release, (rollbacks, release)
    else:
        assert not rollbacks, "a refused rollback left a ledger entry"
        assert up.returncode == 0, output[-2000:]
        assert release == good.digest, "pulumi up finished, but its release does not serve"
    plain = [
        e
        for e in history(scratch, "production")
        if e["kind"] == "deploy" and (e.get("data") or {}).get("path") == "pulumi up"
    ]
    if rollback.returncode != 0:  # the switch was pulumi up's own: the ledger knows it
        assert [(e["from_release"], e["to_release"]) for e in plain] == [
            (bad.digest, good.digest)
        ], plain
    preview = scratch.pulumi("preview", "--stack", "production")
    assert preview.returncode == 0, preview.stdout[-2000:] + preview.stderr[-2000:]
    outcome = {  # which interleaving this run met, for the record
        "rollback_exit": rollback.returncode,
        "rollback_error": rollback.stderr.strip()[-300:],
        "pulumi_up_exit": up.returncode,
        "serving": release,
        "requests": load.report.sent,
        "failed": load.report.failed,
    }
    (ROOT / "reports").mkdir(exist_ok=True)
    (ROOT / "reports" / "rollback-during-pulumi-up.json").write_text(json.dumps(outcome, indent=2))
