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
"""

from __future__ import annotations

from collections.abc import Callable

import pulumi

from soakgate.adapters.parallel import each
from soakgate.adapters.stage.engine import AppSpec, StageEngine
from soakgate.adapters.stage.hosts_engine import HostsEngine
from soakgate.core.names import digest_ref
from soakgate.core.proxy_conf import Switch, UpstreamTarget
from soakgate.core.slots import Action, Desired, Plan, SlotTable, plan_deploy
from soakgate.errors import DeployFailed, SoakgateError

Outcome = float | SoakgateError


def _first_line(error: SoakgateError) -> str:
    return error.message.splitlines()[0]


def _attempt(step: Callable[[], float]) -> Outcome:
    """Run ``step`` (returning seconds); its SoakgateError as a value."""
    try:
        return step()
    except SoakgateError as failed:
        return failed


def _seconds(outcomes: dict[str, Outcome]) -> dict[str, float]:
    return {host: o for host, o in outcomes.items() if not isinstance(o, SoakgateError)}


def converge_hosts(hosts: HostsEngine, release: str, spec: AppSpec) -> dict[str, SlotTable]:
    """Make ``release`` active on every host, all or nothing; each host's table afterwards."""
    engines = hosts.engines
    names = list(engines)

    def read(host: str) -> tuple[SlotTable, UpstreamTarget | None]:
        engine = engines[host]
        return engine.read_slots(), engine.upstream()

    readings = dict(zip(names, each(read, names), strict=True))
    desired = Desired(release, spec.spec_hash())
    plans = {host: plan_deploy(readings[host][0], desired) for host in names}
    deploying = [host for host in names if plans[host].action is Action.DEPLOY]
    _start_everywhere(hosts, deploying, plans, desired, spec)
    switching = [host for host in names if plans[host].action is not Action.NONE]
    _switch_everywhere(hosts, switching, plans, readings, desired, spec)
    return dict(zip(names, each(lambda host: engines[host].read_slots(), names), strict=True))


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
            lambda: engine.wait_healthy(engine.start_candidate(slot, desired.digest, spec), spec)
        )

    outcomes = dict(zip(deploying, each(start, deploying), strict=True))
    failed = {host: o for host, o in outcomes.items() if isinstance(o, SoakgateError)}
    if failed:
        each(lambda host: _remove_candidate(engines[host], plans[host].slot), deploying)
        raise DeployFailed(
            f"{digest_ref(desired.digest)} did not start healthy on {len(failed)} of"
            f" {len(engines)} hosts of {hosts.stage}; no host switched and every candidate was"
            " removed: " + "; ".join(f"{host}: {_first_line(o)}" for host, o in failed.items()),
            hint=f"look at that host's logs: soakgate logs {hosts.stage}",
        )
    for host, seconds in _seconds(outcomes).items():
        pulumi.log.info(f"{host}: candidate healthy after {seconds:.1f} s")
    each(lambda host: engines[host].adopt_candidate(plans[host].slot), deploying)


def _remove_candidate(engine: StageEngine, slot: str) -> None:
    """Best effort: a candidate left behind is removed by the next deploy's start anyway."""
    try:
        engine.remove_candidate(slot)
    except (SoakgateError, OSError) as failed:
        pulumi.log.warn(f"{engine.io.label}: candidate not removed ({failed})")


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
        return _attempt(lambda: engines[host].switch(move))

    outcomes = dict(zip(switching, each(switch, switching), strict=True))
    failed = {host: o for host, o in outcomes.items() if isinstance(o, SoakgateError)}
    if not failed:
        slowest = max(_seconds(outcomes).values(), default=0.0)
        pulumi.log.info(f"{len(switching)} hosts switched ({slowest:.2f} s to the last)")
        return
    switched = [host for host in switching if host not in failed]

    def back(host: str) -> str:
        table = readings[host][0]
        previous = table.active_slot
        if previous is None or previous.empty or not previous.digest:
            return f"{host} had served nothing before: it stays on {plans[host].slot}"
        move = Switch(previous.name, previous.digest, spec.port, spec.health_path)
        outcome = _attempt(lambda: engines[host].switch(move))
        if isinstance(outcome, SoakgateError):
            return f"{host} could not be put back: {_first_line(outcome)}"
        return ""

    left = [problem for problem in each(back, switched) if problem]
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
