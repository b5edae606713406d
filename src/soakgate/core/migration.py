"""The migration's own questions, answered from measurements: what the roadmap expects of
Python 3.14 and of each variant, next to what ``soakgate compare`` measured here.

    rows = expected_vs_measured(documents)   # comparison.json documents, newest first
    [(row.change, row.measured) for row in rows]

Each expectation names the comparison that answers it (3.12 against 3.14, or a release against
one of its variants), the figure and the request kind it reads (a kind is matched by a word of
its path: "cpu", "fanout"), and what the roadmap or the published figures say. A question no
stored comparison answers says so, with the command that would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ALL = "all requests"


@dataclass(frozen=True)
class Expectation:
    """One expected gain: which comparison, which figure, what was expected."""

    question: str
    expected: str
    variant: str | None  # None: 3.12 (A) against 3.14 (B), no variant
    figure: str
    kind_word: str | None = None  # a word of the request kind's path; None: all requests
    command: str = ""
    missing: str = ""  # what a comparison without the figure says (default: the workload's)


ROADMAP: tuple[Expectation, ...] = (
    Expectation(
        "Python 3.14 over 3.12",
        "about 5 % faster (published pyperformance, x86-64 Linux)",
        None,
        "throughput",
        command="soakgate compare <3.12 release> <3.14 release>",
    ),
    Expectation(
        "the test suite on 3.14",
        "10 % shorter (roadmap)",
        None,
        "test suite",
        command="soakgate compare <3.12 release> <3.14 release>",
        missing="the comparison did not time the test suite (--test-rounds 0)",
    ),
    Expectation(
        "JIT on CPU-bound code",
        "5 to 15 % faster (roadmap; published pyperformance: about 4 %)",
        "jit",
        "p50",
        "cpu",
        "soakgate compare <3.14 release> --variant jit",
    ),
    Expectation(
        "eager task factory on fan-out",
        "10 % less latency (roadmap)",
        "eager-tasks",
        "p50",
        "fanout",
        "soakgate compare <3.14 release> --variant eager-tasks",
    ),
    Expectation(
        "free-threaded build, single-threaded",
        "about 5 % slower (published pyperformance)",
        "free-threaded",
        "throughput",
        command="soakgate compare <3.14 release> --variant free-threaded",
    ),
)


@dataclass(frozen=True)
class Answer:
    """An expectation and what was measured for it (or why nothing was)."""

    expectation: Expectation
    measured: str
    verdict: str | None = None
    change: float | None = None
    interval: tuple[float, float] | None = None
    source: str | None = None  # which comparison (its A and B labels)


def _python(document: Mapping[str, Any], side: str) -> str:
    label = str((document.get(side) or {}).get("label", ""))
    return label.split(" ", 1)[0]


def answers_question(document: Mapping[str, Any], expectation: Expectation) -> bool:
    """Does this comparison answer the expectation (the right variant and Pythons)?"""
    if document.get("variant") != expectation.variant:
        return False
    if expectation.variant is None:
        return _python(document, "a").startswith("3.12") and _python(document, "b").startswith(
            "3.14"
        )
    return True


def _figure(document: Mapping[str, Any], expectation: Expectation) -> Mapping[str, Any] | None:
    for figure in document.get("figures") or []:
        if figure.get("name") != expectation.figure:
            continue
        kind = str(figure.get("kind", ""))
        if expectation.kind_word is None and kind in (ALL, ""):  # "": a whole-release figure
            return dict(figure)
        if expectation.kind_word is not None and expectation.kind_word in kind:
            return dict(figure)
    return None


def expected_vs_measured(documents: Sequence[Mapping[str, Any]]) -> list[Answer]:
    """One answer per roadmap expectation, from the first (newest) document that has it."""
    answers = []
    for expectation in ROADMAP:
        answer = Answer(expectation, f"not measured: {expectation.command}")
        for document in documents:
            if not answers_question(document, expectation):
                continue
            figure = _figure(document, expectation)
            if figure is None:
                where = (
                    f" of the requests matching '{expectation.kind_word}'"
                    if (expectation.kind_word)
                    else ""
                )
                answer = Answer(
                    expectation,
                    expectation.missing or f"the workload has no {expectation.figure}{where}",
                    source=_source(document),
                )
                break
            change = figure.get("change_percent")
            interval = figure.get("interval_percent")
            text = "—" if change is None else f"{change:+.1f} % {expectation.figure}"
            if interval and None not in interval:
                text += f" [{interval[0]:+.1f}, {interval[1]:+.1f}]"
            unlike = [n for n in document.get("notes") or [] if str(n).startswith("not like")]
            if unlike:
                text += "; not like with like: " + str(unlike[0]).split(": ", 1)[-1].split(" (")[0]
            answer = Answer(
                expectation,
                text,
                verdict=str(figure.get("verdict")),
                change=change,
                interval=tuple(interval) if interval and None not in interval else None,
                source=_source(document),
            )
            break
        answers.append(answer)
    return answers


def _source(document: Mapping[str, Any]) -> str:
    a = (document.get("a") or {}).get("label", "A")
    b = (document.get("b") or {}).get("label", "B")
    return f"{b} against {a}"
