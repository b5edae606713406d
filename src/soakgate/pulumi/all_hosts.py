"""The blue/green update of a stage on several hosts, all or nothing: the candidate starts on
every host at once, and no host switches until it is healthy on all of them.

    tables = converge_hosts(engine, "sha256:…", spec)     # {host: its slot table after}

1. Every host is read first (its slots and upstream); one that does not answer fails the
   update before anything starts.
2. Where the release is not yet in a slot, its candidate starts on each host in parallel and
   is waited for. One that is not healthy in time stops all of them: every candidate is
   removed, no host switched, and the error names each host that failed and why.
3. The healthy candidates take their slots, then every host switches in parallel (each a
   compare-and-swap against the upstream read in step 1). When one host's switch fails, the
   hosts that did switch are put back, so no host is left serving what the others do not.

With a rollout limit (``soakgate:rollout``, ``soakgate deploy --limit N --wait S``), steps 2
and 3 run for one group of N hosts at a time, and a switched group is watched through each
host's proxy for S seconds before the next group starts. A group that fails, or a switched host
that stops answering from the new release while watched, puts every switched host back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pulumi

from soakgate.adapters.parallel import each
from soakgate.adapters.stage.engine import AppSpec, StageEngine
from soakgate.adapters.stage.hosts_engine import HostsEngine
from soakgate.core.names import digest_ref
from soakgate.core.proxy_conf import Switch, UpstreamTarget
from soakgate.core.rollout import Rollout
from soakgate.core.slots import Action, Desired, Plan, SlotTable, plan_deploy
from soakgate.errors import DeployFailed, HostUnreachable, SoakgateError

Outcome = float | SoakgateError
T = TypeVar("T")


def _first_line(error: SoakgateError) -> str:
    return error.message.splitlines()[0]


def _attempt(engine: StageEngine, step: Callable[[], float]) -> Outcome:
    """Run ``step`` (returning seconds) on ``engine``'s host; a failure there (SSH cut, engine
    refusal, unhealthy release) as a one-line SoakgateError value."""
    try:
        with engine.io.guarded():
            return step()
    except SoakgateError as failed:
        return failed


def _on_each(step: Callable[[StageEngine], T], engines: list[StageEngine]) -> list[T]:
    """``step`` on every engine in parallel, each inside its host's guard: the first failure
    is raised as one line naming the host."""

    def guarded(engine: StageEngine) -> T:
        with engine.io.guarded():
            return step(engine)

    return each(guarded, engines)


def _seconds(outcomes: dict[str, Outcome]) -> dict[str, float]:
    return {host: o for host, o in outcomes.items() if not isinstance(o, SoakgateError)}


def converge_hosts(
    hosts: HostsEngine, release: str, spec: AppSpec, rollout: Rollout | None = None
) -> dict[str, SlotTable]:
    """Make ``release`` active on every host, all or nothing (in groups with a ``rollout``
    limit); each host's table afterwards."""
    engines = hosts.engines
    names = list(engines)

    readings = dict(
        zip(
            names,
            _on_each(lambda e: (e.read_slots(), e.upstream()), list(engines.values())),
            strict=True,
        )
    )
    desired = Desired(release, spec.spec_hash())
    plans = {host: plan_deploy(readings[host][0], desired) for host in names}
    switching = [host for host in names if plans[host].action is not Action.NONE]
    groups = (rollout or Rollout()).groups(switching)
    switched: list[str] = []
    for number, group in enumerate(groups, start=1):
        try:
            deploying = [host for host in group if plans[host].action is Action.DEPLOY]
            _start_everywhere(hosts, deploying, plans, desired, spec)
            _switch_everywhere(hosts, group, plans, readings, desired, spec)
            switched += group
            if number < len(groups) and rollout is not None:
                pulumi.log.info(
                    f"group {number} of {len(groups)} switched ({', '.join(group)}); watching"
                    f" {', '.join(switched)} for {rollout.wait:g} s before the next"
                )
                _watch(hosts, switched, plans, spec, rollout.wait)
        except DeployFailed as failed:
            if len(groups) == 1:
                raise
            raise _rollout_failed(
                hosts, failed, number, groups, switched, plans, readings, spec
            ) from None

    def after(host: str) -> SlotTable:
        """The host's table now; the one read before when it cannot be read (traffic has
        moved already: failing the update for outputs would hide that; status reads again)."""
        engine = engines[host]
        try:
            with engine.io.guarded():
                return engine.read_slots()
        except SoakgateError as failed:
            pulumi.log.warn(f"{host}: not read after the switch ({failed.message})")
            return readings[host][0]

    return dict(zip(names, each(after, names), strict=True))


