"""The service's own ``/metrics`` (Prometheus text), read for the soak's traffic counters."""

from __future__ import annotations

import re

_REQUESTS = re.compile(r"^http_requests_total\{([^}]*)\}\s+([0-9.eE+-]+)", re.M)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def traffic_counters(metrics_text: str, skip_paths: tuple[str, ...]) -> tuple[float, float]:
    """(requests, 5xx answers) of ``http_requests_total`` in Prometheus text, without the
    probes' own paths.

        traffic_counters('http_requests_total{path="/x",status="502"} 3.0', ("/health",))  # (3, 3)
    """
    requests = errors = 0.0
    for labels, value in _REQUESTS.findall(metrics_text):
        found = dict(_LABEL.findall(labels))
        if found.get("path") in skip_paths:
            continue
        requests += float(value)
        if found.get("status", "").startswith("5"):
            errors += float(value)
    return requests, errors
