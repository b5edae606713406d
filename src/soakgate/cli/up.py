"""``soakgate up`` (the main job on local defaults) and ``soakgate build`` (the service's
images, through the dev stack)."""

from __future__ import annotations

from typing import Annotated

import typer

from soakgate.cli.options import warn
from soakgate.cli.output import console
from soakgate.cli.project import current_project
from soakgate.errors import ConfigError


def up(
    python: Annotated[str, typer.Option(help="Which release to run in dev.")] = "3.14",
) -> None:
    """The main job on local defaults: base images, both service images, dev deployed."""
    from soakgate.adapters.images.proxy_image import make_proxy_image
    from soakgate.adapters.images.rootfs import DebootstrapBuilder
    from soakgate.app.bases import make_bases
    from soakgate.app.build import build as run_build
    from soakgate.app.deploy import DeployRequest
    from soakgate.app.deploy import deploy as run_deploy
    from soakgate.cli.progress import PulumiProgress
    from soakgate.cli.stages import render_stages, stage_views, verify_stage

    project = current_project()
    images = project.config.images
    if python not in images.pythons:
        raise ConfigError(
            f"--python {python}: not one of the built Pythons ({', '.join(images.pythons)})",
            hint="pick one of them, or add it to [images] pythons in soakgate.toml",
        )
    with console.status("base images (debootstrap + docker import; minutes the first time)"):
        results = make_bases(
            images.pythons, images.base_prefix, None, False, builder=DebootstrapBuilder()
        )
        for result in results:
            if result.error is not None:
                raise result.error
        make_proxy_image()
    console.print("base images: " + ", ".join(f"{r.reference} ({r.state})" for r in results))
    with PulumiProgress(console, "building images") as progress:
        built = run_build(project, on_event=progress)
    for image in built:
        console.print(f"Python {image.python}: {image.digest}")
    with PulumiProgress(console, "deploying to dev") as progress:
        run_deploy(project, DeployRequest("dev", python=python), on_event=progress, warn=warn)
    console.print(render_stages(stage_views(["dev"])))
    verify_stage("dev")


def build() -> None:
    """Build the service's images for every configured Python (through the dev stack)."""
    from soakgate.app.build import build as run_build
    from soakgate.cli.progress import PulumiProgress

    with PulumiProgress(console, "building images") as progress:
        built = run_build(current_project(), on_event=progress)
    for image in built:
        console.print(f"Python {image.python}: {image.digest}  {' '.join(image.tags)}")
        for name, digest in image.variants:
            console.print(f"  variant {name}: {digest}")
