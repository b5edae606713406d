"""Recipes of the offline base images ``soakgate/python:3.12`` and ``soakgate/python:3.14``.

A recipe is data: the Debian suite to bootstrap, the packages to include, what to strip and
where Python comes from. Its hash (with the identity of a local CPython, if one is copied) is
stored as a label, so an image built from the same recipe is not built again::

    recipe = recipe_for("3.14")
    label = recipe_hash(recipe)            # 64 hex digits
    is_stripped("usr/share/doc/bash/copyright", recipe.root_strip)   # True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache

from soakgate.core.interpreter_build import LABEL_BUILD
from soakgate.core.names import LABEL_BASE, LABEL_PYTHON, LABEL_RECIPE

# Bump when the build steps change in a way the fields below do not show.
# 2: the image records its interpreter's build (label soakgate.python.build).
RECIPE_CODE_VERSION = 2
# Fixed mtime of every file but ``*.py`` in the image tar (2024-01-01T00:00:00Z); ``.py``
# files keep theirs, so the byte-compiled caches that record them stay valid.
SOURCE_DATE_EPOCH = 1704067200
SUPPORTED_VERSIONS = ("3.12", "3.14")
DEFAULT_NAME_PREFIX = "soakgate/python"


ENV_PATH = "/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin"

# Both images: TLS roots, /etc/services and /etc/protocols, time zones (as python:*-slim).
RUNTIME_PACKAGES = ("ca-certificates", "netbase", "tzdata")

# Libraries the extension modules of a CPython 3.12 built on bookworm link.
CPYTHON_LIBRARY_PACKAGES = (
    "libbz2-1.0",
    "libcrypt1",
    "libexpat1",
    "libffi8",
    "libgdbm-compat4",
    "libgdbm6",
    "liblzma5",
    "libncursesw6",
    "libnsl2",
    "libreadline8",
    "libsqlite3-0",
    "libssl3",
    "libtinfo6",
    "libtirpc3",
    "libuuid1",
    "zlib1g",
)

# Paths relative to the root filesystem; a matching directory goes with all it holds.
ROOT_STRIP = (
    "usr/share/doc/*",
    "usr/share/man/*",
    "usr/share/info/*",
    "usr/share/locale/*",
    "usr/share/lintian/*",
    "var/lib/apt/lists/*",
    "var/cache/apt/*.bin",
    "var/cache/apt/archives/*.deb",
    "var/cache/debconf/*-old",
    "var/cache/ldconfig/aux-cache",
    "var/lib/dpkg/*-old",
    "var/log/*",
    "etc/*-",
    "etc/hostname",
    "etc/resolv.conf",
    "tmp/*",
    "var/tmp/*",
    "root/.cache",
    "dev/*",
    "proc/*",
    "sys/*",
    "**/__pycache__/*.opt-1.pyc",
    "**/__pycache__/*.opt-2.pyc",
)

# Debian's python3.14: its test support package, test extension modules, and the PEP 668
# marker (the image's Python belongs to the application, as in python:3.14-slim).
DEBIAN_PYTHON_STRIP = (
    "usr/lib/python3.14/test",
    "usr/lib/python3.14/EXTERNALLY-MANAGED",
    "usr/lib/python3.14/lib-dynload/_test*",
    "usr/lib/python3.14/lib-dynload/_ctypes_test.*",
    "usr/lib/python3.14/lib-dynload/_xxtestfuzz.*",
    "usr/lib/python3.14/lib-dynload/xxlimited*",
    "usr/lib/python3.14/lib-dynload/xxsubtype.*",
)

# What is copied from a CPython 3.12 prefix to /usr/local, then what is left out of it.
CPYTHON_COPY = (
    "bin/python3.12",
    "lib/libpython3.12.so*",
    "lib/libpython3.so",
    "lib/python3.12/**",
)
CPYTHON_STRIP = (
    "lib/python3.12/test",
    "lib/python3.12/idlelib",
    "lib/python3.12/tkinter",
    "lib/python3.12/turtledemo",
    "lib/python3.12/turtle.py",
    "lib/python3.12/__pycache__/turtle.*",
    "lib/python3.12/ensurepip",
    "lib/python3.12/lib2to3/tests",
    "lib/python3.12/config-3.12-*",
    "lib/python3.12/site-packages/*",
    "lib/python3.12/lib-dynload/_tkinter.*",
    "lib/python3.12/lib-dynload/_test*",
    "lib/python3.12/lib-dynload/_ctypes_test.*",
    "lib/python3.12/lib-dynload/_xxtestfuzz.*",
    "lib/python3.12/lib-dynload/xxlimited*",
    "lib/python3.12/lib-dynload/xxsubtype.*",
    "**/*.a",
    "**/__pycache__/*.opt-1.pyc",
    "**/__pycache__/*.opt-2.pyc",
)

SMOKE_IMPORTS = (
    "bz2",
    "ctypes",
    "decimal",
    "hashlib",
    "json",
    "lzma",
    "sqlite3",
    "ssl",
    "uuid",
    "zlib",
    "zoneinfo",
)


@dataclass(frozen=True)
class BaseRecipe:
    """How one base image is made; every field goes into :func:`recipe_hash`."""

    python: str
    suite: str
    script: str
    variant: str
    include: tuple[str, ...]
    root_strip: tuple[str, ...]
    # "debian": the suite's python<version> package; "local": a CPython copied to /usr/local.
    source: str
    interpreter: str
    cpython_copy: tuple[str, ...] = ()
    cpython_strip: tuple[str, ...] = ()
    strip_debug: bool = False
    smoke_imports: tuple[str, ...] = SMOKE_IMPORTS
    epoch: int = SOURCE_DATE_EPOCH
    code_version: int = RECIPE_CODE_VERSION

    def reference(self, name_prefix: str = DEFAULT_NAME_PREFIX) -> str:
        """Return the image name, e.g. ``soakgate/python:3.12``."""
        return f"{name_prefix}:{self.python}"

    def with_epoch(self, epoch: int) -> BaseRecipe:
        """Return the recipe with another fixed mtime (e.g. from SOURCE_DATE_EPOCH)."""
        return dataclasses.replace(self, epoch=epoch)


@dataclass(frozen=True)
class LocalPython:
    """A CPython installation on this host that a recipe copies (``prefix/bin/python3.12``)."""

    prefix: str
    version: str


@dataclass(frozen=True)
class BaseImage:
    """A base image in the engine, as inspected."""

    reference: str
    image_id: str
    size: int
    python_version: str
    recipe: str
    # The facts of its interpreter's build (label soakgate.python.build, JSON); "" if none.
    build: str = ""


RECIPES = {
    "3.12": BaseRecipe(
        python="3.12",
        suite="bookworm",
        script="bookworm",
        variant="minbase",
        include=tuple(sorted({*CPYTHON_LIBRARY_PACKAGES, *RUNTIME_PACKAGES})),
        root_strip=ROOT_STRIP,
        source="local",
        interpreter="/usr/local/bin/python3.12",
        cpython_copy=CPYTHON_COPY,
        cpython_strip=CPYTHON_STRIP,
        strip_debug=True,
    ),
    # forky (testing) has python3.14; this debootstrap knows no forky script, sid's fits.
    "3.14": BaseRecipe(
        python="3.14",
        suite="forky",
        script="sid",
        variant="minbase",
        include=("python3.14", *RUNTIME_PACKAGES),
        root_strip=ROOT_STRIP + DEBIAN_PYTHON_STRIP,
        source="debian",
        interpreter="/usr/bin/python3.14",
    ),
}


def validate_versions(versions: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Return the versions deduplicated in order; raise ValueError naming an unknown one."""
    unknown = [version for version in versions if version not in RECIPES]
    if unknown:
        raise ValueError(
            f"unsupported Python version {unknown[0]!r}: "
            f"base images exist for {' and '.join(SUPPORTED_VERSIONS)}"
        )
    return tuple(dict.fromkeys(versions)) or SUPPORTED_VERSIONS


