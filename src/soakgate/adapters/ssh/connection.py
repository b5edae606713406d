"""One SSH connection per Docker host: the Docker SDK's API calls and soakgate's few commands
run as channels over it, and it is opened again (once) when it was dropped.

    connection = connections().get(host)     # opened on first use, kept for the process
    connection.docker.containers.list()      # the host's engine, over this connection
    connection.run(["df", "-Pk", "/var/lib/docker"])   # (exit, stdout, stderr)

Why not ``docker.DockerClient("ssh://…")`` alone: it reads only ``~/.ssh/known_hosts``, says
"not found in known_hosts" without the fingerprint, connects without a timeout, never
reconnects after a drop, and keeps a pool (a channel and a remote ``docker system dial-stdio``)
per request URL. Here the SDK's client is built without connecting and given an adapter of
ours: host keys per :mod:`host_keys`, timeouts, keepalives, one pool, reconnect on a dead
transport. The flip path's few calls (inspect, exec, top) skip the SDK: ``connection.light``
(:mod:`light_api`). Every SSH failure becomes one line naming the host and the fix
(:func:`ssh_failure`).
"""

from __future__ import annotations

import contextlib
import http.client
import shlex
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from soakgate.adapters.ssh.host_keys import (
    IDENTITY_ENV,
    SshSettings,
    changed_host_key,
    known_hosts_name,
    load_known_hosts,
    unknown_host_key,
)
from soakgate.core.hosts import Host
from soakgate.errors import (
    ConfigError,
    DockerError,
    HostUnreachable,
    SoakgateError,
    UnknownHostKey,
)

if TYPE_CHECKING:
    import docker
    import paramiko

    from soakgate.adapters.ssh.light_api import SshLightDocker

# The engine API version spoken over SSH: Debian's docker.io 20.10 speaks 1.41 and newer
# engines accept it. Fixed, so that building the client asks the engine nothing.
SSH_API_VERSION = "1.41"
KEEPALIVE_SECONDS = 5
POOL_SIZE = 8  # channels kept open per host (sshd's MaxSessions is 10 by default)
COMMAND_TIMEOUT = 60.0
RETRY_AFTER = 1.0  # seconds after a failed open before another is tried


def _paramiko() -> Any:
    """paramiko, imported without invoke unless something imported invoke before: paramiko
    imports it (~80 ms, in every SSH command's path) only for ssh_config's ``Match exec``,
    which soakgate's own connections never read. ``soakgate.allow_ssh`` gives it back for
    Fabric. Threads may call this at once (an emergency rollback opens every host's connection
    in parallel): the import is done under ``soakgate.SSH_IMPORTS``, so no thread meets invoke
    blocked."""
    import soakgate

    with soakgate.SSH_IMPORTS:
        soakgate.lift_paramiko_switch_off()  # soakgate's own SSH needs paramiko
        if "paramiko" not in sys.modules and "invoke" not in sys.modules:
            sys.modules["invoke"] = None  # type: ignore[assignment]  # an import of it fails
            try:
                import paramiko
            finally:
                del sys.modules["invoke"]
        import paramiko

    return paramiko


def _loaded_types(*classes: tuple[str, str]) -> tuple[type[BaseException], ...]:
    """The exception classes ``(module, name) …`` of those modules this process imported
    already: an exception of a module nobody imported cannot have been raised, so the SSH
    paths that never touch the Docker SDK (the emergency flip) need not import it (~0.4 s)
    to tell."""
    return tuple(
        getattr(sys.modules[module], name) for module, name in classes if module in sys.modules
    )


