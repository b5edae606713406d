"""What a stack of the soakgate project is made of, read from its stack config.

Kept apart from ``infra/__main__.py`` so the program stays thin and nothing is created at
import time.
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from soakgate.adapters.config_file import load_config, load_project
from soakgate.adapters.envfile import find_project
from soakgate.app.admission import check_stack_release
from soakgate.core.admission import incoming
from soakgate.core.names import LABEL_STACK
from soakgate.errors import ConfigError
from soakgate.pulumi.container import Container, ContainerArgs
from soakgate.pulumi.service_image import ServiceImage, ServiceImageArgs
from soakgate.pulumi.stage import Stage
from soakgate.pulumi.stage_config import stage_args


def define_stack() -> None:
    """Declare the resources of the current stack from its ``soakgate:*`` config."""
    config = pulumi.Config("soakgate")
    stack = pulumi.get_stack()
    project = find_project() or Path.cwd()
    pulumi.export("stack", stack)
    pulumi.export("stage", config.get("stage") or stack)
    built = build_images(project) if config.get_bool("buildImages") else {}
    release = config.get("release")
    if release:
        deploy_stage(project, config)
    elif config.get("python") in built:
        # a fresh clone's dev stack: deploy what it just built for soakgate:python
        deploy_stage(project, config, built[config.get("python") or ""])
    probe_image = config.get("probeImage")
    if probe_image:
        # A bare container on the engine: lets a throwaway stack prove the toolchain end to end.
        probe = Container(
            "probe",
            ContainerArgs(
                image=probe_image,
                name=f"soakgate-probe-{stack}",
                command=["sleep", "3600"],
                labels={LABEL_STACK: stack},
                restart="no",
            ),
        )
        pulumi.export("probe_container_id", probe.container_id)


def build_images(project: Path) -> dict[str, pulumi.Output[str]]:
    """Build the service for every configured Python; export digests and tags per version;
    return the digest of each."""
    settings = load_config(project)
    images = {}
    digests = {}
    for python in settings.images.pythons:
        image = ServiceImage(
            f"service-py{python}", ServiceImageArgs(project=project, config=settings, python=python)
        )
        images[python] = {
            "digest": image.digest,
            "tags": image.tags,
            "python": image.python_full,
            "variants": image.variants,
        }
        digests[python] = image.digest
    pulumi.export("images", images)
    return digests


def deploy_stage(
    project: Path, config: pulumi.Config, built: pulumi.Output[str] | None = None
) -> None:
    """Run the configured release (or the image ``built`` in this update) in the stage's
    blue/green slots behind its proxy, when its gates admit it: checked before any resource
    is declared, so a refused preview changes nothing."""
    args = stage_args(project, config, built)
    if isinstance(args.release, str):
        check_stack_release(load_project(project), args.stage, args.release)
    elif incoming(args.stage) is not None:
        raise ConfigError(
            f"Pulumi.{args.stage}.yaml: {args.stage} deploys only a gated, recorded release",
            hint=f"promote one into it: soakgate promote ... {args.stage}",
        )
    stage = Stage(args.stage, args)
    pulumi.export("url", stage.url)
    pulumi.export("release", args.release)
    pulumi.export("python", config.get("python") or "")
    pulumi.export("active", stage.slots.active)
    pulumi.export("active_release", stage.slots.active_release)
    pulumi.export("warm_release", stage.slots.warm_release)
    pulumi.export("slots", stage.slots.slots)
