"""A bounded load generator on loopback: steady requests at a fixed rate, counting failures
(non-2xx answers and connection errors). It stops by itself at ``max_seconds`` or
``max_requests``, whichever comes first, or when ``stop()`` is called.

    with LoadGenerator("http://127.0.0.1:18081/health", rate=50, max_seconds=120) as load:
        deploy()
    load.report.failed    # 0
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType

import httpx


@dataclass
class LoadReport:
    sent: int = 0
    failed: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    seconds: float = 0.0
    first_failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "statuses": dict(self.statuses),
            "seconds": round(self.seconds, 3),
            "first_failures": self.first_failures,
        }


class LoadGenerator:
    """Sends GET requests to ``url`` from ``workers`` threads at ``rate`` requests/second."""

    def __init__(
        self,
        url: str,
        *,
        rate: float = 50.0,
        max_seconds: float = 300.0,
        max_requests: int = 100_000,
        workers: int = 4,
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.interval = workers / rate
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.workers = workers
        self.timeout = timeout
        self.report = LoadReport()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = 0.0

    def _record(self, status: str, ok: bool, latency: float) -> None:
        with self._lock:
            self.report.sent += 1
            self.report.statuses[status] += 1
            if ok:
                self.report.latencies.append(latency)
            else:
                self.report.failed += 1
                if len(self.report.first_failures) < 10:
                    self.report.first_failures.append(status)

    def _budget_left(self) -> bool:
        with self._lock:
            sent = self.report.sent
        return (
            not self._stop.is_set()
            and sent < self.max_requests
            and time.monotonic() - self._started < self.max_seconds
        )

    def _worker(self) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            next_at = time.monotonic()
            while self._budget_left():
                started = time.monotonic()
                try:
                    response = client.get(self.url)
                    ok = 200 <= response.status_code < 300
                    self._record(str(response.status_code), ok, time.monotonic() - started)
                except httpx.HTTPError as exc:
                    self._record(type(exc).__name__, False, 0.0)
                next_at += self.interval
                self._stop.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> LoadGenerator:
        self._started = time.monotonic()
        self._threads = [
            threading.Thread(target=self._worker, daemon=True) for _ in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> LoadReport:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 1)
        self.report.seconds = time.monotonic() - self._started
        return self.report

    def __enter__(self) -> LoadGenerator:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
