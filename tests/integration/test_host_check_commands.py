"""The host checks' one-command probes (``tests/hosts/test_app.py``) can fail: run in a real
container of the 3.14 base image, they name each thing planted there, and find nothing in the
base as it is."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from types import ModuleType

import docker
import pytest
import testinfra

pytestmark = pytest.mark.integration
BASE = "soakgate/python:3.14"
PLANT = (
    "printf '#!/bin/sh\\n' > /usr/local/bin/clang && chmod +x /usr/local/bin/clang"
    " && mkdir -p /root/.cache/pip /tmp/p/pip && touch /tmp/p/pip/__init__.py"
    " && mkdir -p /var/cache/apt/archives /var/lib/apt/lists"
    " && touch /var/cache/apt/archives/x.deb /var/lib/apt/lists/a_Packages"
    " && export PYTHONPATH=/tmp/p && "
)
LISTEN = (
    "import socket, time\n"
    "server = socket.socket()\n"
    "server.bind(('0.0.0.0', 8123))\n"
    "server.listen()\n"
    "time.sleep(30)\n"
)


def host_checks() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "hosts" / "test_app.py"
    spec = importlib.util.spec_from_file_location("host_test_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def in_base(engine: docker.DockerClient, script: str) -> str:
    output: bytes = engine.containers.run(
        BASE, ["sh", "-c", script], entrypoint=[], user="0", remove=True, network_disabled=True
    )
    return output.decode()


@pytest.mark.usefixtures("base_images")
def test_the_left_behind_probe_names_each_planted_thing_and_nothing_in_the_base(
    engine: docker.DockerClient,
) -> None:
    probe = host_checks().LEFT_BEHIND
    assert in_base(engine, probe).split("\n") == [""]
    found = in_base(engine, PLANT + probe).splitlines()
    assert found == ["clang", "/root/.cache/pip", "the pip module", "apt archives", "apt lists"]


@pytest.mark.usefixtures("base_images")
def test_the_listening_ports_probe_reads_a_listening_socket(engine: docker.DockerClient) -> None:
    checks = host_checks()
    container = engine.containers.run(
        BASE, ["python", "-c", LISTEN], entrypoint=[], detach=True, network_disabled=True
    )
    try:
        host = testinfra.get_host(f"docker://{container.id}")
        ports: set[int] = set()
        for _ in range(50):  # until the server listens: at most about 10 s
            ports = checks.listening_ports(host)
            if 8123 in ports:
                break
            time.sleep(0.1)
        assert 8123 in ports
        assert 8124 not in ports
    finally:
        container.remove(force=True)
