"""Checks of each Docker host of a stage that runs on SSH hosts, over SSH as its deploy user
(testinfra's ``ssh://`` backend, host keys checked): the engine answers that user with API
1.41 or newer, the engine's data root has room, the engine rotates container logs, and nothing
listens on the host's outside addresses but SSH and the stages' proxies.
"""

from __future__ import annotations

import json
from typing import Any

import testinfra

# Run on the host with its python3 (docker-host.yml installs it): the config file of the engine
# this session reaches (the dockerd whose -H is $DOCKER_HOST's socket, or the only one), read.
ENGINE_CONFIG = r"""
import json, os, pathlib
sock = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")
engines = []
for proc in pathlib.Path("/proc").iterdir():
    try:
        if (proc / "comm").read_text().strip() == "dockerd":
            argv = (proc / "cmdline").read_bytes().decode().split("\0")
            stat = (proc / "stat").read_text()
            engines.append((argv, int(stat.rsplit(")", 1)[1].split()[19])))
    except OSError:
        pass
def option(argv, *names):
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None
mine = [e for e in engines if (option(e[0], "-H", "--host") or "").removeprefix("unix://") == sock]
argv, ticks = (mine or engines or [([], None)])[0]
path = option(argv, "--config-file") or "/etc/docker/daemon.json"
try:
    config = json.loads(pathlib.Path(path).read_text() or "{}")
    changed = pathlib.Path(path).stat().st_mtime
except FileNotFoundError:
    config, changed = {}, 0.0
started = None
if ticks is not None:
    boot = next(int(line.split()[1]) for line in open("/proc/stat") if line.startswith("btime"))
    started = boot + ticks / os.sysconf("SC_CLK_TCK")
print(json.dumps({"path": path, "config": config, "changed": changed, "started": started}))
"""

# Every command on the host is bounded: a stuck engine fails its check, it does not hang verify.
BOUND = "timeout 30"


def engine_info(remote: testinfra.host.Host, template: str) -> str:
    result = remote.run(f"{BOUND} docker info --format %s", template)
    assert result.rc == 0, f"docker info as {remote.user().name}: {result.stderr.strip()}"
    return str(result.stdout.strip())


def test_the_deploy_user_reaches_the_engine(
    remote: testinfra.host.Host, ssh_host: dict[str, Any]
) -> None:
    assert remote.user().name == ssh_host["user"]
    version = remote.run(f"{BOUND} docker version --format '{{{{.Server.APIVersion}}}}'")
    assert version.rc == 0, f"the engine does not answer {ssh_host['user']}: {version.stderr}"
    major, minor = (int(part) for part in version.stdout.strip().split(".")[:2])
    assert (major, minor) >= (1, 41), version.stdout


def test_the_engine_has_room(remote: testinfra.host.Host, ssh_host: dict[str, Any]) -> None:
    root = engine_info(remote, "{{.DockerRootDir}}")
    free = remote.run(f"{BOUND} df -Pk %s", root)
    assert free.rc == 0, free.stderr
    free_bytes = int(free.stdout.splitlines()[1].split()[3]) * 1024
    assert free_bytes >= ssh_host["min_free_bytes"], f"{root}: {free_bytes} bytes free"


def test_the_engine_rotates_container_logs(remote: testinfra.host.Host) -> None:
    read = remote.run(f"{BOUND} python3 -c %s", ENGINE_CONFIG)
    assert read.rc == 0, read.stderr
    found = json.loads(read.stdout)
    config = found["config"]
    driver = config.get("log-driver", "json-file")
    assert driver in ("json-file", "local"), f"{found['path']}: log-driver {driver}"
    if driver == "json-file":
        assert config.get("log-opts", {}).get("max-size"), f"{found['path']}: no max-size"
    # dockerd reads its config at start only: a rotation written since is not in force yet
    if found["started"] is not None:
        assert found["changed"] <= found["started"] + 1, (
            f"{found['path']} changed after the engine started: restart the engine to apply it"
        )


def test_nothing_listens_outside_but_ssh_and_the_proxies(
    remote: testinfra.host.Host, ssh_host: dict[str, Any]
) -> None:
    allowed = set(ssh_host["allowed_ports"])
    listening = remote.run(f"{BOUND} ss -Htln")
    assert listening.rc == 0, listening.stderr
    exposed = []
    for line in listening.stdout.splitlines():
        local = line.split()[3]
        address, _, port = local.rpartition(":")
        loopback = address.startswith("127.") or address in ("[::1]", "::1")
        if not loopback and int(port) not in allowed:
            exposed.append(local)
    assert exposed == [], f"listening besides SSH and the proxies: {exposed}"
