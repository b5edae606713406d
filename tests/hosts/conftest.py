"""pytest-testinfra checks of deployed hosts, driven by a plan file ``soakgate verify`` writes.

The plan says what should be true (which containers, which release and Python in each, where
the proxy routes); these checks look at the real containers through testinfra's ``docker://``
backend and at the Docker host through ``local://``; a stage on SSH hosts has each host checked
over ``ssh://`` (``test_docker_host.py``).

    python -m pytest tests/hosts --soakgate-plan plan.json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import testinfra


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soakgate-plan", required=True, help="JSON plan written by soakgate verify")


def _plan(config: pytest.Config) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(config.getoption("--soakgate-plan")).read_text())
    return data


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """An image check has no stage: its proxy and hardening checks are not collected."""
    plan = _plan(config)
    if collection_path.name == "test_docker_host.py" and not plan.get("hosts"):
        return True
    if collection_path.name == "test_remote_stage.py" and not plan.get("remote_apps"):
        return True
    if collection_path.name == "test_app.py" and not plan.get("apps"):
        return True
    if collection_path.name == "test_proxy.py" and not plan.get("proxy"):
        return True
    slots = [app for app in plan.get("apps", []) if app.get("role") == "slot"]
    if collection_path.name == "test_hardening.py" and not slots:
        return True
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    plan = _plan(metafunc.config)
    if "app" in metafunc.fixturenames:
        apps = plan.get("apps", [])
        metafunc.parametrize("app", apps, ids=[app["container"] for app in apps])
    if "remote_app" in metafunc.fixturenames:
        apps = plan.get("remote_apps", [])
        metafunc.parametrize("remote_app", apps, ids=[app["container"] for app in apps])
    if "ssh_host" in metafunc.fixturenames:
        hosts = plan.get("hosts", [])
        metafunc.parametrize("ssh_host", hosts, ids=[host["name"] for host in hosts])


@pytest.fixture(scope="session")
def plan(request: pytest.FixtureRequest) -> dict[str, Any]:
    return _plan(request.config)


@pytest.fixture(scope="session")
def docker_host() -> testinfra.host.Host:
    """The Docker host itself."""
    return testinfra.get_host("local://")


@pytest.fixture
def remote(plan: dict[str, Any], ssh_host: dict[str, Any]) -> testinfra.host.Host:
    """One Docker host of the stage, over SSH as its deploy user (``plan["ssh_config"]``:
    known_hosts, key, BatchMode; no connection kept open afterwards)."""
    address = ssh_host["address"]
    address = f"[{address}]" if ":" in address else address  # an IPv6 address
    return testinfra.get_host(
        f"ssh://{ssh_host['user']}@{address}:{ssh_host['port']}",
        ssh_config=plan["ssh_config"],
        controlpersist=0,
    )


@pytest.fixture
def app_host(app: dict[str, Any]) -> testinfra.host.Host:
    """Inside one app container."""
    return testinfra.get_host(f"docker://{app['container']}")


@pytest.fixture
def inspect(docker_host: testinfra.host.Host, app: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = docker_host.docker(app["container"]).inspect()
    return data
