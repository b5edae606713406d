"""Image benchmark: cold build of both service images, rebuild after an app-only change,
base image sizes and each service image's size over its base.

    .venv/bin/python -m bench.images      # writes bench/results/images.json
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import summary, timed, toolchain_env, write_result
from soakgate.adapters.config_file import load_config
from soakgate.adapters.docker import engine as docker_engine
from soakgate.pulumi.image import build_image
from soakgate.pulumi.service_image import ServiceImageArgs, image_args
from soakgate.scratch import make_scratch

TARGETS = {"rebuild_seconds": 8.0, "base_mb": 140.0, "service_over_base_mb": 40.0}
REBUILD_RUNS = 3


def main() -> None:
    env = toolchain_env()
    engine = docker_engine.client()
    with tempfile.TemporaryDirectory(prefix="bench-images-") as work:
        project = make_scratch(Path(work), env, with_service=True)
        config = load_config(project.root)
        cold = {}
        for python in config.images.pythons:
            args = image_args(ServiceImageArgs(project=project.root, config=config, python=python))
            props = {**args.__dict__, "no_cache": True}
            cold[python] = round(timed(lambda props=props: build_image(props)), 2)
        first = project.soakgate("build", timeout=1200)
        assert first.returncode == 0, first.stderr
        rebuilds = []
        app = project.root / "images" / "service" / "app" / "work.py"
        for run in range(REBUILD_RUNS):
            app.write_text(app.read_text() + f"\n# app-only change {run}\n")
            up = project.pulumi  # the user's path: plain pulumi up after editing the service
            rebuilds.append(timed(lambda up=up: up("up", "--yes", "--stack", "dev")))
        per_image: dict[str, list[float]] = {python: [] for python in config.images.pythons}
        for run in range(REBUILD_RUNS):
            app.write_text(app.read_text() + f"\n# engine-only change {run}\n")
            for python in config.images.pythons:
                args = image_args(
                    ServiceImageArgs(project=project.root, config=config, python=python)
                )
                per_image[python].append(timed(lambda args=args: build_image(args.__dict__)))
        sizes = {}
        for python in config.images.pythons:
            base = engine.images.get(f"{config.images.base_prefix}:{python}")
            service = engine.images.get(f"{config.service.image}:py{python}")
            sizes[python] = {
                "base_mb": round(base.attrs["Size"] / 1e6, 1),
                "service_mb": round(service.attrs["Size"] / 1e6, 1),
                "service_over_base_mb": round(
                    (service.attrs["Size"] - base.attrs["Size"]) / 1e6, 1
                ),
            }
        project.destroy(engine)
    rebuild = summary(rebuilds)
    write_result(
        "images",
        {
            "cold_build_seconds": cold,
            "cold_build_note": "classic builder, no layer cache, wheelhouse present",
            "rebuild_after_app_change_seconds": rebuild,
            "rebuild_note": "plain `pulumi up --stack dev` after one edited line: both images",
            "rebuild_one_image_seconds": {
                python: summary(runs) for python, runs in per_image.items()
            },
            "rebuild_one_image_note": "the engine's build alone, after one edited line",
            "sizes": sizes,
            "targets": TARGETS,
            "within_targets": {
                "rebuild": rebuild["median"] <= TARGETS["rebuild_seconds"],
                "rebuild_one_image": all(
                    summary(runs)["median"] <= TARGETS["rebuild_seconds"]
                    for runs in per_image.values()
                ),
                "base_size": all(s["base_mb"] <= TARGETS["base_mb"] for s in sizes.values()),
                "service_over_base": all(
                    s["service_over_base_mb"] <= TARGETS["service_over_base_mb"]
                    for s in sizes.values()
                ),
            },
        },
    )


if __name__ == "__main__":
    main()
