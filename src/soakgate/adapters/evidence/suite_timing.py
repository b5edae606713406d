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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soakgate.adapters.evidence.layout import ServiceLayout
from soakgate.adapters.evidence.tests import (
    container_kwargs,
    evidence_name,
    exec_in,
    image_config,
    last_line,
    pip_install_argv,
    pip_wheel,
    prepare_suite,
    started_container,
    suite_args,
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


@contextlib.contextmanager
def _ready(
    side: SuiteSide, index: int, layout: ServiceLayout, work: Path, deadline: float, namespace: str
) -> Iterator[Any]:
    """A running container of ``side`` with the test wheels installed."""
    folder = work / f"side-{index}"
    suite = prepare_suite(layout, folder / "suite")
    out = folder / "out"
    out.mkdir(parents=True, exist_ok=True)
    config = image_config(side.image)
    kwargs = container_kwargs(
        side.image,
        name=evidence_name(f"suite-{'ab'[index]}", namespace),
        config=config,
        layout=layout,
        suite=suite,
        wheels=side.wheels,
        out=out,
        timeout=deadline - time.monotonic(),
    )
    kwargs["environment"] = {**kwargs["environment"], **side.environment}
    with started_container(f"the test suite of side {'AB'[index]}", kwargs) as container:
        code, text = exec_in(container, pip_install_argv(pip_wheel(side.wheels)), deadline)
        if code != 0:
            raise CollectFailed(
                f"side {'AB'[index]}: installing the test wheels failed (exit {code}):"
                f" {last_line(text)}"
            )
        yield container


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
            stack.enter_context(_ready(side, index, layout, work, deadline, namespace))
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
