"""A planted, proportional regression: every ``/work`` request spends ``percent`` more CPU time
than it took, before its answer leaves (``SERVICE_SLOWDOWN_PERCENT``; the performance gate's
benchmark plants a 5 % slowdown with it). Pure ASGI: when off, it only compares two values.

    app = SlowdownMiddleware(app, percent=5.0)
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def spin(seconds: float) -> None:
    """Busy for ``seconds`` (a regression costs CPU, as slower code does)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


class SlowdownMiddleware:
    def __init__(self, app: ASGIApp, percent: float = 0.0) -> None:
        self.app = app
        self.percent = percent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.percent or scope["type"] != "http" or not scope["path"].startswith("/work"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def slowed(message: Message) -> None:
            if message["type"] == "http.response.start":
                spin((time.perf_counter() - started) * self.percent / 100)
            await send(message)

        await self.app(scope, receive, slowed)
