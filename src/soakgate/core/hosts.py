"""The Docker hosts a stage runs on, as its stack config names them (``soakgate:hosts``).

    parse_hosts(path, "local")                                  # () : this machine's engine
    parse_hosts(path, ["ssh://deploy@10.0.0.21", "ssh://deploy@docker-2:2222"])
    parse_hosts(path, "ssh://deploy@10.0.0.21, ssh://deploy@10.0.0.22")   # as `config set` gives

A host is ``ssh://USER@HOST[:PORT]``: a user is required (the unprivileged account whose
sessions reach the engine), HOST is a name, an IPv4 address or an ``[IPv6]`` one. A password
in the URL is refused: keys or an agent, never a password in a file that is committed.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from soakgate.core.validation import ConfigInvalid

LOCAL = "local"
SSH_PORT = 22
HOST_STATE = ".soakgate"  # soakgate's files on an SSH host, under its user's login directory
MAX_HOSTS = 64
_USER = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")
_URL = re.compile(
    r"ssh://(?P<userinfo>[^@/]*)@(?P<host>\[[^\]/]*\]|[^:/\[\]]*)(?::(?P<port>[^/]*))?"
)


@dataclass(frozen=True)
class Host:
    """One Docker host reached over SSH."""

    user: str
    address: str  # a name or an IP address (IPv6 without brackets)
    port: int = SSH_PORT

    @property
    def url(self) -> str:
        """``ssh://user@host[:port]``, as the Docker SDK takes it (port only when not 22)."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"ssh://{self.user}@{host}" + (f":{self.port}" if self.port != SSH_PORT else "")

    @property
    def name(self) -> str:
        """A name for tables and inventories: the address, with the port when not 22."""
        return self.address + (f"_{self.port}" if self.port != SSH_PORT else "")


def host_state_dir(namespace: str) -> str:
    """A project's state directory on an SSH host, relative to the SSH user's login directory
    (one per namespace: the proxy files of its stages, the host-side runbook's log and locks)."""
    return f"{HOST_STATE}/{namespace or 'default'}"


def parse_host(path: str, text: str) -> Host:
    """One ``ssh://USER@HOST[:PORT]``, or ConfigInvalid saying what is wrong."""
    text = text.strip()
    userinfo = text.partition("://")[2].partition("@")[0] if "@" in text else ""
    if ":" in userinfo:  # said without echoing the URL: it holds the password
        raise ConfigInvalid(path, "a password in an ssh:// URL is refused (use a key or an agent)")
    match = _URL.fullmatch(text)
    if match is None:
        raise ConfigInvalid(path, f"expected ssh://USER@HOST[:PORT], got {text!r}")
    userinfo, host, port_text = match["userinfo"], match["host"], match["port"]
    if not _USER.fullmatch(userinfo):
        raise ConfigInvalid(path, f"expected a user name before @ in {text!r}")
    if host.startswith("["):
        try:
            address = str(ipaddress.IPv6Address(host[1:-1]))
        except ValueError:
            raise ConfigInvalid(path, f"{host} is not an IPv6 address") from None
    elif _NAME.fullmatch(host):
        address = host
    else:
        raise ConfigInvalid(path, f"expected a host name or address in {text!r}, got {host!r}")
    port = SSH_PORT
    if port_text is not None:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ConfigInvalid(path, f"expected a port 1-65535 in {text!r}, got {port_text!r}")
        port = int(port_text)
    return Host(userinfo, address, port)


def parse_hosts(path: str, value: Any) -> tuple[Host, ...]:
    """The hosts ``value`` names: ``()`` for ``"local"`` (this machine's engine), else one
    or more distinct SSH hosts (a list, or one string of them separated by commas)."""
    if value == LOCAL or value is None:
        return ()
    if isinstance(value, str):
        items: list[Any] = [part for part in value.split(",") if part.strip()]
    elif isinstance(value, list):
        items = value
    else:
        raise ConfigInvalid(path, f"expected local or a list of ssh://USER@HOST, got {value!r}")
    if not items:
        raise ConfigInvalid(path, "expected local or at least one ssh://USER@HOST")
    if len(items) > MAX_HOSTS:
        raise ConfigInvalid(path, f"expected at most {MAX_HOSTS} hosts, got {len(items)}")
    hosts: list[Host] = []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise ConfigInvalid(f"{path}[{index}]", f"expected ssh://USER@HOST, got {item!r}")
        if item.strip() == LOCAL:
            raise ConfigInvalid(path, "local is a stage's only host: not one among SSH hosts")
        host = parse_host(f"{path}[{index}]", item)
        if any((h.address, h.port) == (host.address, host.port) for h in hosts):
            raise ConfigInvalid(path, f"{host.url} is named twice")
        hosts.append(host)
    return tuple(hosts)
