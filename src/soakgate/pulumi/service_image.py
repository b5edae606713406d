"""``ServiceImage``: the service's image for one Python version, built on a local base image.

Reads the base image's id and full Python version from the engine, makes sure the per-Python
wheelhouse is in the build context, and declares an :class:`~soakgate.pulumi.image.Image`
whose ``context_hash`` covers everything the build reads.

    ServiceImage("service-py3.14", ServiceImageArgs(project=root, config=cfg, python="3.14"))
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pulumi

from soakgate.adapters.docker import engine as docker_engine
from soakgate.adapters.images.build_context import context_hash, source_revision
from soakgate.adapters.images.wheelhouse import WHEELHOUSE, download_wheelhouse, pip_pins
from soakgate.core.config import ProjectConfig
from soakgate.core.names import LABEL_PYTHON
from soakgate.core.variants import (
    JIT,
    LABEL_VARIANT,
    LABEL_VARIANT_OF,
    variant_dockerfile,
    variant_environment,
)
from soakgate.errors import ConfigError
from soakgate.pulumi.image import Image, ImageArgs


@dataclass
class ServiceImageArgs:
    project: Path
    config: ProjectConfig
    python: str  # "3.12" or "3.14"


def base_image(reference: str) -> tuple[str, str]:
    """Return (id, full Python version) of a base image, or fail naming the fix."""
    import docker.errors  # on first use: see soakgate.adapters.docker.engine

    try:
        image = docker_engine.client().images.get(reference)
    except docker.errors.ImageNotFound:
        raise ConfigError(
            f"base image {reference} not found", hint="make it with: soakgate images bases"
        ) from None
    return str(image.id), str((image.labels or {}).get(LABEL_PYTHON, ""))


def readiness_preflight(requirements: Path, python: str) -> None:
    """Before a wheelhouse is downloaded: its pins' readiness for ``python``, so that a
    package with no wheel for it is refused with the readiness table (cached per index state
    in the project's state), not by pip at the first such pin."""
    from soakgate.adapters.state.db import cache_dir
    from soakgate.app.readiness import CACHE, check_buildable

    check_buildable(requirements, python, cache_dir(CACHE))


def image_args(args: ServiceImageArgs) -> ImageArgs:
    """Everything the build of one Python version reads, resolved now (also in preview)."""
    service = args.config.service
    context = (args.project / service.context).resolve()
    if not (context / service.dockerfile).is_file():
        raise ConfigError(
            f"service.dockerfile: {context / service.dockerfile} does not exist",
            hint="fix service.context / service.dockerfile in soakgate.toml",
        )
    base = f"{args.config.images.base_prefix}:{args.python}"
    base_id, python_full = base_image(base)
    # Every version's wheelhouse first: the build context holds all of them, so hashing it
    # before the last one is downloaded would change the hash on the next run (a rebuild).
    # A standard-library service (requirements = []) has none: its Dockerfile installs nothing.
    for python in args.config.images.pythons if service.requirements else ():
        download_wheelhouse(
            context / service.requirements[0],
            python,
            context / WHEELHOUSE,
            pip_requirements=pip_pins(context, dict(enumerate(service.requirements)).get(1)),
            preflight=readiness_preflight,
        )
    revision, created = source_revision(context)
    build_args = {
        "BASE_IMAGE": base,
        "PYTHON_VERSION": args.python,
        "APP_VERSION": service.version,
        "SOURCE_REVISION": revision,
        "CREATED": created,
    }
    digest = context_hash(context, service.dockerfile, build_args, base_id)
    return ImageArgs(
        context=str(context),
        dockerfile=service.dockerfile,
        tags=[
            f"{service.image}:py{args.python}",
            f"{service.image}:{service.version}-py{args.python}-{digest[:12]}",
        ],
        context_hash=digest,
        build_args=build_args,
        python=python_full or args.python,
        app_version=service.version,
    )


def variant_args(args: ServiceImageArgs, release: ImageArgs, name: str) -> ImageArgs | None:
    """The variant image ``name`` of the release ``release`` describes: its image with the
    variant's environment set; None for a JIT variant on an interpreter without the JIT."""
    from soakgate.adapters.images.interpreter_info import build_of

    if (
        name == JIT
        and not build_of(f"{args.config.images.base_prefix}:{args.python}").jit_available
    ):
        pulumi.log.info(f"no {name} variant of the Python {args.python} image: no JIT in its base")
        return None
    release_image = release.tags[-1]
    text = variant_dockerfile(
        release_image, variant_environment(name, args.config.service.variants)
    )
    digest = hashlib.sha256(f"{release.context_hash}\n{text}".encode()).hexdigest()
    return ImageArgs(
        context="",
        dockerfile_text=text,
        tags=[
            f"{args.config.service.image}:py{args.python}-{name}",
            f"{release_image}-{name}",
        ],
        context_hash=digest,
        labels={LABEL_VARIANT: name, LABEL_VARIANT_OF: release_image},
        python=release.python,
        app_version=release.app_version,
        variant=name,
        variant_of=release_image,
    )


class ServiceImage(pulumi.ComponentResource):
    """One Python version's image of the service and its variant images
    (``[images] variants``); exports ``digest``, ``tags`` and ``variants`` (name: digest)."""

    def __init__(
        self, name: str, args: ServiceImageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("soakgate:index:ServiceImage", name, None, opts)
        resolved = image_args(args)
        self.image = Image(f"{name}-image", resolved, pulumi.ResourceOptions(parent=self))
        self.digest = self.image.digest
        self.tags = resolved.tags
        self.python_full = self.image.python_full
        self.variants: dict[str, pulumi.Output[str]] = {}
        for variant in args.config.images.variants:
            declared = variant_args(args, resolved, variant)
            if declared is not None:
                self.variants[variant] = Image(
                    f"{name}-{variant}",
                    declared,
                    pulumi.ResourceOptions(parent=self, depends_on=[self.image]),
                ).digest
        self.register_outputs({"digest": self.digest, "tags": self.tags, "variants": self.variants})
