"""Which SSH host keys and client key soakgate trusts, and the one-line refusals.

    settings = SshSettings.from_env()    # known_hosts files, identity, timeouts
    fingerprint(key.asbytes())           # "SHA256:..." as OpenSSH prints it

Host keys come from ``$SOAKGATE_SSH_KNOWN_HOSTS`` (files separated by ``:``), then
``~/.ssh/known_hosts`` and ``/etc/ssh/ssh_known_hosts``. A key in none of them is refused with
its fingerprint and the line that accepts it; a key that differs from the known one is refused
as a possible man in the middle. The client key is ``$SOAKGATE_SSH_IDENTITY`` when set, else
the agent and ``~/.ssh/id_*``: never a password.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soakgate.errors import ConfigError, UnknownHostKey

KNOWN_HOSTS = ("~/.ssh/known_hosts", "/etc/ssh/ssh_known_hosts")
KNOWN_HOSTS_ENV = "SOAKGATE_SSH_KNOWN_HOSTS"
IDENTITY_ENV = "SOAKGATE_SSH_IDENTITY"
CONNECT_TIMEOUT = 10.0  # seconds for TCP connect, banner, authentication, a channel


@dataclass(frozen=True)
class SshSettings:
    """How soakgate connects: the known_hosts files (in order), the client key, timeouts."""

    known_hosts: tuple[str, ...] = KNOWN_HOSTS
    identity: str | None = None
    timeout: float = CONNECT_TIMEOUT

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SshSettings:
        env = os.environ if environ is None else environ
        extra = tuple(part for part in env.get(KNOWN_HOSTS_ENV, "").split(":") if part)
        identity = env.get(IDENTITY_ENV) or None
        if identity is not None:
            if not Path(identity).expanduser().is_file():
                raise ConfigError(
                    f"{IDENTITY_ENV}={identity}: no such key file",
                    hint=f"point {IDENTITY_ENV} at a private key, or unset it to use the agent",
                )
            identity = str(Path(identity).expanduser())  # paramiko opens the path as given
        return cls(known_hosts=extra + KNOWN_HOSTS, identity=identity)

    def existing_known_hosts(self) -> list[Path]:
        """The known_hosts files that exist, in order."""
        paths = [Path(name).expanduser() for name in self.known_hosts]
        return [path for path in paths if path.is_file()]


def load_known_hosts(keys: Any, files: Sequence[Path]) -> set[str]:
    """Add the host keys of ``files`` to paramiko's ``keys``; return the base64 of the keys
    marked ``@revoked``. Lines OpenSSH would skip are skipped (a comment, a line paramiko cannot
    read, an ``@cert-authority`` line: soakgate does not use certificates) instead of one line
    breaking every host."""
    from paramiko.hostkeys import HostKeyEntry

    revoked: set[str] = set()
    for path in files:
        try:
            text = path.read_text(errors="replace")
        except OSError as exc:
            raise UnknownHostKey(
                f"{path}: unreadable known_hosts file ({exc.strerror or exc})",
                hint=f"fix its permissions, or set {KNOWN_HOSTS_ENV} to a readable one",
            ) from None
        for number, line in enumerate(text.splitlines(), 1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if fields[0] == "@revoked" and len(fields) >= 4:
                revoked.add(fields[3])
                continue
            if fields[0].startswith("@"):
                continue
            try:
                entry = HostKeyEntry.from_line(line, number)
            except Exception:  # paramiko raises bare Exception subclasses for odd lines
                continue
            if entry is not None and entry.key is not None:
                for name in entry.hostnames:
                    keys.add(name, entry.key.get_name(), entry.key)
    return revoked


def render_ssh_config(settings: SshSettings) -> str:
    """An ``ssh -F`` file that trusts and authenticates as soakgate does (for testinfra's and
    Ansible's OpenSSH): the same known_hosts files, the same key, never a prompt."""
    known = " ".join(str(path) for path in settings.existing_known_hosts()) or "/dev/null"
    lines = [
        "Host *",
        f"  UserKnownHostsFile {known}",
        "  GlobalKnownHostsFile /dev/null",
        "  StrictHostKeyChecking yes",
        "  BatchMode yes",
        "  PasswordAuthentication no",
        "  ServerAliveInterval 5",
        "  ServerAliveCountMax 3",
        f"  ConnectTimeout {settings.timeout:.0f}",
    ]
    if settings.identity:
        lines += [f"  IdentityFile {Path(settings.identity).expanduser()}", "  IdentitiesOnly yes"]
    return "\n".join(lines) + "\n"


def fingerprint(key_bytes: bytes) -> str:
    """An SSH key's fingerprint as OpenSSH prints it: ``SHA256:`` + unpadded base64."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key_bytes).digest()).decode().rstrip("=")


def split_hostname(hostname: str) -> tuple[str, int, str]:
    """``host`` or ``[host]:port`` (as known_hosts and paramiko write it) → (host, port, how
    messages show it: ``host`` or ``host:port``)."""
    match = re.fullmatch(r"\[(.+)\]:(\d+)", hostname)
    host, port = (match.group(1), int(match.group(2))) if match else (hostname, 22)
    return host, port, host if port == 22 else f"{host}:{port}"


def known_hosts_name(host: str, port: int) -> str:
    """The name a known_hosts line gives ``host:port``."""
    return host if port == 22 else f"[{host}]:{port}"


def unknown_host_key(
    hostname: str, key_type: str, key_bytes: bytes, files: Sequence[str] = KNOWN_HOSTS
) -> UnknownHostKey:
    """The refusal of a host key that no known_hosts file has (``hostname`` as paramiko gives
    it: ``host`` or ``[host]:port``)."""
    host, port, shown = split_hostname(hostname)
    return UnknownHostKey(
        f"the SSH host key of {shown} ({key_type} {fingerprint(key_bytes)}) is in no"
        f" known_hosts file ({', '.join(files)}): not connecting",
        hint="if that is the host's key (on the host: ssh-keygen -lf"
        f" /etc/ssh/ssh_host_*_key.pub), accept it: ssh-keyscan -p {port} {host}"
        " >> ~/.ssh/known_hosts",
    )


def changed_host_key(
    hostname: str, offered: bytes, expected: bytes, files: Sequence[str] = KNOWN_HOSTS
) -> UnknownHostKey:
    """The refusal of a host key that differs from the one known_hosts has."""
    host, port, shown = split_hostname(hostname)
    return UnknownHostKey(
        f"the SSH host key of {shown} changed (known_hosts has {fingerprint(expected)}, the host"
        f" offers {fingerprint(offered)}): someone may be in the middle; not connecting",
        hint="if the host was rebuilt, check its new key on the host, then remove the old one:"
        f" ssh-keygen -R '{known_hosts_name(host, port)}' (files: {', '.join(files)})",
    )
