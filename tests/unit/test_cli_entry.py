"""Only a plain emergency rollback takes the fast path; anything else goes the normal way."""

from __future__ import annotations

import pytest

from soakgate.cli.entry import _plain_emergency


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["rollback", "production", "--emergency"], ("production", "manual rollback")),
        (["rollback", "--emergency", "staging"], ("staging", "manual rollback")),
        (["rollback", "dev", "--emergency", "--reason", "bad deploy"], ("dev", "bad deploy")),
        (["rollback", "dev"], None),
        (["rollback", "dev", "--emergency", "--dry-run"], None),
        (["rollback", "dev", "--emergency", "--to", "sha256:ab"], None),
        (["rollback", "--emergency"], None),
        (["rollback", "dev", "--emergency", "--reason"], None),
        (["deploy", "dev", "--emergency"], None),
        (["-v", "rollback", "dev", "--emergency"], None),
    ],
)
def test_fast_path_selection(argv: list[str], expected: tuple[str, str] | None) -> None:
    assert _plain_emergency(argv) == expected
