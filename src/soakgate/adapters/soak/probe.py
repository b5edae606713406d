"""The soak monitor's HTTP probe: one GET through the stage's proxy, a fresh connection each."""

from __future__ import annotations

import time

from soakgate.core.proxy_conf import SLOT_HEADER, UPSTREAM_HEADER
from soakgate.core.soak import RoutedSample, Sample


class HttpProbe:
    """Probes one URL with a short timeout; each probe is a fresh connection, like a client's.

    probe = HttpProbe("http://127.0.0.1:18081/health", timeout=1.6)
    probe(time.time())     # RoutedSample(t, ok=True, status=200, latency_ms=2.1, slot="blue",
                           #              upstream="172.18.0.3:8000")
    """

    def __init__(self, url: str, timeout: float, metrics_url: str | None = None) -> None:
        import httpx  # imported here: the status command does not need it

        self.url = url
        self.metrics_url = metrics_url
        self._httpx = httpx
        self._client = httpx.Client(
            timeout=timeout, limits=httpx.Limits(max_keepalive_connections=0)
        )

    def __call__(self, t: float) -> Sample:
        httpx = self._httpx
        started = time.perf_counter()
        try:
            response = self._client.get(self.url)
        except httpx.HTTPError as exc:
            return Sample(t, False, None, None, type(exc).__name__)
        latency = (time.perf_counter() - started) * 1000.0
        ok = 200 <= response.status_code < 300
        return RoutedSample(
            t,
            ok,
            response.status_code,
            latency,
            None if ok else f"HTTP {response.status_code}",
            response.headers.get(SLOT_HEADER),
            response.headers.get(UPSTREAM_HEADER),
        )

    def scrape(self) -> str | None:
        """The service's ``/metrics`` text, or None when it has none (or did not answer)."""
        if self.metrics_url is None:
            return None
        try:
            response = self._client.get(self.metrics_url)
        except self._httpx.HTTPError:
            return None
        return response.text if response.status_code == 200 else None

    def close(self) -> None:
        self._client.close()
