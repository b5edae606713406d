"""Which steps a deploy takes, decided from the slot table alone."""

from __future__ import annotations

import pytest

from soakgate.core.slots import EMPTY, Action, Desired, Slot, SlotTable, plan_deploy

A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def running(name: str, digest: str, spec: str = "s1") -> Slot:
    return Slot(name, f"id-{name}", digest, spec, running=True)


def test_first_deploy_goes_to_blue() -> None:
    plan = plan_deploy(EMPTY, Desired(A, "s1"))
    assert (plan.action, plan.slot) == (Action.DEPLOY, "blue")


def test_same_release_on_active_slot_is_no_change() -> None:
    table = SlotTable(running("blue", A), Slot("green"), "blue")
    assert plan_deploy(table, Desired(A, "s1")).action is Action.NONE


def test_new_release_goes_to_the_inactive_slot() -> None:
    table = SlotTable(running("blue", A), running("green", B), "green")
    plan = plan_deploy(table, Desired("sha256:" + "c" * 64, "s1"))
    assert (plan.action, plan.slot) == (Action.DEPLOY, "blue")


def test_release_in_warm_slot_is_a_switch() -> None:
    table = SlotTable(running("blue", A), running("green", B), "blue")
    plan = plan_deploy(table, Desired(B, "s1"))
    assert (plan.action, plan.slot) == (Action.SWITCH, "green")


def test_stopped_warm_slot_is_redeployed_not_switched_to() -> None:
    table = SlotTable(running("blue", A), Slot("green", "id", B, "s1", running=False), "blue")
    assert plan_deploy(table, Desired(B, "s1")).action is Action.DEPLOY


def test_spec_change_redeploys_the_same_release() -> None:
    table = SlotTable(running("blue", A, "s1"), Slot("green"), "blue")
    plan = plan_deploy(table, Desired(A, "s2"))
    assert (plan.action, plan.slot) == (Action.DEPLOY, "green")


def test_active_slot_that_stopped_is_redeployed() -> None:
    table = SlotTable(Slot("blue", "id", A, "s1", running=False), Slot("green"), "blue")
    assert plan_deploy(table, Desired(A, "s1")).action is Action.DEPLOY


def test_unknown_slot_name_is_refused() -> None:
    with pytest.raises(ValueError, match="no slot"):
        EMPTY.slot("red")
