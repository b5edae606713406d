"""The work the ``/work/*`` endpoints do: CPU, pydantic and asyncio fan-out, each bounded.

For example:

    count_primes(10_000) == 1229
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from pydantic import BaseModel, Field


def count_primes(n: int) -> int:
    """Count the primes below ``n`` by trial division (deliberately pure Python)."""
    count = 0
    for candidate in range(2, n):
        divisor = 2
        while divisor * divisor <= candidate:
            if candidate % divisor == 0:
                break
            divisor += 1
        else:
            count += 1
    return count


class Item(BaseModel):
    """One line of an order."""

    sku: str = Field(min_length=1)
    quantity: int = Field(ge=1)
    price: float = Field(ge=0)
    tags: list[str] = []


class Order(BaseModel):
    """An order of items, validated and serialised by the pydantic round trip."""

    id: int
    items: list[Item]

    @property
    def total(self) -> float:
        return sum(item.quantity * item.price for item in self.items)


def pydantic_round_trip(items: int) -> dict[str, int | float]:
    """Validate an order of ``items`` lines from plain data, dump it to JSON and back."""
    raw = {
        "id": items,
        "items": [
            {"sku": f"sku-{i}", "quantity": i % 7 + 1, "price": i * 0.5, "tags": ["a", str(i)]}
            for i in range(items)
        ],
    }
    order = Order.model_validate(raw)
    text = order.model_dump_json()
    again = Order.model_validate_json(text)
    return {"items": len(again.items), "bytes": len(text), "total": round(again.total, 2)}


async def _task(i: int) -> int:
    """A lookup: three in four are answered at once (a cache hit), the fourth waits a turn of
    the event loop, as a fan-out to a cache and a database does."""
    if i % 4 == 3:
        await asyncio.sleep(0)
    return i * i


def start_tasks(
    loop: asyncio.AbstractEventLoop, coroutines: list[Coroutine[Any, Any, int]], eager: bool
) -> list[asyncio.Future[int]]:
    """Tasks for the coroutines; ``eager`` runs each at once until it first waits
    (``asyncio.eager_task_factory``): one that never waits is done without a loop turn."""
    if eager:
        return [asyncio.eager_task_factory(loop, coroutine) for coroutine in coroutines]
    return [loop.create_task(coroutine) for coroutine in coroutines]


async def fan_out(tasks: int, eager: bool = False) -> dict[str, int]:
    """Run ``tasks`` small coroutines concurrently and combine their results."""
    started = start_tasks(asyncio.get_running_loop(), [_task(i) for i in range(tasks)], eager)
    results = await asyncio.gather(*started)
    return {"tasks": len(results), "sum": sum(results)}
