"""The base-image recipes (hash, versions, strip globs, apt sources) and ``make_bases``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from soakgate.app.bases import BUILT, FAILED, UP_TO_DATE, make_bases
from soakgate.core.base_recipes import (
    CPYTHON_COPY,
    CPYTHON_STRIP,
    RECIPES,
    ROOT_STRIP,
    BaseImage,
    BaseRecipe,
    LocalPython,
    image_changes,
    image_labels,
    is_copied,
    is_stripped,
    matches,
    mirror_from_sources,
    recipe_for,
    recipe_hash,
    validate_name_prefix,
    validate_versions,
)
from soakgate.errors import ConfigError, DockerError, MissingPart


def changed(value: Any) -> Any:
    """Return a different value of the same type."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, tuple):
        return (*value, "extra")
    raise AssertionError(f"no change rule for {value!r}")


def test_hash_is_stable_for_the_same_recipe_and_source() -> None:
    recipe = recipe_for("3.12")
    assert recipe_hash(recipe, "abc") == recipe_hash(dataclasses.replace(recipe), "abc")
    assert len(recipe_hash(recipe, "abc")) == 64


@pytest.mark.parametrize("version", ["3.12", "3.14"])
@pytest.mark.parametrize("field", [field.name for field in dataclasses.fields(BaseRecipe)])
def test_hash_changes_when_any_recipe_field_changes(version: str, field: str) -> None:
    recipe = recipe_for(version)
    other = dataclasses.replace(recipe, **{field: changed(getattr(recipe, field))})
    assert recipe_hash(other) != recipe_hash(recipe)


def test_hash_changes_with_the_python_source_and_the_epoch() -> None:
    recipe = recipe_for("3.12")
    assert recipe_hash(recipe, "tree-a") != recipe_hash(recipe, "tree-b")
    assert recipe_hash(recipe.with_epoch(1)) != recipe_hash(recipe)


def test_the_two_recipes_hash_differently() -> None:
    assert recipe_hash(RECIPES["3.12"]) != recipe_hash(RECIPES["3.14"])


def test_versions_default_to_both_and_are_deduplicated() -> None:
    assert validate_versions([]) == ("3.12", "3.14")
    assert validate_versions(["3.14", "3.14", "3.12"]) == ("3.14", "3.12")


@pytest.mark.parametrize("version", ["3.13", "3.11", "3", "3.12.1", "python3.14"])
def test_unknown_versions_are_refused_by_name(version: str) -> None:
    with pytest.raises(ValueError, match=rf"unsupported Python version '{version}'.*3\.12"):
        validate_versions(["3.12", version])
    with pytest.raises(ValueError):
        recipe_for(version)


def test_recipes_name_their_suite_and_python() -> None:
    assert recipe_for("3.14").suite in ("sid", "forky")
    assert "python3.14" in recipe_for("3.14").include
    assert recipe_for("3.12").suite == "bookworm"
    assert recipe_for("3.12").source == "local"
    assert recipe_for("3.12").reference("me/py") == "me/py:3.12"


@pytest.mark.parametrize("prefix", ["soakgate/python", "python", "a.b/c-d/e_f"])
def test_valid_name_prefixes(prefix: str) -> None:
    assert validate_name_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["", "Soakgate/python", "soakgate/python:3.12", "a//b", "-a"])
def test_invalid_name_prefixes(prefix: str) -> None:
    with pytest.raises(ValueError, match="invalid image name prefix"):
        validate_name_prefix(prefix)


@pytest.mark.parametrize(
    ("path", "pattern", "expected"),
    [
        ("usr/share/doc", "usr/share/doc/*", False),
        ("usr/share/doc/bash", "usr/share/doc/*", True),
        ("usr/share/doc/bash/copyright", "usr/share/doc/*", False),
        ("a/__pycache__/x.opt-1.pyc", "**/__pycache__/*.opt-1.pyc", True),
        ("__pycache__/x.opt-1.pyc", "**/__pycache__/*.opt-1.pyc", True),
        ("lib/python3.12/a/b.py", "lib/python3.12/**", True),
        ("lib/python3x12/a.py", "lib/python3.12/**", False),
    ],
)
def test_glob_matching(path: str, pattern: str, expected: bool) -> None:
    assert matches(path, pattern) is expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("usr/share/doc/bash/copyright", True),
        ("usr/share/locale/de/LC_MESSAGES/apt.mo", True),
        ("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease", True),
        ("var/cache/apt/archives/bash_5.2_amd64.deb", True),
        ("var/lib/apt/lists", False),
        ("usr/lib/locale/C.utf8/LC_CTYPE", False),
        ("usr/share/zoneinfo/Europe/Berlin", False),
        ("etc/ssl/certs/ca-certificates.crt", False),
        ("etc/hostname", True),
    ],
)
def test_root_strip_list(path: str, expected: bool) -> None:
    assert is_stripped(path, ROOT_STRIP) is expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("bin/python3.12", True),
        ("bin/pip3", False),
        ("bin/idle3.12", False),
        ("include/python3.12/Python.h", False),
        ("lib/libpython3.12.so.1.0", True),
        ("lib/libpython3.12.so", True),
        ("lib/python3.12/os.py", True),
        ("lib/python3.12/__pycache__/os.cpython-312.pyc", True),
        ("lib/python3.12/__pycache__/os.cpython-312.opt-1.pyc", False),
        ("lib/python3.12/lib-dynload/_ssl.cpython-312-x86_64-linux-gnu.so", True),
        ("lib/python3.12/lib-dynload/_testcapi.cpython-312-x86_64-linux-gnu.so", False),
        ("lib/python3.12/lib-dynload/_tkinter.cpython-312-x86_64-linux-gnu.so", False),
        ("lib/python3.12/test/test_os.py", False),
        ("lib/python3.12/test/__pycache__/test_os.cpython-312.pyc", False),
        ("lib/python3.12/idlelib/idle.py", False),
        ("lib/python3.12/tkinter/__init__.py", False),
        ("lib/python3.12/ensurepip/_bundled/pip-23.2.1-py3-none-any.whl", False),
        ("lib/python3.12/site-packages/pip/__init__.py", False),
        ("lib/python3.12/config-3.12-x86_64-linux-gnu/libpython3.12.a", False),
        ("lib/python3.12/unittest/case.py", True),
        ("lib/python3.12/sqlite3/__init__.py", True),
    ],
)
def test_what_is_copied_from_cpython(path: str, expected: bool) -> None:
    assert is_copied(path, CPYTHON_COPY, CPYTHON_STRIP) is expected


