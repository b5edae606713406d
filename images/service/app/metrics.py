"""Prometheus metrics and the ASGI middleware that records them and logs each request.

Paths are labelled by route template (``/work/cpu``), never by raw URL, so unknown
URLs cannot grow the label set: they all count as ``<unmatched>``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "<unmatched>"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

access_log = logging.getLogger("app.access")


class Metrics:
    """The service's collectors, in a registry of their own (one per app instance)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests handled, by method, path template and status code.",
            ["method", "path", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to handle an HTTP request, by method and path template.",
            ["method", "path"],
            buckets=BUCKETS,
            registry=self.registry,
        )


def route_path(scope: Scope) -> str:
    """Return the template of the route that handled ``scope``, or ``<unmatched>``."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class MetricsMiddleware:
    """Count, time and log every HTTP request (a plain ASGI middleware)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            method, path = scope["method"], route_path(scope)
            self.metrics.requests.labels(method, path, str(status)).inc()
            self.metrics.latency.labels(method, path).observe(elapsed)
            access_log.info(
                "request",
                extra={
                    "fields": {
                        "method": method,
                        "path": scope["path"],
                        "route": path,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                    }
                },
            )