def ssh_failure(host: Host, exc: BaseException) -> SoakgateError:
    """One line for an SSH failure reaching ``host``, with the fix."""
    paramiko = _paramiko()
    where = f"{host.address}:{host.port}"
    if isinstance(exc, SoakgateError):
        return exc
    if isinstance(exc, paramiko.BadHostKeyException):  # its hostname lacks the port
        return changed_host_key(
            known_hosts_name(host.address, host.port),
            exc.key.asbytes(),
            exc.expected_key.asbytes(),
            SshSettings().known_hosts,
        )
    if isinstance(exc, paramiko.PasswordRequiredException):
        return ConfigError(
            f"soakgate's SSH key is encrypted ({exc}): it cannot ask for a passphrase",
            hint=f"load it into ssh-agent and unset {IDENTITY_ENV}, or use a key without one",
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return HostUnreachable(
            f"{where} refused soakgate's SSH key for user {host.user} ({exc})",
            hint=f"add your public key to ~{host.user}/.ssh/authorized_keys on {host.address},"
            f" or point {IDENTITY_ENV} at the key it has",
        )
    if isinstance(exc, _loaded_types(("docker.errors", "APIError"))):  # the engine said no
        return DockerError(
            f"the Docker engine on {where} refused: {getattr(exc, 'explanation', '') or exc}",
            hint="see soakgate hosts check; the engine's own log on the host says more",
        )
    if isinstance(
        exc, _loaded_types(("requests", "Timeout"), ("urllib3.exceptions", "ReadTimeoutError"))
    ):
        return HostUnreachable(
            f"the Docker engine on {where} did not answer in time ({exc})",
            hint="check the host and its engine, then re-run",
        )
    lost = _loaded_types(("urllib3.exceptions", "HTTPError"), ("requests", "ConnectionError"))
    if isinstance(exc, (EOFError, http.client.HTTPException, *lost)):
        # the host (or the link) closed the connection under a running call
        return HostUnreachable(
            f"lost the SSH connection to {where} mid-operation (closed by the host)",
            hint="check the host, then re-run: what was cut is done again from the start",
        )
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return HostUnreachable(
            f"{where} did not answer SSH in time ({exc or 'timed out'})",
            hint="check that the host is up and reachable from here, then re-run",
        )
    if isinstance(exc, OSError):  # refused, unreachable, reset (NoValidConnectionsError too)
        reason = exc.strerror or str(exc) or type(exc).__name__
        return HostUnreachable(
            f"{where} does not answer SSH ({reason})",
            hint=f"check that {host.address} is up and its sshd listens on port {host.port},"
            " then re-run",
        )
    if isinstance(exc, paramiko.SSHException):
        return HostUnreachable(
            f"the SSH connection to {where} failed ({exc or type(exc).__name__})",
            hint="re-run; if it persists, look at the host's sshd log",
        )
    return HostUnreachable(f"{where}: {type(exc).__name__}: {exc}")


@contextlib.contextmanager
def translated(host: Host) -> Iterator[None]:
    """Turn SSH, connection and engine failures inside the block into :func:`ssh_failure`
    lines."""
    paramiko = _paramiko()
    try:
        yield
    except Exception as exc:
        caught = (
            OSError,
            EOFError,
            http.client.HTTPException,
            paramiko.SSHException,
            *_loaded_types(("requests", "RequestException"), ("urllib3.exceptions", "HTTPError")),
        )
        if not isinstance(exc, caught):
            raise
        raise ssh_failure(host, exc) from exc


class CommandTimeout(Exception):
    """A command run over SSH did not finish in time (SSH itself answered)."""


class SshConnection:
    """An SSH connection to one host, its Docker client, and commands run over it."""

    def __init__(self, host: Host, settings: SshSettings) -> None:
        self.host = host
        self.settings = settings
        self._lock = threading.Lock()
        self._docker_lock = threading.Lock()
        self._client: paramiko.SSHClient | None = None
        self._docker: docker.DockerClient | None = None
        self._light: SshLightDocker | None = None
        self._failed: tuple[float, SoakgateError] | None = None  # the last open's failure
        self.opened = 0  # how many times a connection was made (1 unless one dropped)

    # --- connecting --------------------------------------------------------------------------
    def _open(self) -> paramiko.SSHClient:
        paramiko = _paramiko()
        settings = self.settings
        files = settings.known_hosts

        class RejectUnknown(paramiko.RejectPolicy):  # type: ignore[misc,name-defined]
            def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
                raise unknown_host_key(hostname, key.get_name(), key.asbytes(), files)

        client = paramiko.SSHClient()
        revoked = load_known_hosts(client.get_host_keys(), settings.existing_known_hosts())
        client.set_missing_host_key_policy(RejectUnknown())
        try:
            client.connect(
                self.host.address,
                port=self.host.port,
                username=self.host.user,
                key_filename=settings.identity,
                look_for_keys=settings.identity is None,
                allow_agent=settings.identity is None,
                timeout=settings.timeout,
                banner_timeout=settings.timeout,
                auth_timeout=settings.timeout,
                channel_timeout=settings.timeout,
            )
        except BaseException as exc:
            client.close()
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            raise ssh_failure(self.host, exc) from exc
        transport = client.get_transport()
        if transport is not None:
            offered = transport.get_remote_server_key()
            if offered.get_base64() in revoked:
                client.close()
                raise UnknownHostKey(
                    f"the SSH host key of {self.host.address}:{self.host.port} is marked"
                    " @revoked in known_hosts: not connecting",
                    hint="ask the host's owner for its new key; never remove the @revoked line",
                )
            transport.set_keepalive(KEEPALIVE_SECONDS)
            _no_delay(transport.sock)
        self.opened += 1
        return client

    def ssh(self) -> paramiko.SSHClient:
        """The live SSH client: opened on first use, and again when the transport died. An
        open that failed under a second ago (a caller waited for it: :meth:`warm`) is not
        tried again: its failure is raised."""
        with self._lock:
            transport = None if self._client is None else self._client.get_transport()
            if transport is None or not transport.is_active():
                if self._client is not None:
                    self._client.close()
                self._client = None
                if self._failed is not None and time.monotonic() - self._failed[0] < RETRY_AFTER:
                    raise _fresh(self._failed[1])
                try:
                    self._client = self._open()
                except SoakgateError as failed:
                    self._failed = (time.monotonic(), _fresh(failed))
                    raise
                self._failed = None
            return self._client

    def warm(self) -> None:
        """Connect and open the flip path's API channel now (``light``), so that the calls
        that follow find them ready; a failure is left for those calls to meet and report."""
        with contextlib.suppress(Exception):
            self.light.request("GET", "/_ping")

    @property
    def light(self) -> SshLightDocker:
        """The flip path's few engine calls through this connection, without the SDK
        (:mod:`soakgate.adapters.ssh.light_api`), built once."""
        with self._docker_lock:
            if self._light is None:
                from soakgate.adapters.ssh.light_api import SshLightDocker

                self._light = SshLightDocker(self)
            return self._light

    def is_open(self) -> bool:
        """Whether an SSH transport to the host is up now (it never connects)."""
        with self._lock:
            transport = None if self._client is None else self._client.get_transport()
            return transport is not None and transport.is_active()

    @property
    def docker(self) -> docker.DockerClient:
        """The host's engine through this connection (the SDK's client, built once, after
        :meth:`check_engine` said the engine answers this user)."""
        with self._docker_lock:  # one check, one client, also when two threads ask at once
            if self._docker is None:
                self.check_engine()
                self._docker = _docker_client(self)
            return self._docker

    def check_engine(self) -> str:
        """The engine's version as the host's ``docker`` CLI reports it to this user; else a
        one-line error with the CLI's own reason. (The SDK's calls ride ``docker system
        dial-stdio``, whose failure would show only as a closed channel.)"""
        status, out, err = self.run(["docker", "version", "--format", "{{.Server.Version}}"])
        if status != 0:
            reason = " ".join((err or out).split())[:300] or f"exit {status}"
            where = f"{self.host.address}:{self.host.port}"
            raise HostUnreachable(
                f"the Docker engine on {where} does not answer {self.host.user} ({reason})",
                hint=f"let {self.host.user} use the engine (group docker:"
                " playbooks/docker-host.yml), and check that the engine runs",
            )
        return out.strip()

    # --- commands ----------------------------------------------------------------------------
    def run(
        self, argv: Sequence[str], *, timeout: float = COMMAND_TIMEOUT, stdin: bytes = b""
    ) -> tuple[int, str, str]:
        """Run ``argv`` on the host (quoted for its shell) in a channel of this connection;
        return (exit status, stdout, stderr). Raises HostUnreachable on an SSH failure."""
        with translated(self.host), _timed_out(self.host, argv):
            transport = self.ssh().get_transport()
            if transport is None:
                raise EOFError("the SSH transport closed")
            channel = transport.open_session(timeout=self.settings.timeout)
            try:
                channel.settimeout(timeout)
                channel.exec_command(shlex.join(argv))
                if stdin:
                    channel.sendall(stdin)
                channel.shutdown_write()
                out, err = _drain(channel, timeout)
                status = channel.recv_exit_status()
            finally:
                channel.close()
        return status, out.decode(errors="replace"), err.decode(errors="replace")

    def close(self) -> None:
        with self._docker_lock:
            light, self._light = self._light, None
        if light is not None:  # outside self._lock: a call in flight holds its lock, then ours
            light.close()
        with self._lock:
            if self._docker is not None:
                with contextlib.suppress(Exception):
                    self._docker.close()
                self._docker = None
            if self._client is not None:
                self._client.close()
                self._client = None
            self._failed = None


def _fresh(error: SoakgateError) -> SoakgateError:
    """The same error as a new one, without the frames of where it was raised (which would
    keep the objects of another thread's, or another call's, frames alive)."""
    return type(error)(error.message, hint=error.hint)


def _no_delay(sock: Any) -> None:
    """Send small writes at once (``TCP_NODELAY``, as OpenSSH's client does; paramiko leaves
    it off). Without it, an SDK request written in two parts (a POST's headers, then its body)
    waits on the host's delayed ACK: about 40 ms per exec, per call after another channel's
    traffic. A socket that is not TCP (a proxy command) is left as it is."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _drain(channel: Any, timeout: float) -> tuple[bytes, bytes]:
    """Read a channel's stdout and stderr to their end (EOF: sshd may send the exit status
    before the last output), within ``timeout`` seconds."""
    out, err = bytearray(), bytearray()
    deadline = time.monotonic() + timeout
    while True:
        progressed = False
        if channel.recv_ready():
            out += channel.recv(65536)
            progressed = True
        if channel.recv_stderr_ready():
            err += channel.recv_stderr(65536)
            progressed = True
        if not progressed:
            if channel.eof_received and channel.exit_status_ready():
                if not channel.recv_ready() and not channel.recv_stderr_ready():
                    return bytes(out), bytes(err)
            elif channel.closed:
                return bytes(out), bytes(err)
            else:
                time.sleep(0.005)
        if time.monotonic() > deadline:
            raise CommandTimeout(f"no end of its output within {timeout:.0f}s")


def _docker_client(connection: SshConnection) -> docker.DockerClient:
    """The Docker SDK's client for ``connection``'s host, built without connecting, with our
    adapter mounted in place of the SDK's SSH adapter."""
    _paramiko()  # before the SDK's SSH module is imported (soakgate/__init__ switches it off)
    import docker
    from docker.transport.basehttpadapter import BaseHTTPAdapter
    from docker.transport.sshconn import SSHConnectionPool, SSHHTTPAdapter

    class Adapter(SSHHTTPAdapter):  # type: ignore[misc]
        """One pool for every URL, over ``connection``'s live transport."""

        def __init__(self) -> None:
            # The SDK's __init__ would connect its own way: set its fields ourselves.
            self.ssh_client = None
            self.ssh_params: dict[str, Any] = {}
            self.ssh_host = connection.host.url
            self.timeout = 120
            self.max_pool_size = POOL_SIZE
            self.pools: dict[str, Any] = {}
            self._pool: SSHConnectionPool | None = None
            self._transport: Any = None
            self._pool_lock = threading.Lock()
            BaseHTTPAdapter.__init__(self)

        def get_connection(self, url: str, proxies: Any = None) -> SSHConnectionPool:
            client = connection.ssh()
            with self._pool_lock:
                if self._pool is None or self._transport is not client.get_transport():
                    if self._pool is not None:
                        self._pool.close()
                    self._pool = SSHConnectionPool(
                        ssh_client=client, timeout=self.timeout, maxsize=self.max_pool_size
                    )
                    self._transport = client.get_transport()
                return self._pool

        def close(self) -> None:
            with self._pool_lock:
                if self._pool is not None:
                    self._pool.close()
                self._pool = None

    # Built for a socket path that is never dialled (no connection, the version is fixed),
    # then pointed at our adapter: the SDK's own ssh:// set-up fails for good in a process
    # that imported it while paramiko was switched off.
    client = docker.DockerClient(
        base_url="unix:///nonexistent/soakgate-ssh", version=SSH_API_VERSION, timeout=120
    )
    adapter = Adapter()
    client.api.mount("http+docker://ssh", adapter)
    client.api.base_url = "http+docker://ssh"
    client.api._custom_adapter = adapter
    return client


