"""How long the service's own test suite takes in each of two images, for ``soakgate compare``:
one container per side (as the evidence's test run makes it: the image's non-root user, no
network, the hash-pinned test wheels installed into a tmpfs once), then plain pytest runs
(no coverage, which would time coverage's tracer rather than the interpreter) alternating
between the sides, the first side flipping every round.

    sides = [SuiteSide("sha256:a…", wheels_312), SuiteSide("sha256:b…", wheels_314, {"X": "1"})]
    seconds = time_suites(sides, layout, rounds=5, work=Path("/tmp/x"))
    seconds[0], seconds[1]          # each side's pytest wall time per round

A run whose pytest exits other than 0 (all passed) is no timing: CollectFailed says which
side and why, and both containers are removed, also on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from soakgate.adapters.evidence.layout import ServiceLayout
from soakgate.adapters.evidence.tests import (
    evidence_name,
    exec_in,
    last_line,
    suite_args,
    suite_container,
)
from soakgate.adapters.state.evidence import CollectFailed

SUITE_TIMEOUT = 600.0  # both sides' containers stop by themselves after this


@dataclass(frozen=True)
class SuiteSide:
    """One image whose suite is timed, the test wheels for its Python, environment added."""

    image: str
    wheels: Path
    environment: Mapping[str, str] = field(default_factory=dict)


def plain_pytest_argv(layout: ServiceLayout) -> list[str]:
    """The service's tests as the evidence runs them, without coverage and reports."""
    return ["python", "-m", "pytest", "-q", *suite_args(layout)]


def time_suites(
    sides: Sequence[SuiteSide],
    layout: ServiceLayout,
    *,
    rounds: int,
    work: Path,
    namespace: str = "",
    timeout: float = SUITE_TIMEOUT,
) -> list[list[float]]:
    """Each side's pytest wall time in seconds, ``rounds`` times, interleaved."""
    deadline = time.monotonic() + timeout
    argv = plain_pytest_argv(layout)
    seconds: list[list[float]] = [[] for _ in sides]
    with contextlib.ExitStack() as stack:
        containers = [
            stack.enter_context(
                suite_container(
                    side.image,
                    layout,
                    side.wheels,
                    work / f"side-{index}",
                    name=evidence_name(f"suite-{'ab'[index]}", namespace),
                    what=f"the test suite of side {'AB'[index]}",
                    deadline=deadline,
                    environment=side.environment,
                )
            )
            for index, side in enumerate(sides)
        ]
        for turn in range(rounds + 1):  # the first turn warms the files' caches: not kept
            order = range(len(sides)) if turn % 2 == 0 else reversed(range(len(sides)))
            for index in order:
                started = time.monotonic()
                code, text = exec_in(containers[index], argv, deadline)
                took = time.monotonic() - started
                if code != 0:
                    raise CollectFailed(
                        f"side {'AB'[index]}: the test suite did not pass (pytest exit {code}):"
                        f" {last_line(text)}"
                    )
                if turn > 0:
                    seconds[index].append(took)
    return seconds
