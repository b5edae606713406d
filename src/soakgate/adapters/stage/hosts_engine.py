"""A stage on several Docker hosts, seen as one: the same slots and the same switch on every
host, each host read and switched in parallel through its own :class:`StageEngine`.

    engine = HostsEngine("production", engines)       # {host name: StageEngine over SSH}
    engine.read_slots()    # the table every reachable host agrees on; StageSplit when not
    engine.switch(move)    # every reachable host at once; PartialSwitch names the others
    engine.converge(release, port, "/health")   # the hosts not yet on ``release`` join it

A rollback (the emergency flip) restores what it can: a host that does not answer is named, the
others flip, and the stage stays split until a re-run converges it (the rollback's journal
keeps the target). A table is the same on two hosts when the slots run the same releases with
the same spec and the same slot is active; container ids differ from host to host.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from soakgate.adapters.parallel import each
from soakgate.adapters.stage.engine import StageEngine
from soakgate.core.hosts import host_state_dir
from soakgate.core.names import StageNames, digest_ref
from soakgate.core.proxy_conf import Switch, UpstreamTarget
from soakgate.core.slots import SLOTS, SlotTable
from soakgate.errors import (
    HostUnreachable,
    PartialSwitch,
    SoakgateError,
    StageSplit,
    SwitchRefused,
)


@dataclass(frozen=True)
class HostReadout:
    """One host of the stage as read now: its table and upstream, or why it could not be read."""

    host: str
    table: SlotTable | None
    upstream: UpstreamTarget | None = None
    problem: str = ""


def shape(table: SlotTable) -> tuple[object, ...]:
    """What must agree between hosts: the active slot, and each slot's release and spec. A
    container that stopped (or hangs) on one host is not a split: the stage's table then
    shows that slot as not running (see :func:`combined`)."""
    return (table.active, *((slot.digest, slot.spec_hash) for slot in (table.blue, table.green)))


def combined(tables: list[SlotTable]) -> SlotTable:
    """The table of hosts that agree (:func:`shape`): a slot runs only where it runs on all."""
    table = tables[0]
    for name in ("blue", "green"):
        slot = table.slot(name)
        table = table.with_slot(replace(slot, running=all(t.slot(name).running for t in tables)))
    return table


def describe(table: SlotTable | None) -> str:
    """``green (sha256:abc…), warm blue (sha256:def…)``-style words for a host's slots."""
    if table is None:
        return "unread"
    active = table.active_slot
    if active is None or active.empty:
        return "no active slot"
    warm = table.slot(table.inactive_name)
    behind = "no warm slot" if warm.empty else f"warm {warm.name} ({digest_ref(warm.digest or '')})"
    return f"{table.active} ({digest_ref(active.digest or '')}), {behind}"


def host_conf_dir(names: StageNames) -> Path:
    """The stage's proxy configuration on an SSH host, relative to its user's login directory
    (one per project namespace and stage, like ``<state>/stages/<stage>/proxy`` here)."""
    return Path(host_state_dir(names.namespace)) / "stages" / names.stage / "proxy"


