"""SSH hosts benchmark, on two test hosts (network namespaces with their own engine and sshd,
as the fault tests make them): connecting, an API call over the kept connection next to the
same call on the local socket, reading both hosts, and streaming a release image.

    .venv/bin/python -m bench.ssh_hosts      # writes bench/results/ssh_hosts.json (needs root)
"""

from __future__ import annotations

import time

from bench.common import present_release, summary, timed, toolchain_env, write_result
from soakgate.adapters.docker import engine as docker_engine
from soakgate.adapters.docker.image_transfer import send_image
from soakgate.adapters.ssh.connection import Connections
from soakgate.adapters.ssh.host_engines import SshHostEngines
from soakgate.adapters.ssh.host_keys import SshSettings
from soakgate.app.hosts import check_hosts
from soakgate.core.hosts import parse_host
from tests.faults.ssh_hosts import SshHosts

RUNS = 5
CALLS = 50


def main() -> None:
    toolchain_env()
    local = docker_engine.client()
    release = present_release()
    with SshHosts.make(2) as made:
        settings = SshSettings(known_hosts=(str(made.known_hosts),), identity=str(made.identity))
        hosts = [parse_host("bench", url) for url in made.urls]
        connect = []
        for _ in range(RUNS):
            pool = Connections(settings)
            connect.append(timed(lambda pool=pool: pool.get(hosts[0]).docker.ping()))
            pool.close()
        pool = Connections(settings)
        remote = pool.get(hosts[0]).docker
        remote.ping()
        began = time.perf_counter()
        for _ in range(CALLS):
            remote.containers.list(all=True)
        over_ssh = (time.perf_counter() - began) / CALLS
        began = time.perf_counter()
        for _ in range(CALLS):
            local.containers.list(all=True)
        on_socket = (time.perf_counter() - began) / CALLS
        engines = SshHostEngines(Connections(settings))
        check = [timed(lambda: check_hosts(hosts, engines, [release])) for _ in range(RUNS)]
        engines.close()
        sends, sizes = [], []
        for _ in range(3):
            sent = send_image(local, remote, release.image, release.digest)
            sends.append(sent.seconds)
            sizes.append(sent.bytes)
            remote.images.remove(release.digest, force=True)
        pool.close()
    write_result(
        "ssh_hosts",
        {
            "connect_and_ping_seconds": summary(connect),
            "api_call_seconds": {
                "over_ssh": round(over_ssh, 4),
                "local_socket": round(on_socket, 4),
                "calls": CALLS,
            },
            "check_two_hosts_seconds": summary(check),
            "send_image": {
                "release": release.image,
                "bytes": sizes[0],
                "seconds": summary(sends),
                "mb_per_second": round(sizes[0] / 1e6 / min(sends), 1),
            },
        },
    )


if __name__ == "__main__":
    main()
