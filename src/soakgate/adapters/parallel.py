"""Run one step per host at once, for the commands that reach a stage's hosts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

PARALLEL = 8  # hosts worked on at once

Item = TypeVar("Item")
Result = TypeVar("Result")


def each(step: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
    """``step`` of every item, at most ``PARALLEL`` at once, results in the items' order. On
    Ctrl-C it does not wait for the running steps: the caller closes their connections."""
    pool = ThreadPoolExecutor(max_workers=min(PARALLEL, len(items) or 1))
    try:
        return list(pool.map(step, items))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
