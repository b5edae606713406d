"""Each app container runs the recorded release, as a non-root user, and is healthy."""

from __future__ import annotations

from typing import Any

import testinfra

PYTHON_VERSION = "python -c 'import platform; print(platform.python_version())'"
HEALTH = (
    'python -c "import urllib.request as u; '
    "print(u.urlopen('http://127.0.0.1:{port}{path}', timeout=3).status)\""
)
# what a small runtime image leaves out, each printed when found
LEFT_BEHIND = (
    "for tool in gcc cc c++ clang; do command -v $tool >/dev/null 2>&1 && echo $tool; done;"
    " test -e /root/.cache/pip && echo /root/.cache/pip;"
    " python -c 'import pip' >/dev/null 2>&1 && echo 'the pip module';"
    " ls /var/cache/apt/archives/*.deb >/dev/null 2>&1 && echo 'apt archives';"
    " ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 && echo 'apt lists'; true"
)


def listening_ports(host: testinfra.host.Host) -> set[int]:
    """Ports in LISTEN state, from /proc (the images have neither ss nor netstat); both tables
    in one command (each is a ``docker exec``)."""
    ports = set()
    tables = host.check_output("cat /proc/net/tcp /proc/net/tcp6 2>/dev/null || true")
    for line in tables.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[0].endswith(":") and fields[3] == "0A":
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
    """One command lists what must not be there: compilers, pip (and its cache), apt's
    downloads and lists."""
    assert app_host.check_output(LEFT_BEHIND) == ""
