"""The offline base images, for real: debootstrap + ``docker import`` (slow when cold).

Builds ``soakgate/python:3.12`` and ``soakgate/python:3.14`` if they are missing or stale,
then checks them through the Docker SDK.
"""

from __future__ import annotations

import os
import re
import shutil

import docker
import pytest

from soakgate.adapters.images.rootfs import DebootstrapBuilder
from soakgate.app.bases import UP_TO_DATE, BaseResult, make_bases
from soakgate.core.base_recipes import DEFAULT_NAME_PREFIX

from .setup_missing import missing

pytestmark = pytest.mark.integration

VERSIONS = ("3.12", "3.14")
MAX_SIZE = 140_000_000
IMPORTS = "import ssl, sqlite3, ctypes, zlib, lzma, bz2, uuid, decimal"


def _needs(condition: bool, what: str) -> None:
    if not condition:
        missing(what)


@pytest.fixture(scope="module")
def bases(engine: docker.DockerClient) -> dict[str, BaseResult]:
    """Both base images, built unless up to date."""
    _needs(os.geteuid() == 0, "building base images needs root (debootstrap)")
    _needs(
        shutil.which("debootstrap", path=f"{os.environ.get('PATH', '')}:/usr/sbin") is not None,
        "debootstrap is not installed (apt-get install debootstrap)",
    )
    results = make_bases(VERSIONS, DEFAULT_NAME_PREFIX, None, False, builder=DebootstrapBuilder())
    failed = [f"{result.version}: {result.error}" for result in results if result.error]
    assert not failed, "\n".join(failed)
    return {result.version: result for result in results}


def run_python(engine: docker.DockerClient, image: str, code: str) -> str:
    output = engine.containers.run(image, ["python", "-c", code], remove=True)
    return bytes(output).decode().strip()


@pytest.mark.parametrize("version", VERSIONS)
def test_base_is_small_labelled_and_runs_its_python(
    engine: docker.DockerClient, bases: dict[str, BaseResult], version: str
) -> None:
    reference = f"{DEFAULT_NAME_PREFIX}:{version}"
    image = engine.images.get(reference)
    assert image.attrs["Size"] <= MAX_SIZE
    labels = image.labels
    assert labels["soakgate.base"] == "true"
    assert re.fullmatch(r"[0-9a-f]{64}", labels["soakgate.recipe"])
    assert labels["soakgate.python"].startswith(f"{version}.")

    printed = engine.containers.run(reference, ["python", "--version"], remove=True)
    assert bytes(printed).decode().strip() == f"Python {labels['soakgate.python']}"
    assert run_python(engine, reference, f"{IMPORTS}; print('ok')") == "ok"


@pytest.mark.parametrize("version", VERSIONS)
def test_base_runs_as_given_with_path_lang_and_cmd(
    engine: docker.DockerClient, bases: dict[str, BaseResult], version: str
) -> None:
    reference = f"{DEFAULT_NAME_PREFIX}:{version}"
    prefix = "/usr/local/bin/" if version == "3.12" else "/usr/bin/"
    config = engine.images.get(reference).attrs["Config"]
    assert config["Cmd"] == ["python3"]
    assert "LANG=C.UTF-8" in config["Env"]
    assert "PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin" in config["Env"]
    # The default command (python3 reading an empty stdin) exits 0.
    assert engine.containers.run(reference, remove=True) == b""
    links = (
        "import os; print(*(os.path.realpath(f'/usr/local/bin/{n}')"
        " for n in ('python', 'python3')))"
    )
    assert run_python(engine, reference, links).split() == [f"{prefix}python{version}"] * 2


@pytest.mark.parametrize("version", VERSIONS)
def test_base_is_stripped(
    engine: docker.DockerClient, bases: dict[str, BaseResult], version: str
) -> None:
    reference = f"{DEFAULT_NAME_PREFIX}:{version}"
    code = (
        "import os, importlib.util as u\n"
        "print(os.listdir('/usr/share/doc'), os.listdir('/var/lib/apt/lists'),"
        " os.listdir('/usr/share/man'))\n"
        "print([m for m in ('test', 'idlelib', 'tkinter', 'turtledemo', 'ensurepip', 'pip')"
        " if u.find_spec(m)])"
    )
    assert run_python(engine, reference, code).splitlines() == ["[] [] []", "[]"]


def test_3_12_has_no_static_library_nor_build_config(
    engine: docker.DockerClient, bases: dict[str, BaseResult]
) -> None:
    code = (
        "import glob; print(glob.glob('/usr/local/lib/**/*.a', recursive=True)"
        " + glob.glob('/usr/local/lib/python3.12/config-*'))"
    )
    assert run_python(engine, f"{DEFAULT_NAME_PREFIX}:3.12", code) == "[]"


def test_second_run_is_up_to_date_and_quick(
    engine: docker.DockerClient, bases: dict[str, BaseResult]
) -> None:
    again = make_bases(VERSIONS, DEFAULT_NAME_PREFIX, None, False, builder=DebootstrapBuilder())
    assert [result.state for result in again] == [UP_TO_DATE, UP_TO_DATE]
    assert all(result.seconds < 10 for result in again)
    for result in again:
        assert result.image is not None
        first = bases[result.version].image
        assert first is not None and result.image.image_id == first.image_id