class HostsEngine:
    """One stage's blue/green operations on every one of its hosts at once."""

    def __init__(
        self,
        stage: str,
        proxy_port: int,
        engines: Mapping[str, StageEngine],
        warn: Callable[[str], None] = lambda message: None,
    ) -> None:
        if not engines:
            raise ValueError("a stage on hosts needs at least one host")
        self.stage = stage
        self.warn = warn
        self.proxy_port = proxy_port
        self.engines = dict(engines)
        first = next(iter(self.engines.values()))
        self.conf_dir: Path = first.conf_dir
        self.unreachable: dict[str, str] = {}  # host -> why, from the last read_slots
        self.upstreams: dict[str, UpstreamTarget | None] = {}  # each host's, from that read
        self._agreed_read: list[HostReadout] | None = None  # the last read that agreed

    @property
    def names(self) -> StageNames:
        return next(iter(self.engines.values())).names

    # --- reading -------------------------------------------------------------------------
    def readouts(self) -> list[HostReadout]:
        """Every host's table and upstream, read in parallel; a host that fails says why."""

        def read(host: str) -> HostReadout:
            engine = self.engines[host]
            try:
                with engine.io.guarded():
                    return HostReadout(host, engine.read_slots(), engine.upstream())
            except SoakgateError as failed:
                return HostReadout(host, None, problem=failed.message)

        return each(read, list(self.engines))

    def _agreed(self) -> list[HostReadout]:
        """The readouts of the reachable hosts, which agree (StageSplit when not)."""
        self._agreed_read = None
        readouts = self.readouts()
        self.unreachable = {r.host: r.problem for r in readouts if r.table is None}
        read = [r for r in readouts if r.table is not None]
        self.upstreams = {r.host: r.upstream for r in read}
        if not read:
            raise HostUnreachable(
                f"no host of {self.stage} answers: {'; '.join(self.unreachable.values())}",
                hint=f"soakgate hosts check {self.stage}",
            )
        first = read[0]
        assert first.table is not None
        if any(shape(r.table) != shape(first.table) for r in read[1:] if r.table is not None):
            raise StageSplit(
                f"the hosts of {self.stage} are split: "
                + ", ".join(f"{r.host} serves {describe(r.table)}" for r in read),
                hint="re-run the rollback that left it so (it converges the hosts), or deploy"
                f" one release to all: soakgate deploy {self.stage} --release DIGEST",
            )
        self._agreed_read = read
        return read

    def read_slots(self) -> SlotTable:
        """The table every reachable host agrees on (``unreachable`` names the others)."""
        return combined([r.table for r in self._agreed() if r.table is not None])

    def upstream(self) -> UpstreamTarget | None:
        """The upstream every host has, as the last read_slots() read it (the callers hold the
        stage lock between the two: reading every host again would only cost a round trip);
        read now when there was none. None when the hosts' upstreams differ."""
        read = self._agreed_read if self._agreed_read is not None else self._agreed()
        first = read[0].upstream
        return first if all(r.upstream == first for r in read) else None

    def upstream_text(self) -> str | None:
        for engine in self.engines.values():
            try:
                return engine.upstream_text()
            except SoakgateError:
                continue
        return None

    def address(self, name: str) -> str:
        return next(iter(self.engines.values())).address(name)

    def _agreed_active(self) -> str | None:
        """The release the hosts of the last agreeing read serve (None: no such read)."""
        for readout in self._agreed_read or []:
            active = readout.table.active_slot if readout.table is not None else None
            if active is not None and active.digest:
                return active.digest
        return None

    def _upstream_over_ssh(self, host: str) -> UpstreamTarget | None:
        """The host's upstream file, read over SSH alone (no Docker API); None if unread."""
        from soakgate.adapters.stage.api_fallback import ssh_of

        engine = self.engines[host]
        if ssh_of(engine) is None:
            return None
        try:
            with engine.io.guarded():
                return engine.upstream()
        except SoakgateError:
            return None

    # --- switching -----------------------------------------------------------------------
    def switch(self, move: Switch) -> float:
        """Switch every host that answered the last read to ``move.slot`` at once, each a
        compare-and-swap against its own upstream as read then; the seconds until the last
        of them served from it. The first refusal itself when every host refused (nothing
        moved); else PartialSwitch naming the hosts that did not switch, also when one was
        lost mid-switch (it may have moved: the journal stays, the re-run reads the truth)."""
        hosts = [host for host in self.engines if host not in self.unreachable]

        def one(host: str) -> float | SoakgateError:
            engine = self.engines[host]
            expect = move.expect if move.expect is not None else self.upstreams.get(host)
            try:
                with engine.io.guarded():
                    return engine.switch(replace(move, expect=expect))
            except SoakgateError as failed:
                return failed

        outcomes = dict(zip(hosts, each(one, hosts), strict=True))
        failed = {h: o for h, o in outcomes.items() if isinstance(o, SoakgateError)}
        done = [o for o in outcomes.values() if not isinstance(o, SoakgateError)]
        refused = [f for f in failed.values() if isinstance(f, SwitchRefused)]
        if not done and failed and len(refused) == len(failed) and not self.unreachable:
            raise refused[0]
        expect_from = move.expect.digest if move.expect is not None else self._agreed_active()
        unreachable = dict(self.unreachable)
        for host, outcome in self._by_runbook(list(unreachable), move, expect_from).items():
            if isinstance(outcome, SoakgateError):
                unreachable[host] = f"{unreachable[host]}; the runbook's flip: {outcome.message}"
            else:
                done.append(outcome)
                del unreachable[host]
        problems = {**unreachable, **{h: f.message for h, f in failed.items()}}
        if problems:
            raise PartialSwitch(
                f"{len(done)} of {len(self.engines)} hosts of {self.stage} switched to"
                f" {move.slot} ({digest_ref(move.digest)}); not: "
                + "; ".join(f"{host}: {why}" for host, why in problems.items()),
                hint="when those hosts answer, run the same command again: it converges them",
            )
        return max(done)

    def _by_runbook(
        self, hosts: list[str], move: Switch, expect_from: str | None
    ) -> dict[str, float | SoakgateError]:
        """The hosts among ``hosts`` whose SSH is up although their Docker API did not answer,
        flipped by the host-side runbook (see api_fallback); each one's seconds, or why not."""
        from soakgate.adapters.stage.api_fallback import fallback_flip, ssh_of

        open_ = [host for host in hosts if ssh_of(self.engines[host]) is not None]

        def one(host: str) -> float | SoakgateError:
            try:
                record = fallback_flip(self.engines[host], move, expect_from)
            except SoakgateError as failed:
                return failed
            self.warn(
                f"{host}: its Docker API did not answer, so the host-side runbook flipped it over"
                f" SSH ({record['from']} → {record['to']}, {record['seconds']} s)"
            )
            return float(record["flip_seconds"])

        return dict(zip(open_, each(one, open_), strict=True))

    def converge(self, release: str, port: int, health_path: str) -> list[str]:
        """Switch each host not yet serving ``release`` to its slot that runs it (a split
        left by a partial switch); the hosts switched. Nothing when no host serves it yet;
        PartialSwitch when some cannot be."""
        readouts = self.readouts()
        if not any(
            r.table is not None
            and r.table.active_slot is not None
            and r.table.active_slot.digest == release
            for r in readouts
        ):
            return []  # no host switched yet: not a split, nothing to finish
        problems = {r.host: r.problem for r in readouts if r.table is None}
        for host in list(problems):  # its API does not answer: its proxy's file may say done
            upstream = self._upstream_over_ssh(host)
            if upstream is not None and upstream.digest == release:
                del problems[host]
        behind = []
        for readout in readouts:
            table = readout.table
            if table is None:
                continue
            active = table.active_slot
            if active is not None and active.digest == release:
                continue
            holding = [
                name
                for name in SLOTS
                if table.slot(name).digest == release and table.slot(name).running
            ]
            if not holding:
                problems[readout.host] = f"no running slot holds {digest_ref(release)}"
                continue
            behind.append((readout.host, holding[0], readout.upstream))

        def one(item: tuple[str, str, UpstreamTarget | None]) -> str:
            host, slot, upstream = item
            engine = self.engines[host]
            try:
                with engine.io.guarded():
                    engine.switch(Switch(slot, release, port, health_path, expect=upstream))
            except SoakgateError as failed:
                return failed.message
            return ""

        for (host, _, _), problem in zip(behind, each(one, behind), strict=True):
            if problem:
                problems[host] = problem
        away = [r.host for r in readouts if r.table is None and r.host in problems]
        move = Switch(SLOTS[0], release, port, health_path)  # the runbook flips to the warm slot
        for host, outcome in self._by_runbook(away, move, None).items():
            if not isinstance(outcome, SoakgateError):
                del problems[host]
                behind.append((host, "", None))
        if problems:
            raise PartialSwitch(
                f"{self.stage} is still split: "
                + "; ".join(f"{host}: {why}" for host, why in problems.items()),
                hint="when those hosts answer, run the same command again: it converges them",
            )
        return [host for host, _, _ in behind]
