"""Which Docker engine a dynamic resource talks to: ``host`` "" is this machine's, else an
``ssh://USER@HOST[:PORT]`` reached over the provider process's one SSH connection to it.

    client = engine_for(props.get("host") or "")     # a docker.DockerClient
    io = host_io(props.get("host") or "")            # files, probes and signals on that host
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from soakgate.adapters.stage.host_io import HostIO, LocalHost, SshHost
from soakgate.core.hosts import Host, parse_host

if TYPE_CHECKING:
    import docker


def parse(url: str) -> Host:
    return parse_host("soakgate:hosts", url)


def host_io(url: str) -> HostIO:
    """The host side of ``url`` ("" : this machine)."""
    if not url:
        return LocalHost()
    from soakgate.adapters.ssh.connection import connections

    return SshHost(connections().get(parse(url)))


def engine_for(url: str) -> docker.DockerClient:
    """The Docker SDK client of ``url``'s engine ("" : this machine's)."""
    return host_io(url).docker()
