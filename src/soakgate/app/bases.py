"""Use case: make the base images ``<prefix>:3.12`` and ``<prefix>:3.14`` (or pull them).

An image whose ``soakgate.recipe`` label equals the recipe's hash is up to date and is not
built again. Every version is attempted; failures are reported in the results, not raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from soakgate.core.base_recipes import (
    BaseImage,
    BaseRecipe,
    LocalPython,
    recipe_for,
    recipe_hash,
    validate_name_prefix,
    validate_versions,
)
from soakgate.errors import ConfigError, SoakgateError

Progress = Callable[[str], None]

BUILT = "built"
UP_TO_DATE = "up to date"
PULLED = "pulled"
FAILED = "failed"


class BaseBuilder(Protocol):
    """The port that finds Python, inspects, builds and pulls images (adapters.rootfs)."""

    def find_cpython(self, path: Path | None) -> LocalPython: ...

    def source_id(self, recipe: BaseRecipe, python: LocalPython | None) -> str: ...

    def inspect(self, reference: str) -> BaseImage | None: ...

    def pull(self, version: str, reference: str) -> BaseImage: ...

    def build(
        self,
        recipe: BaseRecipe,
        reference: str,
        digest: str,
        python: LocalPython | None,
        progress: Progress,
    ) -> BaseImage: ...


@dataclass(frozen=True)
class BaseResult:
    """What happened to one base image."""

    version: str
    reference: str
    state: str
    seconds: float
    image: BaseImage | None = None
    error: SoakgateError | None = None


def _one(
    version: str,
    name_prefix: str,
    python312_path: Path | None,
    from_registry: bool,
    builder: BaseBuilder,
    progress: Progress,
    rebuild: bool,
    epoch: int | None,
) -> tuple[str, BaseImage]:
    recipe = recipe_for(version)
    if epoch is not None:
        recipe = recipe.with_epoch(epoch)
    reference = recipe.reference(name_prefix)
    if from_registry:
        progress(f"pull python:{version}-slim as {reference}")
        return PULLED, builder.pull(version, reference)
    python = builder.find_cpython(python312_path) if recipe.source == "local" else None
    digest = recipe_hash(recipe, builder.source_id(recipe, python))
    existing = builder.inspect(reference)
    if not rebuild and existing is not None and existing.recipe == digest:
        return UP_TO_DATE, existing
    return BUILT, builder.build(recipe, reference, digest, python, progress)


def make_bases(
    versions: Sequence[str],
    name_prefix: str,
    python312_path: Path | None,
    from_registry: bool,
    *,
    builder: BaseBuilder,
    progress: Progress | None = None,
    rebuild: bool = False,
    epoch: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[BaseResult]:
    """Make (or pull) the base image of each version; return one result per version.

    Unknown versions or a bad name prefix raise :class:`ConfigError` before anything runs.
    """
    try:
        chosen = validate_versions(list(versions))
    except ValueError as exc:
        raise ConfigError(str(exc), hint="e.g. --python 3.12 --python 3.14") from exc
    try:
        validate_name_prefix(name_prefix)
    except ValueError as exc:
        raise ConfigError(str(exc), hint="e.g. --name-prefix soakgate/python") from exc
    results = []
    for version in chosen:

        def say(message: str, version: str = version) -> None:
            if progress is not None:
                progress(f"{version}: {message}")

        reference = f"{name_prefix}:{version}"
        started = clock()
        try:
            state, image = _one(
                version, name_prefix, python312_path, from_registry, builder, say, rebuild, epoch
            )
        except SoakgateError as error:
            results.append(BaseResult(version, reference, FAILED, clock() - started, error=error))
            continue
        results.append(BaseResult(version, image.reference, state, clock() - started, image))
    return results
