"""core.compare: verdicts from intervals, the overall verdict, per-kind load figures from
paired cycles, repeated figures, rendering; core.variants; the forest plot."""

from __future__ import annotations

import dataclasses
import json
import math
import random
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from soakgate.adapters.evidence.compare_plot import forest_plot
from soakgate.app.compare import interpreter_notes
from soakgate.core.compare import (
    ALL,
    HIGHER,
    INCONCLUSIVE,
    LOWER,
    MIXED,
    SAME,
    Comparison,
    Figure,
    exact_figure,
    load_figures,
    median_ratio_interval,
    render_markdown,
    repeated_figure,
)
from soakgate.core.interpreter_build import InterpreterBuild
from soakgate.core.variants import VariantUnavailable, variant_dockerfile, variant_environment
from soakgate.errors import ConfigError


def latency(low: float, high: float) -> Figure:
    return Figure("p50", ALL, "ms", LOWER, 10.0, 10.0, (low, high))


@pytest.mark.parametrize(
    ("interval", "verdict"),
    [
        ((6.0, 9.0), "slower"),  # wholly beyond +5 %
        ((-9.0, -6.0), "faster"),
        ((-4.0, 4.0), SAME),
        ((-1.0, 7.0), INCONCLUSIVE),  # straddles the threshold
        ((-20.0, 20.0), INCONCLUSIVE),  # too wide to tell
        ((5.0, 5.0), SAME),  # on the threshold is within it
    ],
)
def test_latency_verdicts_read_the_whole_interval(
    interval: tuple[float, float], verdict: str
) -> None:
    assert latency(*interval).verdict(5.0) == verdict


def test_throughput_reads_the_other_way() -> None:
    more = Figure("throughput", ALL, "req/s", HIGHER, 100.0, 112.0, (8.0, 15.0))
    less = Figure("throughput", ALL, "req/s", HIGHER, 100.0, 90.0, (-13.0, -7.0))
    assert (more.verdict(5.0), less.verdict(5.0)) == ("faster", "slower")


def test_memory_and_size_speak_of_size() -> None:
    assert exact_figure("image size", "MB", 100.0, 120.0).verdict(5.0) == "larger"
    assert exact_figure("image size", "MB", 100.0, 80.0).verdict(5.0) == "smaller"
    assert exact_figure("image size", "MB", 100.0, 101.0).verdict(5.0) == SAME


def test_a_figure_without_a_value_is_inconclusive() -> None:
    assert exact_figure("image size", "MB", 0.0, 80.0).verdict(5.0) == INCONCLUSIVE


def comparison(*figures: Figure) -> Comparison:
    return Comparison("sha256:a", "sha256:b", figures, threshold=5.0)


def headline(throughput: tuple[float, float], p50: tuple[float, float]) -> list[Figure]:
    return [
        Figure("throughput", ALL, "req/s", HIGHER, 100.0, 100.0, throughput),
        Figure("p50", ALL, "ms", LOWER, 10.0, 10.0, p50),
        Figure("p95", ALL, "ms", LOWER, 20.0, 20.0, (-1.0, 1.0)),
    ]


def test_the_overall_verdict_of_the_headline_figures() -> None:
    assert comparison(*headline((-2, 2), (-2, 2))).overall() == SAME
    assert comparison(*headline((-15, -8), (-2, 2))).overall() == "slower"
    assert comparison(*headline((-15, -8), (8, 12))).overall() == "slower"
    assert comparison(*headline((8, 15), (-12, -8))).overall() == "faster"
    assert comparison(*headline((8, 15), (8, 12))).overall() == MIXED
    assert comparison(*headline((-2, 9), (8, 12))).overall() == INCONCLUSIVE
    # figures outside the headline (a kind, memory) do not move it
    kind = Figure("p50", "GET /x", "ms", LOWER, 1.0, 2.0, (90.0, 110.0))
    assert comparison(*headline((-2, 2), (-2, 2)), kind).overall() == SAME


def cycles(rng: random.Random, n: int, scale: float) -> list[dict[str, tuple[list[float], float]]]:
    out = []
    for _ in range(n):
        light = [rng.gauss(2.0, 0.1) * scale for _ in range(8)]
        heavy = [rng.gauss(20.0, 1.0) * scale]
        out.append({"GET /light": (light, sum(light)), "GET /heavy": (heavy, sum(heavy))})
    return out


