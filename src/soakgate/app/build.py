"""Use case: build the service's images through the dev stack (same program as ``pulumi up``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from soakgate.adapters.pulumi_stacks import error_summary, select_stack
from soakgate.errors import SoakgateError

BUILD_STACK = "dev"


@dataclass(frozen=True)
class BuiltImage:
    python: str
    digest: str
    tags: tuple[str, ...]


def build(project: Path, on_event: Callable[[Any], None] | None = None) -> list[BuiltImage]:
    """Run ``up`` on the dev stack, which builds (or finds unchanged) every configured image."""
    stack = select_stack(project, BUILD_STACK)
    try:
        result = stack.up(on_event=on_event, color="never")
    except auto.errors.CommandError as error:
        raise SoakgateError(
            f"build failed:\n{error_summary(error)}",
            hint="fix the build, then run soakgate build again",
        ) from None
    images = result.outputs.get("images")
    built = images.value if images else {}
    return [
        BuiltImage(python, str(entry["digest"]), tuple(entry["tags"]))
        for python, entry in sorted(built.items())
    ]