_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")


def validate_name_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is a valid image repository name; raise ValueError if not."""
    if not _REPOSITORY.fullmatch(prefix):
        raise ValueError(
            f"invalid image name prefix {prefix!r}: use lowercase letters, digits, '.', '_', '-'"
            " and '/' (e.g. soakgate/python); the tag is the Python version"
        )
    return prefix


def recipe_for(version: str) -> BaseRecipe:
    """Return the recipe of ``version``; raise ValueError for an unsupported one."""
    validate_versions([version])
    return RECIPES[version]


def recipe_hash(recipe: BaseRecipe, source_id: str = "") -> str:
    """Hash a recipe and the identity of its Python source (e.g. a CPython tree's digest)."""
    document = {"recipe": dataclasses.asdict(recipe), "source_id": source_id}
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


def image_labels(
    recipe: BaseRecipe, python_version: str, digest: str, build: str = ""
) -> dict[str, str]:
    """Return the labels of a base image built from ``recipe``; ``build`` is the label text
    of its interpreter's build facts (:func:`soakgate.core.interpreter_build.facts_label`)."""
    labels = {LABEL_BASE: "true", LABEL_PYTHON: python_version, LABEL_RECIPE: digest}
    if build:
        labels[LABEL_BUILD] = build
    return labels


def label_instruction(key: str, value: str) -> str:
    """``LABEL key="value"``: double-quoted, ``"`` and ``\\`` escaped as JSON does, and ``$``
    escaped so that the builder substitutes no variable into it (non-ASCII: pass it escaped)."""
    quoted = json.dumps(value).replace("$", "\\$")
    return f"LABEL {key}={quoted}"


def image_changes(recipe: BaseRecipe, labels: dict[str, str]) -> list[str]:
    """Return the Dockerfile instructions ``docker import --change`` applies."""
    changes = [f"ENV PATH={ENV_PATH}", "ENV LANG=C.UTF-8", 'CMD ["python3"]']
    changes += [label_instruction(key, value) for key, value in sorted(labels.items())]
    return changes


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            parts.append(".*")
            index += 2
        elif pattern[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            parts.append("[^/]")
            index += 1
        else:
            parts.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(parts))


def matches(path: str, pattern: str) -> bool:
    """Whether a relative POSIX path matches a glob: ``*`` stays in a segment, ``**`` not."""
    return _glob_regex(pattern).fullmatch(path) is not None


def is_stripped(path: str, patterns: tuple[str, ...]) -> bool:
    """Whether ``path`` (relative, POSIX) or a directory above it matches a strip pattern."""
    parts = path.split("/")
    return any(
        matches("/".join(parts[:depth]), pattern)
        for depth in range(1, len(parts) + 1)
        for pattern in patterns
    )


def is_copied(path: str, copy: tuple[str, ...], strip: tuple[str, ...]) -> bool:
    """Whether a file of a CPython prefix goes into the image: selected and not stripped."""
    return any(matches(path, pattern) for pattern in copy) and not is_stripped(path, strip)


def _deb822_uris(text: str) -> Iterator[str]:
    for paragraph in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in paragraph.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        suites = fields.get("suites", "").split()
        if (
            "deb" in fields.get("types", "").split()
            and fields.get("enabled", "yes").lower() != "no"
            and "main" in fields.get("components", "").split()
            and any("-" not in suite and "/" not in suite for suite in suites)
        ):
            yield from fields.get("uris", "").split()


def _one_line_uris(text: str) -> Iterator[str]:
    for line in text.splitlines():
        words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
        if len(words) >= 4 and words[0] == "deb" and "-" not in words[2] and "main" in words[3:]:
            yield words[1]


def mirror_from_sources(files: Mapping[str, str]) -> str | None:
    """Return the first Debian mirror (not security, not -updates) in apt source files."""
    for name, text in files.items():
        uris = _deb822_uris(text) if name.endswith(".sources") else _one_line_uris(text)
        for uri in uris:
            if "security" not in uri and uri.startswith(("http://", "https://", "file:/")):
                return uri.rstrip("/")
    return None
