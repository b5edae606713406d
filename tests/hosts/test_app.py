"""Each app container runs the recorded release, as a non-root user, and is healthy."""

from __future__ import annotations

from typing import Any

import testinfra

PYTHON_VERSION = "python -c 'import platform; print(platform.python_version())'"
HEALTH = (
    'python -c "import urllib.request as u; '
    "print(u.urlopen('http://127.0.0.1:{port}{path}', timeout=3).status)\""
)


def listening_ports(host: testinfra.host.Host) -> set[int]:
    """Ports in LISTEN state, from /proc (the images have neither ss nor netstat)."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in host.file(table).content_string.splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_runs_the_recorded_digest(app: dict[str, Any], inspect: dict[str, Any]) -> None:
    assert inspect["Image"] == app["digest"]


def test_python_version_matches_the_release(
    app: dict[str, Any], app_host: testinfra.host.Host
) -> None:
    assert app_host.check_output(PYTHON_VERSION) == app["python"]


def test_runs_as_non_root(app_host: testinfra.host.Host) -> None:
    # `id -u`, not testinfra's user(): its `id -nu` fails for a numeric UID with no passwd entry
    assert int(app_host.check_output("id -u")) != 0


def test_service_port_listens(app: dict[str, Any], app_host: testinfra.host.Host) -> None:
    assert app["port"] in listening_ports(app_host)


def test_health_answers_200(app: dict[str, Any], app_host: testinfra.host.Host) -> None:
    assert app_host.check_output(HEALTH.format(port=app["port"], path=app["health_path"])) == "200"


def test_no_compiler_or_package_cache(app_host: testinfra.host.Host) -> None:
    for compiler in ("gcc", "cc", "c++", "clang"):
        assert not app_host.exists(compiler), compiler
    assert not app_host.file("/root/.cache/pip").exists
    assert app_host.run("python -c 'import pip'").rc != 0
    assert app_host.run("ls /var/cache/apt/archives/*.deb").rc != 0
    assert app_host.run("ls /var/lib/apt/lists/*_Packages").rc != 0
