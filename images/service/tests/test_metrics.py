"""/metrics counts requests by status and route template and times them."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import MakeClient


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def count(method: str, path: str, status: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    labels = {"method": method, "path": path, "status": status}
    return ("http_requests_total", tuple(sorted(labels.items())))


def test_requests_are_counted_by_status_and_template(make_client: MakeClient) -> None:
    client = make_client(fail_health=True)
    client.get("/health")
    client.get("/health")
    client.get("/work/cpu", params={"n": 10})
    client.get("/work/cpu", params={"n": 0})
    client.get("/no/such/page")
    found = samples(client)
    assert found[count("GET", "/health", "500")] == 2
    assert found[count("GET", "/work/cpu", "200")] == 1
    assert found[count("GET", "/work/cpu", "422")] == 1
    assert found[count("GET", "<unmatched>", "404")] == 1


def test_latency_histogram(client: TestClient) -> None:
    client.get("/work/fanout", params={"tasks": 2})
    found = samples(client)
    key = ("http_request_duration_seconds_count", (("method", "GET"), ("path", "/work/fanout")))
    assert found[key] == 1


def test_apps_do_not_share_counters(make_client: MakeClient) -> None:
    first, second = make_client(), make_client()
    first.get("/health")
    assert count("GET", "/health", "200") not in samples(second)
