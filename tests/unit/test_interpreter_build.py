"""How an interpreter was built, read from the probe's facts: PGO, LTO, shared, JIT, free-
threading and the compiler; whether two builds compare like with like; the label that carries
it; the doctor's warning about an early 3.14."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from soakgate.app.doctor import doctor
from soakgate.core.base_recipes import (
    BaseImage,
    image_changes,
    image_labels,
    label_instruction,
    recipe_for,
)
from soakgate.core.doctor import MIN_PYTHON_314, diagnose
from soakgate.core.interpreter_build import (
    LABEL_BUILD,
    PROBE_SCRIPT,
    InterpreterBuildError,
    build_from_facts,
    comparison_note,
    differences,
    facts_label,
    like_with_like,
    parse_build,
    parse_facts,
)
from soakgate.testing import FakeToolchain

# What the probe printed for pyenv's CPython 3.12.1 on this machine (configure without
# --enable-optimizations or --with-lto, --enable-shared).
PYENV_312: dict[str, Any] = {
    "schema": 1,
    "implementation": "cpython",
    "version": "3.12.1",
    "compiler": "GCC 12.2.0",
    "machine": "x86_64",
    "executable": "/usr/local/bin/python3.12",
    "config_args": "'--prefix=/root/.pyenv/versions/3.12.1' '--enable-shared'"
    " '--libdir=/root/.pyenv/versions/3.12.1/lib'"
    " 'LDFLAGS=-L/root/.pyenv/versions/3.12.1/lib -Wl,-rpath,/root/.pyenv/versions/3.12.1/lib'",
    "cflags": "-fno-strict-overflow -Wsign-compare -DNDEBUG -g -O3 -Wall",
    "cflags_nodist": "-std=c11 -Wextra -fvisibility=hidden  -I./Include/internal",
    "ldflags_nodist": "",
    "py_enable_shared": True,
    "gil_disabled": False,
    "libpython": ["/usr/local/lib/libpython3.12.so.1.0"],
    "jit_available": None,
    "jit_enabled": None,
    "package": None,
}
# Debian forky's python3.14 3.14.8-1: the sysconfig data of its shared build (no PGO or LTO
# flag, Py_ENABLE_SHARED=1) while /usr/bin/python3.14 is its static PGO+LTO build.
DEBIAN_314: dict[str, Any] = {
    "schema": 1,
    "implementation": "cpython",
    "version": "3.14.8",
    "compiler": "GCC 16.2.0",
    "machine": "x86_64",
    "executable": "/usr/bin/python3.14",
    "config_args": "'--enable-shared' '--prefix=/usr' '--libdir=/usr/lib/x86_64-linux-gnu'"
    " '--with-computed-gotos' '--without-ensurepip' '--with-system-expat'"
    " '--enable-experimental-jit=yes-off' 'CC=x86_64-linux-gnu-gcc'",
    "cflags": "-fno-strict-overflow -Wsign-compare -DNDEBUG -g -O2 -Wall",
    "cflags_nodist": "-Wdate-time -D_FORTIFY_SOURCE=2 -g -fwrapv -O2 -std=c11"
    " -fvisibility=hidden -D_Py_TIER2=3 -D_Py_JIT  -I../Include/internal",
    "ldflags_nodist": " -Wl,-z,relro -g -fwrapv -O2    ",
    "py_enable_shared": True,
    "gil_disabled": False,
    "libpython": [],
    "jit_available": True,
    "jit_enabled": False,
    "package": "python3.14-minimal 3.14.8-1",
}


def facts(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


def test_pyenv_312_is_neither_pgo_nor_lto_and_shared() -> None:
    build = build_from_facts(PYENV_312)
    assert (build.pgo, build.lto, build.shared, build.jit_available) == (
        False,
        False,
        True,
        False,
    )
    assert build.summary() == "CPython 3.12.1 · no PGO/LTO · no JIT · shared: yes · GCC 12"


def test_debian_314_is_pgo_lto_from_its_packaging_and_static() -> None:
    build = build_from_facts(DEBIAN_314)
    assert build.summary() == (
        "CPython 3.14.8 · PGO+LTO · JIT available (off) · shared: no · GCC 16"
    )
    assert build.optimization_basis == "packaging"
    assert ("PGO/LTO from", build.details()[3][1]) == build.details()[3]
    assert "Debian's packaging of python3.14-minimal 3.14.8-1" in build.details()[3][1]


def test_the_packaging_rule_needs_a_debian_interpreter_package_and_a_known_machine() -> None:
    assert not build_from_facts(facts(DEBIAN_314, package=None)).pgo
    assert not build_from_facts(facts(DEBIAN_314, package="python3-foo 1.0")).pgo
    assert not build_from_facts(facts(DEBIAN_314, machine="riscv64")).lto


@pytest.mark.parametrize(
    ("changes", "pgo", "lto"),
    [
        ({"config_args": "'--enable-optimizations' '--with-lto'"}, True, True),
        ({"config_args": "'--enable-optimizations'"}, True, False),
        ({"config_args": "'--with-lto=full'"}, False, True),
        ({"cflags_nodist": "-O2 -fprofile-use -fprofile-correction"}, True, False),
        ({"cflags_nodist": "-fprofile-instr-use=code.profclangd"}, True, False),
        ({"ldflags_nodist": "-flto=auto -fuse-linker-plugin"}, False, True),
        ({"cflags": "-fno-lto"}, False, False),
    ],
)
def test_pgo_and_lto_from_configure_or_flags(changes: dict[str, str], pgo: bool, lto: bool) -> None:
    build = build_from_facts(facts(PYENV_312, **changes))
    assert (build.pgo, build.lto) == (pgo, lto)
    assert build.optimization_basis == "configure"


def test_shared_is_what_the_process_maps_and_sysconfig_only_without_proc() -> None:
    assert not build_from_facts(facts(PYENV_312, libpython=[])).shared
    assert build_from_facts(facts(DEBIAN_314, libpython=None)).shared  # sysconfig says so
    assert not build_from_facts(facts(PYENV_312, libpython=None, py_enable_shared=False)).shared


def test_jit_before_314_comes_from_configure() -> None:
    jit_313 = facts(PYENV_312, config_args="'--enable-experimental-jit=yes-off'")
    assert build_from_facts(jit_313).jit_available
    no_jit = facts(PYENV_312, config_args="'--enable-experimental-jit=no'")
    assert not build_from_facts(no_jit).jit_available
    assert build_from_facts(facts(DEBIAN_314, jit_enabled=True)).jit == "JIT on"


def test_312_against_314_is_not_like_with_like_naming_pgo_lto_shared_and_compiler() -> None:
    old, new = build_from_facts(PYENV_312), build_from_facts(DEBIAN_314)
    assert differences(old, new) == [
        "PGO: no vs yes",
        "LTO: no vs yes",
        "shared libpython: yes vs no",
        "compiler: GCC 12 vs GCC 16",
    ]
    assert not like_with_like(old, new)
    note = comparison_note(old, new)
    assert note is not None and note.startswith("not like with like: PGO: no vs yes, LTO")
    assert "soakgate images calibrate" in note


def test_an_available_jit_that_is_off_is_alike_but_one_that_is_on_is_not() -> None:
    debian = build_from_facts(DEBIAN_314)
    optimized_312 = build_from_facts(
        facts(
            PYENV_312,
            config_args="'--enable-optimizations' '--with-lto'",
            libpython=[],
            compiler="GCC 16.1.0",
        )
    )
    assert like_with_like(optimized_312, debian)
    assert comparison_note(optimized_312, debian) is None
    jit_on = build_from_facts(facts(DEBIAN_314, jit_enabled=True))
    assert differences(debian, jit_on) == ["JIT: off vs on"]


def test_free_threading_and_the_compiler_family_are_differences() -> None:
    gil = build_from_facts(DEBIAN_314)
    free = build_from_facts(facts(DEBIAN_314, gil_disabled=True))
    assert differences(gil, free) == ["free-threaded: no vs yes"]
    assert "free-threaded" in free.summary()
    clang = build_from_facts(facts(DEBIAN_314, compiler="Clang 19.1.7 "))
    assert differences(gil, clang) == ["compiler: GCC 16 vs Clang 19"]
    patch = build_from_facts(facts(DEBIAN_314, compiler="GCC 16.3.1"))
    assert like_with_like(gil, patch)


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("", "empty"),
        ("not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        (json.dumps(facts(DEBIAN_314, schema=2)), "schema 2"),
        (json.dumps(facts(DEBIAN_314, version="x")), "is no version"),
        (json.dumps(facts(DEBIAN_314, implementation=None)), "implementation"),
        (json.dumps(facts(DEBIAN_314, jit_enabled="yes")), "jit_enabled"),
        (json.dumps(facts(DEBIAN_314, libpython="/lib")), "libpython"),
    ],
)
def test_malformed_facts_are_named(text: str, fault: str) -> None:
    with pytest.raises(InterpreterBuildError, match=fault):
        parse_build(text)


def test_the_probe_runs_on_this_interpreter_and_describes_it() -> None:
    result = subprocess.run(
        [sys.executable, "-S", "-c", PROBE_SCRIPT],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    build = parse_build(result.stdout)
    assert build.version == "{}.{}.{}".format(*sys.version_info[:3])
    assert build.implementation == sys.implementation.name
    assert build.free_threaded is False


def test_fingerprint_names_a_build() -> None:
    one, same = build_from_facts(DEBIAN_314), build_from_facts(dict(DEBIAN_314))
    assert one.fingerprint() == same.fingerprint()
    assert len(one.fingerprint()) == 16
    assert one.fingerprint() != build_from_facts(PYENV_312).fingerprint()


def docker_double_quoted(word: str) -> str:
    """A double-quoted Dockerfile word as the builder reads it: ``\\"``, ``\\$`` and
    ``\\\\`` are escapes, every other backslash stays; an unescaped ``$`` would be a variable."""
    assert word[0] == word[-1] == '"'
    out, index, inner = [], 0, word[1:-1]
    while index < len(inner):
        char = inner[index]
        if char == "\\" and index + 1 < len(inner) and inner[index + 1] in '"$\\':
            out.append(inner[index + 1])
            index += 2
            continue
        assert char != "$", "an unescaped $ would be substituted"
        out.append(char)
        index += 1
    return "".join(out)


def test_the_label_round_trips_through_the_import_change() -> None:
    odd = facts(PYENV_312, config_args="'LDFLAGS=-Wl,-rpath,$ORIGIN/../lib' 'CC=gcc \\\"x\\\"' é\n")
    label = facts_label(odd)
    assert label.isascii() and parse_facts(label) == odd
    labels = image_labels(recipe_for("3.12"), "3.12.1", "f" * 64, label)
    assert labels[LABEL_BUILD] == label
    (instruction,) = [c for c in image_changes(recipe_for("3.12"), labels) if LABEL_BUILD in c]
    key, _, word = instruction.removeprefix("LABEL ").partition("=")
    assert key == LABEL_BUILD
    assert docker_double_quoted(word) == label
    assert LABEL_BUILD not in image_labels(recipe_for("3.12"), "3.12.1", "f" * 64)
    assert label_instruction("a.b", "plain") == 'LABEL a.b="plain"'
    assert BaseImage("r", "sha256:1", 1, "3.12.1", "f" * 64).build == ""


def test_facts_label_refuses_facts_that_describe_no_build() -> None:
    with pytest.raises(InterpreterBuildError):
        facts_label({"schema": 1})


# --- doctor: a warning, never a failure --------------------------------------------------


def test_doctor_warns_about_a_314_base_older_than_3_14_5_and_still_passes() -> None:
    readings = replace(
        FakeToolchain().readings,
        base_pythons={"soakgate/python:3.14": "3.14.3", "soakgate/python:3.12": "3.12.1"},
    )
    report = diagnose(readings)
    (row,) = [part for part in report.parts if part.name.startswith("Python of")]
    assert row.name == "Python of soakgate/python:3.14"
    assert (row.ok, row.required) == (False, False)
    assert "older than 3.14.5" in row.detail and "incremental GC" in row.detail
    assert report.exit_code == 0 and report.missing == ()


@pytest.mark.parametrize("version", ["3.14.5", "3.14.8", "3.12.1", "3.15.0", "not a version"])
def test_doctor_is_quiet_about_other_versions(version: str) -> None:
    readings = replace(FakeToolchain().readings, base_pythons={"x:3.14": version})
    assert not [p for p in diagnose(readings).parts if p.name.startswith("Python of")]
    assert str(MIN_PYTHON_314) == "3.14.5"


def test_the_doctor_use_case_warns_of_an_old_3_14_base_from_the_readings() -> None:
    fake = FakeToolchain(base_pythons={"soakgate/python:3.14": "3.14.0"})
    report = doctor(Path("/p"), fake)
    assert fake.calls == [Path("/p")]
    assert [p.detail.split(":")[0] for p in report.parts if p.name.startswith("Python of")] == [
        "3.14.0"
    ]
    assert report.exit_code == 0
    quiet = doctor(Path("/p"), FakeToolchain())
    assert not [p for p in quiet.parts if p.name.startswith("Python of")]


# --- what the CLI prints ------------------------------------------------------------------


def test_build_info_names_the_differences_or_says_alike() -> None:
    from rich.console import Console

    from soakgate.adapters.images.interpreter_info import ImageBuild
    from soakgate.cli.images import render_build_info, verdicts

    old = ImageBuild(
        "soakgate/python:3.12", "sha256:" + "1" * 64, build_from_facts(PYENV_312), "label"
    )
    new = ImageBuild(
        "soakgate/python:3.14", "sha256:" + "2" * 64, build_from_facts(DEBIAN_314), "probe"
    )
    twin = replace(new, reference="release-3.14")
    assert verdicts([old, new, twin]) == [
        "soakgate/python:3.12 vs soakgate/python:3.14: not like with like: PGO: no vs yes,"
        " LTO: no vs yes, shared libpython: yes vs no, compiler: GCC 12 vs GCC 16",
        "soakgate/python:3.12 vs release-3.14: not like with like: PGO: no vs yes,"
        " LTO: no vs yes, shared libpython: yes vs no, compiler: GCC 12 vs GCC 16",
    ]
    assert verdicts([new, twin]) == ["soakgate/python:3.14 vs release-3.14: built alike"]
    console = Console(width=400, record=True)
    console.print(render_build_info([old, new]))
    text = console.export_text()
    assert "111111111111" in text and "222222222222" in text
    pgo = next(line for line in text.splitlines() if line.startswith("│ PGO "))
    assert [cell.strip() for cell in pgo.split("│")[2:4]] == ["no", "yes"]
    assert "read from" in text and "label" in text and "probe" in text
