"""``BlueGreen``: the stage-level dynamic resource whose update does the blue/green dance.

Its input is the *desired* release (and the app spec); which slot runs what and which one is
active is state, kept in its outputs and read back from the engine and the proxy by ``read``,
so ``pulumi refresh`` sees an emergency flip made outside Pulumi. An update starts the new
release in the inactive slot, waits for its health, switches the proxy gracefully and keeps
the old slot running, warm. A release that never gets healthy fails the update and leaves
traffic where it was. ``diff`` compares the desired release with what the engine and the proxy
really run (not with the last recorded outputs), so a flip, a crash or an engine restart since
the last ``up`` is seen by a plain ``pulumi up``; the spec hash holds a keyed fingerprint of
``secret_env``, so a changed secret value is a blue/green update too. Create, update and
delete hold the stage's lock (the one every soakgate command takes): a plain ``pulumi up``
during a rollback is refused with the rollback's description, and one under ``soakgate
deploy`` shares its lock.

    BlueGreen("slots", BlueGreenArgs(stage="staging", conf_dir="/…/proxy", proxy_port=18081,
                                     release="sha256:…", spec={...}))
"""

from __future__ import annotations

import getpass
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import (
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from soakgate.adapters.parallel import each
from soakgate.adapters.stage.engine import AppSpec, StageEngine
from soakgate.adapters.stage.hosts_engine import HostsEngine
from soakgate.adapters.stage.lock import stage_lock
from soakgate.adapters.stage.secret_files import fingerprint
from soakgate.adapters.state.ledger import LedgerStore
from soakgate.core.proxy_conf import Switch
from soakgate.core.rollout import Rollout
from soakgate.core.slots import Action, Desired, Slot, SlotTable, plan_deploy
from soakgate.errors import HostUnreachable, SoakgateError, StageSplit
from soakgate.pulumi.all_hosts import converge_hosts
from soakgate.pulumi.host_client import parse

PLACEMENT_INPUTS = ("stage", "namespace", "conf_dir", "proxy_port")


@dataclass
class BlueGreenArgs:
    stage: str
    conf_dir: str
    proxy_port: int
    release: str | pulumi.Output[str]  # a digest, or the Output of an image built alongside
    spec: dict[str, Any] = field(default_factory=dict)
    namespace: str = ""
    secret_env: Any = None  # a Pulumi secret Output of {NAME: value}, or None
    hosts: list[str] = field(default_factory=list)  # ssh://USER@HOST[:PORT]; [] : this machine
    rollout: dict[str, Any] | None = None  # {limit, wait}: host groups; None: all at once


def _secrets(props: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (props.get("secret_env") or {}).items()}


def _spec(props: dict[str, Any]) -> AppSpec:
    raw = dict(props.get("spec") or {})
    # Pulumi carries every number as a float: give the integers back their type.
    return AppSpec(
        port=int(raw.get("port", 8000)),
        health_path=str(raw.get("health_path", "/health")),
        health_timeout=float(raw.get("health_timeout", 60)),
        memory_mb=int(raw.get("memory_mb", 256)),
        cpus=float(raw.get("cpus", 1.0)),
        envs={str(k): str(v) for k, v in (raw.get("envs") or {}).items()},
        secrets_tag=fingerprint(state_dir_of(props), _secrets(props)),
    )


def _engine(props: dict[str, Any]) -> StageEngine:
    return StageEngine(
        props["stage"],
        Path(props["conf_dir"]),
        int(props["proxy_port"]),
        props.get("namespace", ""),
    )


def _hosts(props: dict[str, Any]) -> HostsEngine | None:
    """The stage on its SSH hosts, or None for a stage on this machine."""
    urls = list(props.get("hosts") or [])
    if not urls:
        return None
    from soakgate.adapters.stage.stages import hosts_engine

    hosts = [parse(url) for url in urls]
    return hosts_engine(props["stage"], int(props["proxy_port"]), props.get("namespace", ""), hosts)


def table_outputs(table: SlotTable) -> dict[str, Any]:
    """The slot table as outputs. "Nothing" is "", never None: Pulumi drops a null output, and a
    preview then shows the stack output made from it as unknown, a change, so a no-change
    ``pulumi up`` would run its update phase for nothing."""
    active = table.active_slot
    warm = table.slot(table.inactive_name) if table.active else None
    return {
        "slots": {name: asdict(table.slot(name)) for name in ("blue", "green")},
        "active": table.active or "",
        "active_release": active.digest if active else "",
        "warm_release": warm.digest if warm and not warm.empty and warm.running else "",
    }


def hosts_outputs(tables: HostsEngine | dict[str, SlotTable]) -> dict[str, Any]:
    """Outputs of a stage on hosts: each host's table under ``host_tables``, and the first host's
    as the stage's (a status reads every host again and tells a split)."""
    if isinstance(tables, HostsEngine):
        engine = tables
        tables = {r.host: r.table for r in engine.readouts() if r.table is not None}
        if not tables:
            raise HostUnreachable(f"no host of {engine.stage} answers")
    first = next(iter(tables.values()))
    return {
        **table_outputs(first),
        "host_tables": {host: table_outputs(table) for host, table in tables.items()},
    }


def table_from_outputs(outs: dict[str, Any]) -> SlotTable:
    slots = outs.get("slots") or {}
    blue = Slot(**slots["blue"]) if "blue" in slots else Slot("blue")
    green = Slot(**slots["green"]) if "green" in slots else Slot("green")
    return SlotTable(blue, green, outs.get("active") or None)


def state_dir_of(props: dict[str, Any]) -> Path:
    """soakgate's state dir, from the proxy conf dir it holds (``<state>/stages/S/proxy``)."""
    return Path(props["conf_dir"]).parents[2]


def converge(props: dict[str, Any]) -> dict[str, Any]:
    """Make the desired release the active one, with the fewest steps; return the outputs.
    Under ``soakgate`` (which holds the lock for us) the command records the change; a plain
    ``pulumi up`` that took the lock itself records it here, so the ledger knows every switch."""
    stage, state = props["stage"], state_dir_of(props)
    with stage_lock(state, stage, f"pulumi up --stack {stage}") as holder:
        started = time.time()
        before = _active_release(props)
        outs = _converge(props)
        after = outs.get("active_release") or None
        if holder.get("pid") == os.getpid() and after != before:
            _record_plain_up(state, stage, before, after, time.time() - started)
        return outs


def _active_release(props: dict[str, Any]) -> str | None:
    try:
        active = (_hosts(props) or _engine(props)).read_slots().active_slot
    except StageSplit:
        return None
    return active.digest if active is not None and not active.empty else None


def _record_plain_up(
    state: Path, stage: str, before: str | None, after: str | None, seconds: float
) -> None:
    """The ledger's "deploy" of a plain ``pulumi up``; a ledger that cannot take it is a
    warning (traffic has moved already: failing the update now would only hide that)."""
    try:
        with LedgerStore.open(state) as ledger:
            ledger.append(
                "deploy",
                actor=f"pulumi up ({getpass.getuser()})",
                stage=stage,
                from_release=before,
                to_release=after,
                data={"path": "pulumi up", "seconds": round(seconds, 2)},
            )
    except (SoakgateError, OSError) as exc:
        pulumi.log.warn(f"the switch of {stage} is not on the ledger: {exc}")


def _converge(props: dict[str, Any]) -> dict[str, Any]:
    hosts = _hosts(props)
    if hosts is not None:
        rollout = Rollout(
            int((props.get("rollout") or {}).get("limit", 0)),
            float((props.get("rollout") or {}).get("wait", 0)),
        )
        tables = converge_hosts(hosts, props["release"], _spec(props), rollout)
        return {**props, **hosts_outputs(tables)}
    engine = _engine(props)
    spec = _spec(props)
    desired = Desired(props["release"], spec.spec_hash())
    expected = engine.upstream()
    secrets = _secrets(props)
    for slot in engine.restore_secrets(spec, secrets):
        pulumi.log.warn(f"{engine.names.app(slot)} had lost its secret files: written again")
    plan = plan_deploy(engine.read_slots(), desired)
    if plan.action is Action.DEPLOY:
        candidate = engine.start_candidate(plan.slot, desired.digest, spec, secrets)
        seconds = engine.wait_healthy(candidate, spec)
        pulumi.log.info(f"{candidate} healthy after {seconds:.1f} s")
        engine.adopt_candidate(plan.slot)
    if plan.action is not Action.NONE:
        move = Switch(plan.slot, desired.digest, spec.port, spec.health_path, expect=expected)
        seconds = engine.switch(move)
        pulumi.log.info(f"proxy switched to {plan.slot} ({seconds:.2f} s to the first response)")
    return {**props, **table_outputs(engine.read_slots())}


def _real_tables(news: dict[str, Any], olds: dict[str, Any]) -> list[SlotTable]:
    """What the engine (each host's) and proxy run now; the recorded outputs only when an
    engine is away (a preview without an engine still works, and the update reads the truth
    again)."""
    try:
        hosts = _hosts(news)
        if hosts is None:
            return [_engine(news).read_slots()]
        readouts = hosts.readouts()
        if any(readout.table is None for readout in readouts):
            raise HostUnreachable("a host did not answer")
        return [readout.table for readout in readouts if readout.table is not None]
    except (SoakgateError, OSError, KeyError, ValueError):
        return [table_from_outputs(olds)]


def _secrets_lost(news: dict[str, Any], spec: AppSpec) -> bool:
    """A running slot lost its secret files (a reboot): an update writes them again."""
    try:
        return bool(_engine(news).secrets_lost(spec, _secrets(news)))
    except (SoakgateError, OSError):
        return False


def _remove_left_hosts(olds: dict[str, Any], news: dict[str, Any]) -> None:
    """The slots on the places the stage left (a host taken out of ``soakgate:hosts``, or
    this machine when the stage moved to SSH hosts), once it runs where it now is: their
    networks and proxies are deleted after this update, which needs them empty."""
    old_hosts, new_hosts = list(olds.get("hosts") or []), list(news.get("hosts") or [])
    if old_hosts == new_hosts:
        return
    if not old_hosts:
        engines = [_engine(olds)]
    else:
        gone = _hosts({**olds, "hosts": [url for url in old_hosts if url not in new_hosts]})
        engines = list(gone.engines.values()) if gone is not None else []
    for engine in engines:
        try:
            with engine.io.guarded():
                engine.remove_all()
        except SoakgateError as failed:
            pulumi.log.warn(f"slots left where {olds['stage']} ran before: {failed.message}")


class BlueGreenProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=f"bluegreen-{props['stage']}", outs=converge(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in PLACEMENT_INPUTS if olds.get(key, "") != news.get(key, "")]
        spec = _spec(news)
        desired = Desired(news["release"], spec.spec_hash())
        plans = [plan_deploy(table, desired) for table in _real_tables(news, olds)]
        changed = (
            bool(replaces)
            or any(plan.action is not Action.NONE for plan in plans)
            or list(olds.get("hosts") or []) != list(news.get("hosts") or [])
            or olds.get("spec") != news.get("spec")
            or _secrets_lost(news, spec)
        )
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        outs = converge(news)
        _remove_left_hosts(olds, news)
        return UpdateResult(outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        hosts = _hosts(props)
        if hosts is not None:
            return ReadResult(id_=id_, outs={**props, **hosts_outputs(hosts)})
        table = _engine(props).read_slots()
        return ReadResult(id_=id_, outs={**props, **table_outputs(table)})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        with stage_lock(state_dir_of(props), props["stage"], f"pulumi destroy {props['stage']}"):
            hosts = _hosts(props)
            engines = list(hosts.engines.values()) if hosts is not None else [_engine(props)]
            each(lambda engine: engine.remove_all(), engines)


class BlueGreen(Resource):
    slots: pulumi.Output[dict[str, Any]]
    active: pulumi.Output[str]
    active_release: pulumi.Output[str]
    warm_release: pulumi.Output[str]

    def __init__(
        self, name: str, args: BlueGreenArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        outputs = {"slots": None, "active": None, "active_release": None, "warm_release": None}
        # asdict() would deep-copy the secret Output: it goes in as it is, and its output
        # stays a secret (encrypted in the state) whatever the engine infers
        plain = asdict(replace(args, secret_env=None, release=""))
        inputs = {**plain, "secret_env": args.secret_env, "release": args.release}
        secret = pulumi.ResourceOptions(additional_secret_outputs=["secret_env"])
        opts = pulumi.ResourceOptions.merge(opts, secret)
        super().__init__(BlueGreenProvider(), name, {**inputs, **outputs}, opts)
