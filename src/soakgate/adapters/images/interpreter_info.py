"""The interpreter build of an image or release: its label, else one probe run, cached.

    build = build_of("soakgate/python:3.14")          # InterpreterBuild
    build.summary()     # "CPython 3.14.8 · PGO+LTO · JIT available (off) · shared: no · GCC 14"
    found = read_build("sha256:4f1c…")                # ImageBuild: also its id and the source
    found.source                                      # "label", "cache" or "probe"

Base images carry the facts in the label ``soakgate.python.build`` and release images inherit
it from the base they are built FROM. An image without it (pulled ``python:3.x-slim``, a base
made before the label existed) is probed once: ``python3 -I -c PROBE_SCRIPT`` in a throwaway
container without network, its facts cached by image ID under ``<state>/cache/
interpreter-builds/`` (an image ID names its content, so the entry never goes stale). The
probe runs ``python3 -S`` with PYTHONPATH empty but not ``-I``/``-E``, which would make the
interpreter ignore the image's PYTHON_JIT. An image
that sets ``PYTHON_JIT`` differently from its base is probed too, since the label was taken
with the base's environment.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

from soakgate.adapters.atomic_file import write_atomic
from soakgate.adapters.docker import engine as docker_engine
from soakgate.core.interpreter_build import (
    LABEL_BUILD,
    PROBE_SCRIPT,
    InterpreterBuild,
    InterpreterBuildError,
    build_from_facts,
    facts_label,
    parse_facts,
)
from soakgate.core.names import LABEL_BASE, LABEL_MANAGED, LABEL_PURPOSE, LABEL_PYTHON
from soakgate.errors import ConfigError, DockerError

CACHE_DIR = "interpreter-builds"
PROBE_TIMEOUT = 60.0
PROBE_LABELS = {LABEL_MANAGED: "true", LABEL_PURPOSE: "interpreter-probe"}
LABEL = "label"
CACHE = "cache"
PROBE = "probe"


@dataclass(frozen=True)
class ImageBuild:
    """The interpreter build of one image, and where it was read."""

    reference: str
    image_id: str
    build: InterpreterBuild
    source: str  # LABEL, CACHE or PROBE


def default_cache_dir() -> Path | None:
    """``<state>/cache/interpreter-builds``, or None outside a project (no caching then)."""
    from soakgate.adapters.state.db import cache_dir

    return cache_dir(CACHE_DIR)


def _image(reference: str) -> Any:
    try:
        return docker_engine.client().images.get(reference)
    except docker.errors.ImageNotFound:
        raise ConfigError(
            f"no image {reference!r} on this Docker host",
            hint="name a base (soakgate/python:3.14), a release digest or tag (soakgate releases)",
        ) from None
    except docker.errors.APIError as exc:
        raise DockerError(f"inspecting {reference} failed: {exc.explanation}") from exc


def _jit_env(image: Any) -> str | None:
    for item in image.attrs.get("Config", {}).get("Env") or []:
        key, _, value = str(item).partition("=")
        if key == "PYTHON_JIT":
            return value
    return None


def probe_image(image_id: str, timeout: float = PROBE_TIMEOUT) -> dict[str, Any]:
    """Run the build probe in a throwaway container of ``image_id``; return its facts."""
    client = docker_engine.client()
    container = None
    try:
        container = client.containers.run(
            image_id,
            entrypoint=["python3", "-S", "-c", PROBE_SCRIPT],
            environment={"PYTHONPATH": ""},
            detach=True,
            network_disabled=True,
            labels=PROBE_LABELS,
        )
        status = container.wait(timeout=timeout)
        output = container.logs(stdout=True, stderr=False).decode(errors="replace")
        errors = container.logs(stdout=False, stderr=True).decode(errors="replace")
    except docker.errors.APIError as exc:
        raise DockerError(f"probing the interpreter of {image_id[:19]} failed: {exc}") from exc
    except Exception as exc:  # the wait's read timeout (requests) and the like
        raise DockerError(
            f"probing the interpreter of {image_id[:19]} gave no answer in {timeout:.0f} s"
            f" ({type(exc).__name__})"
        ) from exc
    finally:
        if container is not None:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
    if status.get("StatusCode") != 0:
        last = (errors.strip().splitlines() or ["no output"])[-1]
        raise DockerError(
            f"the interpreter probe of {image_id[:19]} exited {status.get('StatusCode')}: {last}",
            hint="the image needs a python3 on its PATH",
        )
    try:
        return parse_facts(output)
    except InterpreterBuildError as exc:
        raise DockerError(f"the interpreter probe of {image_id[:19]}: {exc}") from None


def _cached(cache_dir: Path | None, image_id: str) -> dict[str, Any] | None:
    if cache_dir is None:
        return None
    path = cache_dir / f"{image_id.removeprefix('sha256:')}.json"
    try:
        facts = parse_facts(path.read_text())
        build_from_facts(facts)
    except (OSError, InterpreterBuildError):
        return None  # absent or unreadable: probe again, and overwrite it
    return facts


def _store(cache_dir: Path | None, image_id: str, facts: dict[str, Any]) -> None:
    if cache_dir is None:
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{image_id.removeprefix('sha256:')}.json"
    write_atomic(path, facts_label(facts) + "\n", mode=0o644)


def read_build(reference: str, cache_dir: Path | None = None, *, cache: bool = True) -> ImageBuild:
    """The interpreter build of ``reference`` (tag, image ID or release digest): its label;
    else the cache (``cache_dir``, default ``<state>/cache/interpreter-builds``); else a
    probe, then cached. ``cache=False``: no cache read or written."""
    directory = (cache_dir or default_cache_dir()) if cache else None
    image = _image(reference)
    image_id = str(image.id)
    labels = image.labels or {}
    text = labels.get(LABEL_BUILD, "")
    if text:
        try:
            facts = parse_facts(text)
            label_jit = facts.get("jit_enabled")
            own_jit = _jit_env(image)
            # The label was taken with the base's environment; a PYTHON_JIT set on top of it
            # (a release image's ENV) changes what runs: probe that image itself.
            if own_jit is None or (own_jit == "1") == bool(label_jit):
                return ImageBuild(reference, image_id, build_from_facts(facts), LABEL)
        except InterpreterBuildError as exc:
            raise DockerError(f"{reference}: label {LABEL_BUILD}: {exc}") from None
    facts_found = _cached(directory, image_id)
    if facts_found is not None:
        return ImageBuild(reference, image_id, build_from_facts(facts_found), CACHE)
    facts = probe_image(image_id)
    try:
        build = build_from_facts(facts)
    except InterpreterBuildError as exc:
        raise DockerError(f"the interpreter probe of {reference}: {exc}") from None
    _store(directory, image_id, facts)
    return ImageBuild(reference, image_id, build, PROBE)


def build_of(image_ref: str) -> InterpreterBuild:
    """The interpreter build of an image or release (what the perf gate and compare call)."""
    return read_build(image_ref).build


def base_python_versions() -> dict[str, str]:
    """{tag: Python version} of the base images in the engine (label soakgate.python);
    empty when no engine answers."""
    try:
        client = docker.from_env(timeout=5)  # as the doctor's other probes: never hang
        images = client.images.list(filters={"label": f"{LABEL_BASE}=true"})
    except (docker.errors.DockerException, OSError):
        return {}
    found = {}
    for image in images:
        version = (image.labels or {}).get(LABEL_PYTHON, "")
        for tag in image.tags:
            found[str(tag)] = version
    return dict(sorted(found.items()))


def facts_json(build: ImageBuild) -> dict[str, Any]:
    """The build as a JSON-ready object for ``--json`` output."""
    return {
        "reference": build.reference,
        "image_id": build.image_id,
        "source": build.source,
        "summary": build.build.summary(),
        "build": asdict(build.build),
    }
