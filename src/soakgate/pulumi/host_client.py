"""Which Docker engine a dynamic resource talks to: ``host`` "" is this machine's, else an
``ssh://USER@HOST[:PORT]`` reached over the provider process's one SSH connection to it.

    client = engine_for(props.get("host") or "")     # a docker.DockerClient
    io = host_io(props.get("host") or "")            # files, probes and signals on that host
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from soakgate.adapters.stage.host_io import HostIO, LocalHost, SshHost
from soakgate.core.hosts import Host, parse_host

if TYPE_CHECKING:
    import docker

Method = TypeVar("Method", bound=Callable[..., Any])


def parse(url: str) -> Host:
    return parse_host("soakgate:hosts", url)


def host_io(url: str) -> HostIO:
    """The host side of ``url`` ("" : this machine)."""
    if not url:
        return LocalHost()
    from soakgate.adapters.ssh.connection import connections

    return SshHost(connections().get(parse(url)))


def guarded(url: str) -> AbstractContextManager[None]:
    """SSH and engine failures reaching ``url`` inside the block as one line naming it."""
    return host_io(url).guarded()


def on_its_host(method: Method) -> Method:
    """A provider method (create, update, read, delete: the props come last) run inside its
    host's guard, so a cut SSH connection fails it with one line naming the host."""

    @functools.wraps(method)
    def guarded_method(self: Any, *args: Any) -> Any:
        with guarded(args[-1].get("host") or ""):
            return method(self, *args)

    return guarded_method  # type: ignore[return-value]


def engine_for(url: str) -> docker.DockerClient:
    """The Docker SDK client of ``url``'s engine ("" : this machine's)."""
    return host_io(url).docker()