def test_load_figures_per_kind_find_a_planted_slowdown_and_no_difference() -> None:
    rng = random.Random(7)
    a = cycles(rng, 300, 1.0)
    same = cycles(rng, 300, 1.0)
    slow = cycles(rng, 300, 1.10)
    figures = load_figures(a, same, [150, 150], resamples=300)
    assert {(f.name, f.kind) for f in figures} >= {
        ("throughput", ALL),
        ("p99", ALL),
        ("p95", "GET /heavy"),
        ("p50", "GET /light"),
    }
    assert comparison(*figures).overall() == SAME
    slower = load_figures(a, slow, [150, 150], resamples=300)
    assert comparison(*slower).overall() == "slower"
    through = next(f for f in slower if f.name == "throughput" and f.kind == ALL)
    assert through.change == pytest.approx(-100 / 11, abs=1.5)  # 10 % more time: -9.1 %
    assert through.interval is not None and through.interval[1] < -5


def test_one_kind_of_request_gives_only_the_all_requests_figures() -> None:
    rng = random.Random(1)
    one = [{"GET /health": ([rng.gauss(1, 0.05)], 1.0)} for _ in range(50)]
    figures = load_figures(one, one, [50], resamples=50)
    assert {f.kind for f in figures} == {ALL}


def test_unpaired_cycles_are_refused() -> None:
    with pytest.raises(ValueError, match="paired"):
        load_figures([{}], [], [1])


def test_repeated_figures_need_three_runs_for_an_interval() -> None:
    two = repeated_figure("start-up", "s", LOWER, [1.0, 1.1], [2.0, 2.1])
    assert two.interval == (-math.inf, math.inf)
    assert two.verdict(5.0) == INCONCLUSIVE
    slow = repeated_figure("start-up", "s", LOWER, [1.0, 1.02, 0.98, 1.01], [2.0, 2.05, 1.95, 2.0])
    assert slow.verdict(5.0) == "slower"
    assert slow.a == pytest.approx(1.005) and slow.b == pytest.approx(2.0)
    low, high = median_ratio_interval([1.0, 1.02, 0.98], [2.0, 2.05, 1.95])
    assert 90 < low <= high < 110


def test_the_document_and_the_markdown_say_the_same() -> None:
    result = comparison(*headline((-15, -8), (-2, 2)), exact_figure("image size", "MB", 1, 1))
    document = json.loads(json.dumps(result.as_dict()))
    assert document["verdict"] == "slower"
    assert [f["verdict"] for f in document["figures"]] == ["slower", SAME, SAME, SAME]
    text = render_markdown(result)
    assert "**Verdict: slower**" in text
    row = "| throughput · all requests | 100.0 req/s | 100.0 req/s | +0.0 % [-15.0, -8.0] |"
    assert f"{row} slower |" in text


def test_the_forest_plot_is_svg_naming_every_figure_and_verdict() -> None:
    result = comparison(*headline((-15, -8), (-200, 300)))  # one interval off the axis
    svg = forest_plot(result)
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = " ".join(t for t in root.itertext())
    for name in ("throughput · all requests", "p50 · all requests", "p95 · all requests"):
        assert name in texts
    assert "B against A: inconclusive" in texts  # the wide p50 interval cannot tell
    assert "slower" in texts and "no difference" in texts  # throughput's and p95's rows
    assert "#cf222e" in svg and "#9a6700" in svg  # red for slower, amber for cannot tell


def test_variants() -> None:
    assert variant_environment("jit", {}) == {"PYTHON_JIT": "1"}
    assert variant_environment("eager-tasks", {"eager-tasks": {"EAGER": "1"}}) == {"EAGER": "1"}
    assert variant_environment("jit", {"jit": {"PYTHON_JIT": "1", "X": "2"}})["X"] == "2"
    with pytest.raises(VariantUnavailable, match="no setting"):
        variant_environment("eager-tasks", {})
    with pytest.raises(ConfigError, match="unknown variant 'turbo'"):
        variant_environment("turbo", {})