def _start_everywhere(
    hosts: HostsEngine,
    deploying: list[str],
    plans: dict[str, Plan],
    desired: Desired,
    spec: AppSpec,
) -> None:
    """The candidate on every host in ``deploying``, healthy, in its slot; else none at all."""
    engines = hosts.engines

    def start(host: str) -> Outcome:
        engine, slot = engines[host], plans[host].slot
        return _attempt(
            engine,
            lambda: engine.wait_healthy(engine.start_candidate(slot, desired.digest, spec), spec),
        )

    outcomes = dict(zip(deploying, each(start, deploying), strict=True))
    failed = {host: o for host, o in outcomes.items() if isinstance(o, SoakgateError)}
    if failed:
        removed = each(lambda host: _remove_candidate(engines[host], plans[host].slot), deploying)
        left = [host for host, gone in zip(deploying, removed, strict=True) if not gone]
        unhealthy = {h: o for h, o in failed.items() if not isinstance(o, HostUnreachable)}
        lost = {h: o for h, o in failed.items() if isinstance(o, HostUnreachable)}
        parts = []
        if unhealthy:
            parts.append(
                f"{digest_ref(desired.digest)} did not start healthy on {len(unhealthy)} of"
                f" {len(engines)} hosts of {hosts.stage}: "
                + "; ".join(f"{host}: {_first_line(o)}" for host, o in unhealthy.items())
            )
        if lost:
            parts.append(
                f"{len(lost)} of {len(engines)} hosts of {hosts.stage} were lost while"
                f" {digest_ref(desired.digest)} started: "
                + "; ".join(f"{host}: {_first_line(o)}" for host, o in lost.items())
            )
        cleanup = (
            f"its candidate is left on {', '.join(left)} (the next deploy removes it)"
            if left
            else "every candidate was removed"
        )
        raise DeployFailed(
            "; ".join(parts) + f"; no host switched, {cleanup}",
            hint=f"look at the hosts: soakgate hosts check {hosts.stage}, soakgate logs"
            f" {hosts.stage}; then deploy again",
        )
    for host, seconds in _seconds(outcomes).items():
        pulumi.log.info(f"{host}: candidate healthy after {seconds:.1f} s")
    _on_each(
        lambda engine: engine.adopt_candidate(plans[engine.io.label].slot),
        [engines[host] for host in deploying],
    )


def _remove_candidate(engine: StageEngine, slot: str) -> bool:
    """Best effort (a candidate left behind is removed by the next deploy's start anyway):
    whether it is gone."""
    try:
        with engine.io.guarded():
            engine.remove_candidate(slot)
    except SoakgateError as failed:
        pulumi.log.warn(f"{engine.io.label}: candidate not removed ({failed.message})")
        return False
    return True


def _switch_everywhere(
    hosts: HostsEngine,
    switching: list[str],
    plans: dict[str, Plan],
    readings: dict[str, tuple[SlotTable, UpstreamTarget | None]],
    desired: Desired,
    spec: AppSpec,
) -> None:
    """Every host in ``switching`` to its plan's slot, at once; the switched ones back when
    another fails."""
    engines = hosts.engines

    def switch(host: str) -> Outcome:
        move = Switch(
            plans[host].slot, desired.digest, spec.port, spec.health_path, readings[host][1]
        )
        return _attempt(engines[host], lambda: engines[host].switch(move))

    outcomes = dict(zip(switching, each(switch, switching), strict=True))
    failed = {host: o for host, o in outcomes.items() if isinstance(o, SoakgateError)}
    if not failed:
        slowest = max(_seconds(outcomes).values(), default=0.0)
        pulumi.log.info(f"{len(switching)} hosts switched ({slowest:.2f} s to the last)")
        return
    switched = [host for host in switching if host not in failed]
    left = _put_back(hosts, switched, plans, readings, spec)
    raise DeployFailed(
        f"the switch of {hosts.stage} to {digest_ref(desired.digest)} failed on "
        + "; ".join(f"{host}: {_first_line(o)}" for host, o in failed.items())
        + (
            f"; {len(switched)} host(s) that had switched went back"
            if switched and not left
            else ""
        )
        + (f"; {'; '.join(left)}" if left else ""),
        hint=f"see soakgate status {hosts.stage}; re-run the deploy when the hosts answer",
    )


