"""The FastAPI application: probes, version, metrics and the work endpoints.

Serve it with:

    uvicorn app.main:app          # or, with JSON logs: python -m app
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app import __version__
from app.metrics import Metrics, MetricsMiddleware
from app.settings import Settings
from app.slowdown import SlowdownMiddleware
from app.work import count_primes, fan_out, pydantic_round_trip

MAX_PRIMES_N = 200_000
MAX_ITEMS = 5_000
MAX_TASKS = 10_000


def settings_of(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


async def planted_delay(request: Request) -> None:
    """Sleep ``SERVICE_DELAY_MS`` before any work request (a planted regression)."""
    delay_ms = settings_of(request).delay_ms
    if delay_ms:
        await asyncio.sleep(delay_ms / 1000)


work = APIRouter(prefix="/work", dependencies=[Depends(planted_delay)])


@work.get("/cpu")
def work_cpu(n: Annotated[int, Query(ge=1, le=MAX_PRIMES_N)] = 10_000) -> dict[str, int]:
    """Count the primes below ``n`` (runs in the thread pool: it is blocking)."""
    return {"n": n, "primes": count_primes(n)}


@work.get("/pydantic")
def work_pydantic(
    items: Annotated[int, Query(ge=1, le=MAX_ITEMS)] = 100,
) -> dict[str, int | float]:
    """Validate and serialise an order of ``items`` lines."""
    return pydantic_round_trip(items)


@work.get("/fanout")
async def work_fanout(
    request: Request,
    tasks: Annotated[int, Query(ge=1, le=MAX_TASKS)] = 100,
) -> dict[str, int]:
    """Gather ``tasks`` small coroutines (started eagerly with ``SERVICE_EAGER_TASKS``)."""
    return await fan_out(tasks, eager=settings_of(request).eager_tasks)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; ``settings`` default to the process environment."""
    settings = settings or Settings.from_env(os.environ)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ready = True
        yield
        app.state.ready = False

    app = FastAPI(title="soakgate sample service", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.ready = False
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(SlowdownMiddleware, percent=settings.slowdown_percent)

    @app.get("/health")
    def health() -> JSONResponse:
        """Liveness: 500 when ``SERVICE_FAIL_HEALTH`` is set."""
        if settings.fail_health:
            return JSONResponse({"status": "failing"}, status_code=500)
        return JSONResponse({"status": "ok"})

    @app.get("/ready")
    def ready(request: Request) -> JSONResponse:
        """Readiness: 200 once started, 503 before or when ``SERVICE_FAIL_READY`` is set."""
        if settings.fail_ready or not request.app.state.ready:
            return JSONResponse({"status": "not ready"}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/version")
    def version() -> dict[str, Any]:
        """Release id, app version, Python version and source revision."""
        return settings.version()

    @app.get("/metrics")
    def prometheus() -> Response:
        """Prometheus text exposition of the request counters and latency histogram."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(work)
    return app


app = create_app()
