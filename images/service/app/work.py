"""The work the ``/work/*`` endpoints do: CPU, pydantic and asyncio fan-out, each bounded.

For example:

    count_primes(10_000) == 1229
"""

from __future__ import annotations

import asyncio

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
    await asyncio.sleep(0)
    return i * i


async def fan_out(tasks: int) -> dict[str, int]:
    """Run ``tasks`` small coroutines concurrently and combine their results."""
    results = await asyncio.gather(*(_task(i) for i in range(tasks)))
    return {"tasks": len(results), "sum": sum(results)}