def _put_back(
    hosts: HostsEngine,
    switched: list[str],
    plans: dict[str, Plan],
    readings: dict[str, tuple[SlotTable, UpstreamTarget | None]],
    spec: AppSpec,
) -> list[str]:
    """Every host in ``switched`` back to the slot it served before (in parallel); what could
    not be put back, a line each."""
    engines = hosts.engines

    def back(host: str) -> str:
        previous = readings[host][0].active_slot
        if previous is None or previous.empty or not previous.digest:
            return f"{host} had served nothing before: it stays on {plans[host].slot}"
        move = Switch(previous.name, previous.digest, spec.port, spec.health_path)
        outcome = _attempt(engines[host], lambda: engines[host].switch(move))
        if isinstance(outcome, SoakgateError):
            return f"{host} could not be put back: {_first_line(outcome)}"
        return ""

    return [problem for problem in each(back, switched) if problem]


WATCH_EVERY = 1.0  # seconds between two looks at the switched hosts
WATCH_MISSES = 2  # looks in a row that a host may miss before the rollout stops


def _watch(
    hosts: HostsEngine, switched: list[str], plans: dict[str, Plan], spec: AppSpec, wait: float
) -> None:
    """For ``wait`` seconds, ask each switched host's proxy for the health path once a second
    (at least twice): DeployFailed when one answers other than 200 from its new slot twice in
    a row, including a miss at the very end (looked at again before the watch ends)."""
    engines = hosts.engines
    misses = dict.fromkeys(switched, 0)
    deadline = time.monotonic() + wait

    def look(host: str) -> str:
        engine = engines[host]

        def get() -> str:
            answer = engine.io.proxy_get(engine.proxy_port, spec.health_path)
            if answer is None:
                return f"its proxy does not answer {spec.health_path}"
            if (answer.status, answer.slot) != (200, plans[host].slot):
                return f"{spec.health_path} answered {answer.status} from slot {answer.slot}"
            return ""

        try:
            with engine.io.guarded():
                return get()
        except SoakgateError as failed:
            return _first_line(failed)

    looks = 0
    while True:
        looks += 1
        for host, problem in zip(switched, each(look, switched), strict=True):
            misses[host] = misses[host] + 1 if problem else 0
            if misses[host] >= WATCH_MISSES:
                raise DeployFailed(
                    f"{host} stopped serving the new release while watched: {problem}"
                )
        left = deadline - time.monotonic()
        if left <= 0 and looks >= WATCH_MISSES and not any(misses.values()):
            return
        time.sleep(min(WATCH_EVERY, left) if left > 0 else WATCH_EVERY / 4)


def _rollout_failed(
    hosts: HostsEngine,
    failed: DeployFailed,
    number: int,
    groups: list[list[str]],
    switched: list[str],
    plans: dict[str, Plan],
    readings: dict[str, tuple[SlotTable, UpstreamTarget | None]],
    spec: AppSpec,
) -> DeployFailed:
    """The error of a rollout stopped at group ``number``: the groups switched before go back."""
    left = _put_back(hosts, switched, plans, readings, spec)
    back = (
        f"; the {len(switched)} host(s) switched before ({', '.join(switched)}) went back"
        if switched and not left
        else "".join(f"; {problem}" for problem in left)
    )
    return DeployFailed(
        f"the rollout of {hosts.stage} stopped at group {number} of {len(groups)}"
        f" ({', '.join(groups[number - 1])}): {failed.message}{back}",
        hint=failed.hint,
    )
