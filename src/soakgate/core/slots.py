"""Blue/green slots of a stage, and what a deploy of a release must do to them.

table = SlotTable(blue=Slot("blue", "c1", "sha256:a", "s1"), green=EMPTY_GREEN, active="blue")
plan_deploy(table, Desired("sha256:b", "s1"))    # deploy into green, then switch
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

SLOTS = ("blue", "green")


@dataclass(frozen=True)
class Slot:
    """One app container of a stage: which release it runs, made from which spec."""

    name: str
    container: str | None = None  # container id; None when the slot is empty
    digest: str | None = None
    spec_hash: str | None = None
    running: bool = False

    @property
    def empty(self) -> bool:
        return self.container is None


@dataclass(frozen=True)
class SlotTable:
    blue: Slot
    green: Slot
    active: str | None  # "blue", "green", or None before the first deploy

    def slot(self, name: str) -> Slot:
        if name not in SLOTS:
            raise ValueError(f"no slot {name!r}")
        return self.blue if name == "blue" else self.green

    @property
    def active_slot(self) -> Slot | None:
        return self.slot(self.active) if self.active else None

    @property
    def inactive_name(self) -> str:
        return "green" if self.active == "blue" else "blue"

    def with_slot(self, slot: Slot) -> SlotTable:
        if slot.name == "blue":
            return replace(self, blue=slot)
        return replace(self, green=slot)


EMPTY = SlotTable(Slot("blue"), Slot("green"), None)


@dataclass(frozen=True)
class Desired:
    """The release a stage should run, and the hash of the container spec to run it with."""

    digest: str
    spec_hash: str


class Action(Enum):
    NONE = "none"  # the active slot already runs it
    SWITCH = "switch"  # the warm slot runs it: switch traffic only
    DEPLOY = "deploy"  # start it in the inactive slot, wait for health, switch


@dataclass(frozen=True)
class Plan:
    action: Action
    slot: str
    reason: str


def _runs(slot: Slot | None, desired: Desired) -> bool:
    return (
        slot is not None
        and not slot.empty
        and slot.running
        and slot.digest == desired.digest
        and slot.spec_hash == desired.spec_hash
    )


def plan_deploy(table: SlotTable, desired: Desired) -> Plan:
    """Decide the smallest change that makes ``desired`` the release receiving traffic."""
    active = table.active_slot
    if active is not None and _runs(active, desired):
        return Plan(Action.NONE, active.name, "the active slot already runs this release")
    target = table.inactive_name
    if active is not None and _runs(table.slot(target), desired):
        return Plan(Action.SWITCH, target, f"the warm {target} slot runs this release")
    return Plan(Action.DEPLOY, target, f"start the release in the {target} slot")