@contextlib.contextmanager
def _timed_out(host: Host, argv: Sequence[str]) -> Iterator[None]:
    try:
        yield
    except CommandTimeout as exc:
        raise DockerError(
            f"{argv[0]} on {host.address}:{host.port} did not finish: {exc}",
            hint="check the host (a stuck engine?), then re-run",
        ) from None


class Connections:
    """The process's SSH connections, one per host, made on first use."""

    def __init__(self, settings: SshSettings | None = None) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._open: dict[Host, SshConnection] = {}

    def get(self, host: Host) -> SshConnection:
        with self._lock:
            if self._settings is None:  # read once, on first use
                self._settings = SshSettings.from_env()
            if host not in self._open:
                self._open[host] = SshConnection(host, self._settings)
            return self._open[host]

    def warm_up(self, hosts: Sequence[Host]) -> None:
        """Start connecting to each of ``hosts`` in the background (SshConnection.warm): the
        emergency rollback's fast path does, before it imports the rest of soakgate, so that
        waiting on the hosts overlaps that work. Daemon threads: a host that hangs never holds
        the process; a failure is met by the calls that follow."""
        for host in hosts:
            connection = self.get(host)
            threading.Thread(target=connection.warm, name=f"warm-{host.name}", daemon=True).start()

    def close(self) -> None:
        with self._lock:
            for connection in self._open.values():
                connection.close()
            self._open.clear()


_CONNECTIONS: Connections | None = None


def connections() -> Connections:
    """The process's connections (settings read from the environment on first use)."""
    global _CONNECTIONS
    if _CONNECTIONS is None:
        _CONNECTIONS = Connections()
    return _CONNECTIONS
