"""core.migration: the roadmap's expectations answered from stored comparison documents; the
migration page's HTML from them (adapters.evidence.migration_report)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from soakgate.adapters.evidence.migration_report import (
    render_migration_report,
    stored_comparisons,
)
from soakgate.core.migration import ROADMAP, expected_vs_measured


def document(a: str, b: str, variant: str | None, figures: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "a": {"release": "sha256:a", "label": a},
        "b": {"release": "sha256:b", "label": b},
        "variant": variant,
        "verdict": "faster",
        "threshold_percent": 5.0,
        "confidence": 0.9,
        "figures": figures,
        "notes": ["not like with like: PGO"],
        "method": {"seconds": 60, "environment": {"a": {}, "b": {}}},
    }


def figure(name: str, kind: str, change: float, verdict: str) -> dict[str, Any]:
    return {
        "name": name,
        "kind": kind,
        "unit": "ms",
        "a": 10.0,
        "b": 10.0 * (1 + change / 100),
        "change_percent": change,
        "interval_percent": [change - 2, change + 2],
        "verdict": verdict,
    }


PYTHONS = document(
    "3.12.1 aaaa", "3.14.8 bbbb", None, [figure("throughput", "all requests", 41.5, "faster")]
)
EAGER = document(
    "3.14.8 bbbb",
    "3.14.8 bbbb + eager-tasks",
    "eager-tasks",
    [figure("p50", "GET /work/fanout?tasks=2000", -12.0, "faster")],
)


def test_each_expectation_reads_its_own_comparison() -> None:
    answers = {a.expectation.question: a for a in expected_vs_measured([EAGER, PYTHONS])}
    assert set(answers) == {e.question for e in ROADMAP}
    python = answers["Python 3.14 over 3.12"]
    assert (python.change, python.verdict) == (41.5, "faster")
    assert python.measured == "+41.5 % throughput [+39.5, +43.5]; not like with like: PGO"
    assert python.source == "3.14.8 bbbb against 3.12.1 aaaa"
    eager = answers["eager task factory on fan-out"]
    assert (eager.change, eager.interval) == (-12.0, (-14.0, -10.0))
    jit = answers["JIT on CPU-bound code"]
    assert jit.verdict is None and jit.measured.startswith("not measured: soakgate compare")
    suite = answers["the test suite on 3.14"]  # PYTHONS was not timed: said so
    assert suite.measured == "the comparison did not time the test suite (--test-rounds 0)"


def test_the_newest_document_answers_and_a_missing_kind_is_said() -> None:
    newer = document("3.12.1 c", "3.14.8 d", None, [figure("throughput", "all requests", 4, "no")])
    first = expected_vs_measured([newer, PYTHONS])[0]
    assert first.change == 4
    no_cpu = document("3.14.8 b", "3.14.8 b + jit", "jit", [figure("p50", "GET /x", 1, "no")])
    jit = next(a for a in expected_vs_measured([no_cpu]) if a.expectation.variant == "jit")
    assert jit.measured == "the workload has no p50 of the requests matching 'cpu'"
    timed = document("3.12.1 c", "3.14.8 d", None, [figure("test suite", "", -11, "faster")])
    suite = next(a for a in expected_vs_measured([timed]) if a.expectation.figure == "test suite")
    assert (suite.change, suite.verdict) == (-11, "faster")


def test_a_comparison_of_two_3_14_releases_does_not_answer_the_python_question() -> None:
    same = document("3.14.8 a", "3.14.8 b", None, [figure("throughput", "all requests", 1, "no")])
    assert expected_vs_measured([same])[0].verdict is None


class Parsed(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_page_holds_the_expectations_the_comparisons_and_the_readiness(tmp_path: Path) -> None:
    state = tmp_path / "state"
    for name, doc in (("20261206T100000Z-a-b", PYTHONS), ("20261206T110000Z-b-b-eager", EAGER)):
        folder = state / "compare" / name
        folder.mkdir(parents=True)
        (folder / "comparison.json").write_text(json.dumps(doc))
        (folder / "comparison.svg").write_text('<?xml version="1.0"?>\n<svg><text>p</text></svg>')
    (state / "compare" / "broken").mkdir()  # no files: left out
    stored = stored_comparisons(state)
    assert [d["variant"] for d, _ in stored] == ["eager-tasks", None]  # newest first
    readiness = {
        "python": "3.14",
        "free_threaded": False,
        "index": "https://index.example/simple/",
        "decision": "GO, deferring group ml",
        "groups": [{"group": "ml", "go": False, "line": "NO-GO: ml — torch No → defer"}],
        "packages": [
            {"name": "torch", "pinned": "2.5.1", "verdict": "No", "reason": "no cp314"},
            {"name": "idna", "verdict": "Yes", "dependency_of": "httpx", "abi3": False},
            {"name": "sniffio", "verdict": "Verify", "dependency_of": "httpx", "abi3": False},
        ],
    }
    page = render_migration_report(stored, tmp_path / "m.html", readiness=readiness)
    parsed = Parsed()
    parsed.feed(page.read_text())
    text = " ".join(parsed.text)
    assert parsed.tags.count("svg") == 2 and "<?xml" not in page.read_text()
    assert "+41.5 % throughput [+39.5, +43.5]; not like with like: PGO" in text
    assert "not like with like: PGO" in text
    assert "torch" in text and "NO-GO: ml — torch No → defer" in text
    assert "Migration: GO, deferring group ml" in text
    assert "sniffio" in text and "dependency of httpx" in text  # a dependency that is not Yes
    assert "idna" not in text and "1 more dependencies are Yes (not shown)" in text
    assert 'class="v-No"' in page.read_text()
    assert "None" not in text and "False" not in text
