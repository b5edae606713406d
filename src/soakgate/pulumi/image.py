"""``Image``: a Docker image built by the engine's classic builder, as a dynamic resource.

Property names follow ``pulumi_docker_build.Image`` where they overlap (``context``,
``dockerfile``, ``tags``, ``build_args``, ``labels``, ``target``; output ``digest``). Its diff is
``context_hash`` (context honouring .dockerignore, Dockerfile, build args, base image id), so
``pulumi up`` rebuilds only when one of them changed. Build output streams to the Pulumi log.
The build is tagged only once it succeeded, so a failed build leaves the previous images and
tags as they were. Each build becomes a release in soakgate's state database.

    Image("py3.14", ImageArgs(context="/repo/images/service", tags=["svc:py3.14"], ...))
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from typing import Any

import pulumi
from pulumi.dynamic import (
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from soakgate.adapters.docker import engine as docker_engine
from soakgate.adapters.state.db import state_dir
from soakgate.adapters.state.ledger import LedgerStore
from soakgate.adapters.state.releases import StateDB
from soakgate.core.names import LABEL_PYTHON
from soakgate.core.release import Release
from soakgate.core.variants import BuiltVariant
from soakgate.errors import SoakgateError

BUILD_INPUTS = (
    "context",
    "dockerfile",
    "dockerfile_text",
    "tags",
    "build_args",
    "labels",
    "target",
    "context_hash",
)
LOG_TAIL = 15


@dataclass
class ImageArgs:
    context: str
    tags: list[str]
    context_hash: str
    dockerfile: str = "Dockerfile"
    build_args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    target: str = ""
    python: str = ""  # full version of the base image's Python, e.g. "3.14.0"
    no_cache: bool = False
    app_version: str = ""
    dockerfile_text: str = ""  # a Dockerfile with no context (a variant image), else ""
    variant: str = ""  # the variant's name when this image is a variant of a release
    variant_of: str = ""  # then: the release image's unique tag


class BuildFailed(Exception):
    """The engine refused the build; the message carries the step and the log's tail."""


def build_image(props: dict[str, Any]) -> tuple[str, list[str]]:
    """Build without tags, streaming the log; return (image id, log lines)."""
    api = docker_engine.client().api
    lines: list[str] = []
    image_id = ""
    text = props.get("dockerfile_text") or ""
    source: dict[str, Any] = (
        {"fileobj": io.BytesIO(text.encode())}
        if text
        else {"path": props["context"], "dockerfile": props.get("dockerfile") or "Dockerfile"}
    )
    stream = api.build(
        **source,
        buildargs=props.get("build_args") or {},
        labels=props.get("labels") or {},
        target=props.get("target") or None,
        rm=True,
        forcerm=True,  # no intermediate containers left behind, also on failure
        nocache=bool(props.get("no_cache")),
        pull=False,
        decode=True,
    )
    for chunk in stream:
        if "stream" in chunk:
            for line in chunk["stream"].splitlines():
                if line.strip():
                    lines.append(line)
                    pulumi.log.info(line)
        if "aux" in chunk and "ID" in chunk["aux"]:
            image_id = chunk["aux"]["ID"]
        if "error" in chunk:
            tail = "\n".join(lines[-LOG_TAIL:])
            raise BuildFailed(
                f"docker build of {props['tags'][0]} failed: {chunk['error'].strip()}\n{tail}"
            )
    if not image_id:
        raise BuildFailed(f"docker build of {props['tags'][0]} reported no image id")
    return image_id, lines


def _release(props: dict[str, Any], image: Any) -> Release:
    labels = image.labels or {}
    return Release(
        digest=image.id,
        python=props.get("python") or labels.get(LABEL_PYTHON, ""),
        app_version=labels.get("org.opencontainers.image.version", props.get("app_version", "")),
        revision=labels.get("org.opencontainers.image.revision", ""),
        created=labels.get("org.opencontainers.image.created", ""),
        size=int(image.attrs.get("Size", 0)),
        image=props["tags"][-1],
    )


def _outputs(props: dict[str, Any], image: Any) -> dict[str, Any]:
    release = _release(props, image)
    return {
        **props,
        "digest": image.id,
        "ref": f"{props['tags'][-1]}@{image.id}",
        "size": release.size,
        "python_full": release.python,
    }


def record_build(release: Release, variant: BuiltVariant | None = None) -> None:
    """Every build on the ledger: digest, Python, revision, who (and of a variant image, its
    name and release). A ledger that cannot take it is a warning: the image is built and
    recorded either way."""
    extra = {"variant": variant.name, "of": variant.of_release} if variant else {}
    try:
        with LedgerStore.open(state_dir()) as ledger:
            ledger.append(
                "build",
                to_release=release.digest,
                data={
                    "python": release.python,
                    "revision": release.revision,
                    "version": release.app_version,
                    "image": release.image,
                    **extra,
                },
            )
    except (SoakgateError, OSError) as exc:
        pulumi.log.warn(f"the build of {release.short} is not on the ledger: {exc}")


class ImageProvider(ResourceProvider):
    """Builds, diffs, reads and untags one image through the Docker API."""

    def _build(self, props: dict[str, Any]) -> dict[str, Any]:
        image_id, _ = build_image(props)
        engine = docker_engine.client()
        image = engine.images.get(image_id)
        for tag in props["tags"]:
            repository, _, version = tag.rpartition(":")
            image.tag(repository, version)
        image.reload()
        release = _release(props, image)
        if props.get("variant"):
            variant = BuiltVariant(
                image.id,
                str(engine.images.get(props["variant_of"]).id),
                props["variant"],
                release.image,
            )
            with StateDB.open() as db:
                db.record_variant(variant)
            record_build(release, variant)
        else:
            with StateDB.open() as db:
                db.record_release(release)
            record_build(release)
        return _outputs(props, image)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=props["tags"][0], outs=self._build(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [key for key in BUILD_INPUTS if olds.get(key) != news.get(key)]
        if olds.get("digest") is None:
            changed.append("digest")  # refresh found the image gone
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._build(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        import docker.errors  # on first use: see soakgate.adapters.docker.engine

        try:
            image = docker_engine.client().images.get(id_)
        except docker.errors.ImageNotFound:
            return ReadResult(id_=id_, outs={**props, "digest": None})
        return ReadResult(id_=id_, outs=_outputs(props, image))

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        import docker.errors

        # Only the moving tag goes: each release stays under its own tag for rollbacks.
        try:
            docker_engine.client().images.remove(id_, noprune=True)
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # still used by a container: keep it
                raise


class Image(Resource):
    """A Docker image managed by :class:`ImageProvider`."""

    digest: pulumi.Output[str]
    ref: pulumi.Output[str]
    size: pulumi.Output[int]
    python_full: pulumi.Output[str]

    def __init__(
        self, name: str, args: ImageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props = {**asdict(args), "digest": None, "ref": None, "size": None, "python_full": None}
        super().__init__(ImageProvider(), name, props, opts)