def test_changes_set_path_lang_cmd_and_labels() -> None:
    recipe = recipe_for("3.14")
    labels = image_labels(recipe, "3.14.8", "f" * 64)
    changes = image_changes(recipe, labels)
    assert changes[:3] == [
        "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin",
        "ENV LANG=C.UTF-8",
        'CMD ["python3"]',
    ]
    assert 'LABEL soakgate.python="3.14.8"' in changes
    assert 'LABEL soakgate.base="true"' in changes
    assert f'LABEL soakgate.recipe="{"f" * 64}"' in changes


DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_mirror_from_deb822_sources_skips_security() -> None:
    assert mirror_from_sources({"debian.sources": DEB822}) == "http://mirror.example/debian"
    security_only = DEB822.split("\n\n")[1]
    assert mirror_from_sources({"debian.sources": security_only}) is None


def test_mirror_from_one_line_sources() -> None:
    text = (
        "# comment\n"
        "deb http://security.example/debian-security bookworm-security main\n"
        "deb [arch=amd64 signed-by=/k.gpg] https://mirror.example/debian/ bookworm main contrib\n"
    )
    assert mirror_from_sources({"sources.list": text}) == "https://mirror.example/debian"
    assert mirror_from_sources({"sources.list": "deb-src http://x/debian bookworm main\n"}) is None


# --- the use case, with a fake builder (candidate for soakgate.testing) --------------------


class FakeBuilder:
    """Answers from a dict of images; records builds; fails 3.12 when no CPython is given."""

    def __init__(self, images: dict[str, BaseImage] | None = None, cpython: bool = True) -> None:
        self.images = dict(images or {})
        self.cpython = cpython
        self.built: list[str] = []

    def find_cpython(self, path: Path | None) -> LocalPython:
        if not self.cpython:
            raise MissingPart("no CPython 3.12 installation found")
        return LocalPython(prefix="/opt/py", version="3.12.1")

    def source_id(self, recipe: BaseRecipe, python: LocalPython | None) -> str:
        return "tree" if python else ""

    def inspect(self, reference: str) -> BaseImage | None:
        return self.images.get(reference)

    def pull(self, version: str, reference: str) -> BaseImage:
        raise DockerError(f"cannot pull python:{version}-slim: no registry")

    def build(
        self,
        recipe: BaseRecipe,
        reference: str,
        digest: str,
        python: LocalPython | None,
        progress: Callable[[str], None],
    ) -> BaseImage:
        self.built.append(reference)
        image = BaseImage(reference, f"sha256:{len(self.built)}", 1, f"{recipe.python}.0", digest)
        self.images[reference] = image
        return image


def test_make_bases_builds_then_finds_them_up_to_date() -> None:
    builder = FakeBuilder()
    first = make_bases(["3.12", "3.14"], "soakgate/python", None, False, builder=builder)
    assert [result.state for result in first] == [BUILT, BUILT]
    again = make_bases(["3.12", "3.14"], "soakgate/python", None, False, builder=builder)
    assert [result.state for result in again] == [UP_TO_DATE, UP_TO_DATE]
    forced = make_bases(["3.14"], "soakgate/python", None, False, builder=builder, rebuild=True)
    assert [result.state for result in forced] == [BUILT]
    assert builder.built == [
        "soakgate/python:3.12",
        "soakgate/python:3.14",
        "soakgate/python:3.14",
    ]


def test_make_bases_rebuilds_when_the_recipe_label_differs() -> None:
    stale = BaseImage("soakgate/python:3.14", "sha256:old", 1, "3.14.0", "other-recipe")
    builder = FakeBuilder({"soakgate/python:3.14": stale})
    (result,) = make_bases(["3.14"], "soakgate/python", None, False, builder=builder)
    assert result.state == BUILT


def test_make_bases_keeps_going_and_reports_each_failure() -> None:
    builder = FakeBuilder(cpython=False)
    results = make_bases([], "soakgate/python", None, False, builder=builder)
    assert [result.state for result in results] == [FAILED, BUILT]
    assert isinstance(results[0].error, MissingPart)
    pulled = make_bases(["3.14"], "soakgate/python", None, True, builder=builder)
    assert pulled[0].state == FAILED and "cannot pull python:3.14-slim" in str(pulled[0].error)


@pytest.mark.parametrize(("versions", "prefix"), [(["3.13"], "p"), (["3.14"], "Bad:Name")])
def test_make_bases_refuses_bad_options_before_building(versions: list[str], prefix: str) -> None:
    builder = FakeBuilder()
    with pytest.raises(ConfigError):
        make_bases(versions, prefix, None, False, builder=builder)
    assert builder.built == []
