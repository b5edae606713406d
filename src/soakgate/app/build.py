"""Use case: build the service's images through the dev stack (same program as ``pulumi up``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from soakgate.adapters.stage.stages import PulumiStacks
from soakgate.core.project import Project
from soakgate.errors import ConfigError
from soakgate.pulumi.service_image import base_image

BUILD_STACK = "dev"


@dataclass(frozen=True)
class BuiltImage:
    python: str
    digest: str
    tags: tuple[str, ...]
    variants: tuple[tuple[str, str], ...] = ()  # (name, digest) of its variant images


def preflight(project: Project) -> None:
    """Refuse before Pulumi starts: a missing Dockerfile or base image."""
    config = project.config
    context = project.root / config.service.context
    if not (context / config.service.dockerfile).is_file():
        raise ConfigError(
            f"service.dockerfile: {context / config.service.dockerfile} does not exist",
            hint="fix service.context / service.dockerfile in soakgate.toml",
        )
    for python in config.images.pythons:
        base_image(f"{config.images.base_prefix}:{python}")


def build(project: Project, on_event: Callable[[Any], None] | None = None) -> list[BuiltImage]:
    """Run ``up`` on the dev stack, which builds (or finds unchanged) every configured image."""
    preflight(project)
    built = PulumiStacks(project.root).build_images(BUILD_STACK, on_event)
    return [
        BuiltImage(
            python,
            str(entry["digest"]),
            tuple(entry["tags"]),
            tuple(sorted((str(k), str(v)) for k, v in (entry.get("variants") or {}).items())),
        )
        for python, entry in sorted(built.items())
    ]
