"""The BlueGreen resource's outputs: never null, and read back into the same slot table."""

from __future__ import annotations

from soakgate.core.slots import Slot, SlotTable
from soakgate.pulumi.blue_green import table_from_outputs, table_outputs

BLUE = Slot("blue", "c1", "sha256:a", "s1", running=True)
GREEN = Slot("green", "c2", "sha256:b", "s1", running=True)


def test_a_stage_without_a_warm_slot_has_empty_strings_not_nulls() -> None:
    # Pulumi drops null outputs; the preview then shows them as unknown, a phantom change.
    outs = table_outputs(SlotTable(BLUE, Slot("green"), "blue"))
    assert outs["warm_release"] == ""
    assert outs["active_release"] == "sha256:a"
    assert None not in (outs["active"], outs["active_release"], outs["warm_release"])


def test_a_stage_before_its_first_deploy_has_no_active_slot() -> None:
    outs = table_outputs(SlotTable(Slot("blue"), Slot("green"), None))
    assert (outs["active"], outs["active_release"], outs["warm_release"]) == ("", "", "")
    assert table_from_outputs(outs).active is None


def test_outputs_read_back_into_the_same_table() -> None:
    table = SlotTable(BLUE, GREEN, "green")
    outs = table_outputs(table)
    assert outs["warm_release"] == "sha256:a"
    assert table_from_outputs(outs) == table
