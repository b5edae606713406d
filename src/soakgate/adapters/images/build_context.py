"""What an image is built from, as one hash: the context (honouring .dockerignore), the
Dockerfile, the build args and the base image's id. Equal hash, equal build: no rebuild.

    context_hash(Path("images/service"), "Dockerfile", {"PYTHON_VERSION": "3.14"}, "sha256:…")
"""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

from soakgate.adapters.process import run


def dockerignore_patterns(context: Path) -> list[str]:
    """The patterns of ``context/.dockerignore`` (comments and blank lines dropped)."""
    path = context / ".dockerignore"
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def context_files(context: Path, dockerfile: str) -> list[str]:
    """The files the engine will receive, relative to ``context``, sorted."""
    from docker.utils.build import exclude_paths  # on first use: see adapters.docker_engine

    included = exclude_paths(str(context), dockerignore_patterns(context), dockerfile=dockerfile)
    return sorted(rel for rel in included if not (context / rel).is_dir())


def context_hash(
    context: Path, dockerfile: str, build_args: dict[str, str], base_image_id: str
) -> str:
    """SHA-256 over every input of the build."""
    digest = hashlib.sha256()
    for rel in context_files(context, dockerfile):
        path = context / rel
        info = path.lstat()
        digest.update(rel.encode() + b"\0")
        digest.update(b"x" if info.st_mode & stat.S_IXUSR else b"-")
        if stat.S_ISLNK(info.st_mode):
            digest.update(str(path.readlink()).encode())
        else:
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    digest.update(
        json.dumps(
            {"args": build_args, "base": base_image_id, "dockerfile": dockerfile}, sort_keys=True
        ).encode()
    )
    return digest.hexdigest()


def source_revision(context: Path) -> tuple[str, str]:
    """Return (revision, ISO time) of the last commit that touched ``context``.

    An uncommitted change marks the revision ``-dirty``; outside git it is ``unknown``.
    The time is the commit's, so an unchanged context gives unchanged build args.
    """
    log = run(["git", "log", "-1", "--format=%H %cI", "--", "."], cwd=str(context), check=False)
    if not log.ok or not log.stdout.strip():
        return "unknown", "1970-01-01T00:00:00+00:00"
    revision, created = log.stdout.split()
    dirty = run(["git", "status", "--porcelain", "--", "."], cwd=str(context), check=False)
    if dirty.ok and dirty.stdout.strip():
        revision += "-dirty"
    return revision, created
