"""Issue J, part 2, for real: both base images carry how their interpreter was built, releases
inherit it, ``images build-info`` says the 3.12 and 3.14 bases are not like with like, and a
short calibration gives medians and intervals for 3.12, 3.14 and 3.14 with its JIT."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import docker
import pytest

from soakgate.adapters.docker import engine as docker_engine
from soakgate.adapters.images.calibration import find_speedup
from soakgate.adapters.images.interpreter_info import (
    CACHE,
    LABEL,
    PROBE,
    probe_image,
    read_build,
)
from soakgate.core.base_recipes import DEFAULT_NAME_PREFIX
from soakgate.core.interpreter_build import (
    LABEL_BUILD,
    build_from_facts,
    differences,
    parse_build,
)
from soakgate.core.release import Release
from soakgate.scratch import ScratchProject

pytestmark = pytest.mark.integration

BASE_312 = f"{DEFAULT_NAME_PREFIX}:3.12"
BASE_314 = f"{DEFAULT_NAME_PREFIX}:3.14"


def test_both_bases_carry_their_interpreter_build(
    engine: docker.DockerClient, base_images: None
) -> None:
    old = parse_build(engine.images.get(BASE_312).labels[LABEL_BUILD])
    new = parse_build(engine.images.get(BASE_314).labels[LABEL_BUILD])
    assert old.version.startswith("3.12.") and new.version.startswith("3.14.")
    # pyenv's CPython: configured without --enable-optimizations/--with-lto, --enable-shared
    assert (old.pgo, old.lto, old.shared, old.jit_available) == (False, False, True, False)
    # Debian's python3.14: its static PGO+LTO interpreter, JIT built in and off by default
    assert (new.pgo, new.lto, new.shared) == (True, True, False)
    assert (new.jit_available, new.jit_enabled) == (True, False)
    assert new.package.startswith("python3.14-minimal ") and new.optimization_basis == "packaging"
    assert not old.free_threaded and not new.free_threaded


@pytest.mark.parametrize("reference", [BASE_312, BASE_314])
def test_the_label_says_what_a_run_of_the_image_finds(
    engine: docker.DockerClient, base_images: None, reference: str
) -> None:
    """The label is taken in the build's chroot; a container of the image finds the same."""
    labelled = read_build(reference, cache=False)
    assert labelled.source == LABEL
    assert build_from_facts(probe_image(labelled.image_id)) == labelled.build


def test_an_image_with_its_own_python_jit_is_probed_once_then_cached(
    engine: docker.DockerClient, base_images: None, tmp_path: Path
) -> None:
    derived = docker_engine.build_from(BASE_314, ["ENV PYTHON_JIT=1"])
    try:
        assert derived.labels[LABEL_BUILD] == engine.images.get(BASE_314).labels[LABEL_BUILD]
        first = read_build(str(derived.id), tmp_path)
        assert first.source == PROBE and first.build.jit_enabled
        assert (tmp_path / f"{str(derived.id).removeprefix('sha256:')}.json").is_file()
        again = read_build(str(derived.id), tmp_path)
        assert again.source == CACHE and again.build == first.build
        assert differences(read_build(BASE_314, cache=False).build, first.build) == [
            "JIT: off vs on"
        ]
    finally:
        engine.images.remove(str(derived.id), force=True)


def test_releases_inherit_their_base_s_build(
    engine: docker.DockerClient, releases: dict[str, Release]
) -> None:
    for series, base in (("3.12", BASE_312), ("3.14", BASE_314)):
        release = engine.images.get(releases[series].digest)
        assert release.labels[LABEL_BUILD] == engine.images.get(base).labels[LABEL_BUILD]
        assert read_build(releases[series].digest, cache=False).source == LABEL


def test_build_info_side_by_side_says_not_like_with_like(
    built: ScratchProject, releases: dict[str, Release]
) -> None:
    result = built.soakgate("images", "build-info", BASE_312, BASE_314)
    assert result.returncode == 0, result.stderr
    verdict = next(line for line in result.stdout.splitlines() if "like with like" in line)
    assert verdict.startswith(f"{BASE_312} vs {BASE_314}: not like with like: ")
    for difference in ("PGO: no vs yes", "LTO: no vs yes", "shared libpython: yes vs no"):
        assert difference in verdict
    # a release by its digest prefix, as ``soakgate releases`` shows it
    prefix = releases["3.14"].digest.removeprefix("sha256:")[:12]
    same = built.soakgate("images", "build-info", BASE_314, prefix)
    assert same.returncode == 0, same.stderr
    assert f"{BASE_314} vs {prefix}: built alike" in same.stdout
    one = built.soakgate("images", "build-info", "--json", BASE_314)
    document = json.loads(one.stdout)
    assert document["images"][0]["summary"].startswith("CPython 3.14.")
    assert "PGO+LTO · JIT available (off) · shared: no" in document["images"][0]["summary"]


def test_images_list_shows_each_base_s_interpreter(built: ScratchProject) -> None:
    result = built.soakgate("images", "list", "--json")
    assert result.returncode == 0, result.stderr
    summaries = {item["reference"]: item["summary"] for item in json.loads(result.stdout)}
    assert "no PGO/LTO · no JIT · shared: yes" in summaries[BASE_312]
    assert "PGO+LTO · JIT available (off) · shared: no" in summaries[BASE_314]


def test_a_short_calibration_gives_medians_and_intervals(
    built: ScratchProject, tmp_path: Path
) -> None:
    copy = tmp_path / "calibration.json"
    result = built.soakgate(
        "images",
        "calibrate",
        "--rounds",
        "2",
        "--passes",
        "1",
        "--scale",
        "0.2",
        "--max-seconds",
        "240",
        "--output",
        str(copy),
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the interpreter alone: 3.14 vs 3.12 " in result.stdout
    document = json.loads(copy.read_text())
    assert set(document["arms"]) == {"3.12", "3.14", "3.14+JIT"}
    assert document["rounds"] == 2 and document["results_disagree"] == []
    for arm in document["arms"].values():
        figure = arm["median_seconds"]
        assert 0 < figure["low"] <= figure["estimate"] <= figure["high"]
    for comparison in document["comparisons"].values():
        speedup = comparison["speedup_percent"]
        assert speedup["low"] <= speedup["estimate"] <= speedup["high"]
    kept = list((built.state / "calibration").glob("*.json"))
    assert [json.loads(path.read_text()) for path in kept] == [document]
    # what a release comparison across the two bases looks up
    old, new = read_build(BASE_312).build, read_build(BASE_314).build
    found = find_speedup(built.state, old, new)
    assert found is not None and found["file"] == str(kept[0])
    speedup = document["comparisons"]["3.14 vs 3.12"]["speedup_percent"]
    assert {key: found[key] for key in speedup} == speedup
    jit = find_speedup(built.state, new, replace(new, jit_enabled=True))
    assert jit == {
        **document["comparisons"]["3.14+JIT vs 3.14"]["speedup_percent"],
        **{"file": str(kept[0]), "created": document["created"]},
    }
    leftovers = docker.from_env().containers.list(
        all=True, filters={"label": "soakgate.purpose=calibration"}
    )
    assert leftovers == []