def build(**changes: object) -> InterpreterBuild:
    base = InterpreterBuild(
        implementation="cpython",
        version="3.14.8",
        compiler="GCC 14.2.0",
        machine="x86_64",
        config_args="--enable-optimizations --with-lto",
        pgo=True,
        lto=True,
        shared=False,
        jit_available=True,
        jit_enabled=False,
        free_threaded=False,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_interpreter_notes_say_whether_the_builds_are_alike() -> None:
    old = build(version="3.12.1", pgo=False, lto=False, shared=True, jit_available=False)
    notes = interpreter_notes(old, build(), None)
    assert notes[0].startswith("A: CPython 3.12.1 · no PGO/LTO")
    assert notes[-1].startswith("not like with like: PGO: no vs yes, LTO: no vs yes")
    assert interpreter_notes(build(), build(), None)[-1] == "interpreters built alike"
    # the JIT a jit variant switches on is the point of it, not a difference of the builds
    assert interpreter_notes(build(), build(), "jit")[-1] == "interpreters built alike"


def test_a_variant_the_interpreter_cannot_run_is_refused() -> None:
    with pytest.raises(VariantUnavailable, match="variant jit: the interpreter of B has no JIT"):
        interpreter_notes(build(), build(jit_available=False), "jit")
    with pytest.raises(VariantUnavailable, match=r"no Debian suite ships a free-threaded 3\.14"):
        interpreter_notes(build(), build(), "free-threaded")
    notes = interpreter_notes(build(), build(free_threaded=True), "free-threaded")
    assert notes[-1].startswith("not like with like: free-threaded: no vs yes")


def test_a_variant_image_is_the_release_with_its_environment() -> None:
    text = variant_dockerfile("svc:1.0-py3.14-abc", {"PYTHON_JIT": "1", "B": 'a "$HOME"'})
    assert text.splitlines() == [
        "FROM svc:1.0-py3.14-abc",
        'ENV B="a \\"\\$HOME\\""',
        'ENV PYTHON_JIT="1"',
    ]


def test_compare_adds_the_test_suite_figure_and_runs_a_built_variant(tmp_path: Path) -> None:
    """The use case with its engine parts faked: a built jit variant is what B runs (with no
    environment added), and the suite's timings become a figure with its interval."""
    from soakgate.adapters.state.releases import StateDB
    from soakgate.app.compare import CompareRequest, compare
    from soakgate.core.config import ProjectConfig
    from soakgate.core.project import Project
    from soakgate.core.release import Release
    from soakgate.core.variants import BuiltVariant

    project = Project(tmp_path, ProjectConfig(), tmp_path / "state")
    release = Release("sha256:" + "a" * 64, "3.14.8", "1", "r", "2026-12-06", 1, "svc:1")
    variant = BuiltVariant("sha256:" + "b" * 64, release.digest, "jit", "svc:1-jit")
    with StateDB.open(project.state) as db:
        db.record_release(release)
        db.record_variant(variant)
    sides: list[object] = []

    def measure(a: object, b: object, **kwargs: object) -> Comparison:
        sides.extend([a, b])
        return Comparison(release.digest, variant.digest, [], notes=kwargs["notes"])  # type: ignore[arg-type]

    def time_suite(_: object, timed: object, rounds: int) -> list[list[float]]:
        sides.append(timed)
        return [[2.0, 2.1, 2.0, 1.9][:rounds], [1.5, 1.6, 1.5, 1.4][:rounds]]

    result = compare(
        project,
        CompareRequest(release.digest, variant="jit", test_rounds=4),
        measure=measure,
        build_of=lambda _: build(),
        time_suite=time_suite,
    )
    b_side = sides[1]
    assert b_side.image == variant.digest and dict(b_side.environment) == {}  # type: ignore[attr-defined]
    assert sides[2] == [(release.digest, "3.14", {}), (variant.digest, "3.14", {})]
    suite = result.comparison.figures[-1]
    assert (suite.name, suite.a, suite.b) == ("test suite", 2.0, 1.5)
    assert suite.verdict(5.0) == "faster"
    assert "B: variant image svc:1-jit (bbbbbbbbbbbb)" in result.comparison.notes
    assert json.loads((result.folder / "comparison.json").read_text())["figures"][-1]["name"] == (
        "test suite"
    )
    with pytest.raises(ConfigError, match="--test-rounds 51"):
        compare(project, CompareRequest(release.digest, variant="jit", test_rounds=51))
