"""The stage's containers on each of its SSH hosts, checked over SSH as the deploy user (the
host's ``docker`` CLI, every command bounded): each slot runs its recorded release as a
non-root user and answers its health path; the host's proxy routes to the active slot by its
container name, and answers through the host's address from the active slot.
"""

from __future__ import annotations

import shlex
from typing import Any

import httpx
import testinfra

from soakgate.core.proxy_conf import CONF_DIR, parse_upstream

BOUND = "timeout 30"
HEALTH = (
    "import urllib.request as u; "
    "print(u.urlopen('http://127.0.0.1:{port}{path}', timeout=3).status)"
)


def inside(remote: testinfra.host.Host, container: str, *argv: str) -> str:
    """``argv`` run in ``container`` on the host; its output (the check fails on exit != 0)."""
    result = remote.run(f"{BOUND} docker exec {shlex.quote(container)} {shlex.join(argv)}")
    assert result.rc == 0, f"{container}: {' '.join(argv)}: {result.stderr.strip()}"
    return str(result.stdout.strip())


def inspect(remote: testinfra.host.Host, container: str) -> dict[str, Any]:
    data: dict[str, Any] = remote.docker(container).inspect()
    return data


def test_each_slot_runs_its_recorded_release(
    remote: testinfra.host.Host, remote_app: dict[str, Any]
) -> None:
    assert inspect(remote, remote_app["container"])["Image"] == remote_app["digest"]


def test_each_slot_runs_as_non_root(
    remote: testinfra.host.Host, remote_app: dict[str, Any]
) -> None:
    assert int(inside(remote, remote_app["container"], "id", "-u")) != 0


def test_each_slot_answers_its_health_path(
    remote: testinfra.host.Host, remote_app: dict[str, Any]
) -> None:
    code = HEALTH.format(port=remote_app["port"], path=remote_app["health_path"])
    assert inside(remote, remote_app["container"], "python", "-c", code) == "200"


def test_the_hosts_proxy_routes_to_the_active_slot_by_name(
    remote: testinfra.host.Host, plan: dict[str, Any]
) -> None:
    proxy = plan["remote_proxy"]
    target = parse_upstream(inside(remote, proxy["container"], "cat", f"{CONF_DIR}/upstream.conf"))
    assert target is not None
    assert (target.slot, target.digest) == (proxy["active"], proxy["active_release"])
    assert target.address == proxy["active_container"]


def test_the_hosts_proxy_answers_from_the_active_slot(
    ssh_host: dict[str, Any], plan: dict[str, Any]
) -> None:
    proxy = plan["remote_proxy"]
    address = ssh_host["address"]
    address = f"[{address}]" if ":" in address else address
    response = httpx.get(f"http://{address}:{proxy['port']}{proxy['health_path']}", timeout=5)
    assert response.status_code == 200
    assert response.headers["x-soakgate-slot"] == proxy["active"]
