"""The stage's proxy routes to the active slot, only on the configured address."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import testinfra

from soakgate.core.proxy_conf import CONF_DIR, parse_upstream


@pytest.fixture
def proxy(plan: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = plan["proxy"]
    return data


def test_proxy_routes_to_the_active_slot(
    proxy: dict[str, Any], docker_host: testinfra.host.Host
) -> None:
    inside = testinfra.get_host(f"docker://{proxy['container']}")
    target = parse_upstream(inside.file(f"{CONF_DIR}/upstream.conf").content_string)
    assert target is not None
    assert target.slot == proxy["active"]
    assert target.digest == proxy["active_release"]
    active = docker_host.docker(proxy["active_container"]).inspect()
    # A name the engine's DNS resolves at request time, never an address (they move).
    assert target.address == active["Name"].lstrip("/")


def test_the_answer_comes_from_the_active_container(
    proxy: dict[str, Any], docker_host: testinfra.host.Host
) -> None:
    """What serves is the container that holds the active slot now, by the address that
    answered — not by a marker or a header the proxy writes from its config."""
    response = httpx.get(f"{proxy['url']}{proxy['health_path']}", timeout=5)
    answered = response.headers["x-soakgate-upstream"].rsplit(":", 1)[0]
    active = docker_host.docker(proxy["active_container"]).inspect()
    addresses = {network["IPAddress"] for network in active["NetworkSettings"]["Networks"].values()}
    assert answered in addresses


def test_proxy_publishes_only_its_port_on_the_bind_address(
    proxy: dict[str, Any], docker_host: testinfra.host.Host
) -> None:
    bindings = docker_host.docker(proxy["container"]).inspect()["HostConfig"]["PortBindings"]
    published = [binding for port in bindings.values() for binding in port]
    assert published == [{"HostIp": proxy["bind_address"], "HostPort": str(proxy["port"])}]


def test_health_through_the_proxy(proxy: dict[str, Any]) -> None:
    response = httpx.get(f"{proxy['url']}{proxy['health_path']}", timeout=5)
    assert response.status_code == 200
    assert response.headers["x-soakgate-slot"] == proxy["active"]
