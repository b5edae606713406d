"""One SSH connection per host, shared by threads: the emergency rollback's warm-up connects in
the background while the command goes on, and whoever asks next waits for that connection
instead of making a second one, or a second engine check. (The real thing, on SSH test hosts:
tests/faults/test_ssh_hosts.py and tests/faults/test_ssh_deploy.py.)"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import pytest

from soakgate.adapters.ssh import connection as connection_module
from soakgate.adapters.ssh.connection import RETRY_AFTER, Connections, SshConnection
from soakgate.adapters.ssh.host_keys import SshSettings
from soakgate.core.hosts import Host
from soakgate.errors import HostUnreachable

HOST = Host("deploy", "10.0.0.21")


class Transport:
    def is_active(self) -> bool:
        return True


class Client:
    def get_transport(self) -> Transport:
        return Transport()

    def close(self) -> None:
        pass


class Counted(SshConnection):
    """An SshConnection whose opening and engine check are counted, slow, and may fail."""

    def __init__(self, fail: bool = False, seconds: float = 0.2) -> None:
        super().__init__(HOST, SshSettings(known_hosts=()))
        self.fail, self.seconds = fail, seconds
        self.opens = self.checks = 0

    def _open(self) -> Any:
        self.opens += 1
        time.sleep(self.seconds)
        if self.fail:
            raise HostUnreachable("10.0.0.21:22 does not answer SSH (Connection refused)")
        return Client()

    def check_engine(self) -> str:
        self.ssh()
        self.checks += 1
        time.sleep(self.seconds)
        return "20.10.24"


def test_two_threads_asking_at_once_share_one_connection_and_one_engine_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(connection_module, "_docker_client", lambda connection: object())
    connection = Counted()
    clients: list[object] = []
    threads = [threading.Thread(target=lambda: clients.append(connection.docker)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert (connection.opens, connection.checks) == (1, 1)
    assert len(clients) == 2 and clients[0] is clients[1]


def test_an_open_that_just_failed_is_not_tried_again_at_once_but_later_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connection = Counted(fail=True, seconds=0.0)
    connection.warm()  # the warm-up meets the failure and keeps quiet
    assert connection.opens == 1
    with pytest.raises(HostUnreachable, match="does not answer SSH"):
        connection.ssh()  # the caller that follows gets the same failure, without a 2nd wait
    assert connection.opens == 1
    later = time.monotonic() + RETRY_AFTER + 0.1
    monkeypatch.setattr(connection_module.time, "monotonic", lambda: later)
    connection.fail = False
    assert connection.ssh() is not None  # a second later, it connects again
    assert connection.opens == 2


def test_a_caller_waits_for_the_warm_up_instead_of_connecting_beside_it() -> None:
    connection = Counted(seconds=0.3)
    engine = Engine()
    connection._open = engine.opened_by(connection)  # type: ignore[method-assign]
    warm = threading.Thread(target=connection.warm)
    warm.start()
    time.sleep(0.05)  # the warm-up is connecting
    assert connection.light.inspect("app-staging-blue") == {"Id": "blue", "State": {}}
    warm.join(10)
    assert connection.opens == 1
    assert engine.dialled == ["docker system dial-stdio"]  # one channel for both calls
    assert engine.paths == ["/_ping", "/containers/app-staging-blue/json"]
    assert connection.checks == 0  # the flip path asks the CLI nothing while all goes well


class Engine:
    """A host's engine behind ``docker system dial-stdio``: each channel is one end of a socket
    pair, served HTTP/1.1 with keep-alive by a thread; ``drop_after`` answers, it hangs up."""

    def __init__(self, drop_after: int = 0) -> None:
        self.dialled: list[str] = []
        self.paths: list[str] = []
        self.drop_after = drop_after

    def opened_by(self, connection: Counted) -> Any:
        engine = self

        class Session:
            def __init__(self) -> None:
                self.sock, self.peer = socket.socketpair()

            def __getattr__(self, name: str) -> Any:
                return getattr(self.sock, name)

            def exec_command(self, command: str) -> None:
                engine.dialled.append(command)
                threading.Thread(target=engine.serve, args=(self.peer,), daemon=True).start()

        class EngineTransport(Transport):
            def open_session(self, timeout: float | None = None) -> Session:
                return Session()

        transport = EngineTransport()

        class EngineClient(Client):
            def get_transport(self) -> Transport:
                return transport

        def opened() -> Any:
            Counted._open(connection)
            return EngineClient()

        return opened

    def serve(self, peer: socket.socket) -> None:
        answered = 0
        with peer, peer.makefile("rb") as requests:
            while line := requests.readline():
                path = line.split()[1].decode()
                while requests.readline() not in (b"\r\n", b""):
                    pass
                self.paths.append(path)
                body = b"OK" if path == "/_ping" else json.dumps({"Id": "blue", "State": {}})
                status = "404 Not Found" if "missing" in path else "200 OK"
                head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n\r\n"
                peer.sendall(head.encode() + (body if isinstance(body, bytes) else body.encode()))
                answered += 1
                if answered == self.drop_after:
                    return


def test_a_kept_channel_the_host_closed_is_dialled_again_once() -> None:
    connection = Counted(seconds=0.0)
    engine = Engine(drop_after=1)  # each dial-stdio answers once, then exits
    connection._open = engine.opened_by(connection)  # type: ignore[method-assign]
    assert connection.light.inspect("app-staging-blue") is not None
    assert connection.light.inspect("missing") is None  # 404: no such container
    assert connection.light.inspect("app-staging-blue") is not None
    assert len(engine.dialled) == 3 and connection.opens == 1
    assert connection.checks == 0
    with pytest.raises(HostUnreachable, match="lost the SSH connection"):
        connection.light.exec_detached("proxy-staging", ["true"])  # a POST: never asked twice
    assert engine.paths[-1] == "/containers/app-staging-blue/json"  # it did not get through


def test_a_fresh_channel_that_closes_is_one_line_naming_the_host_or_the_engines_refusal() -> None:
    connection = Counted(seconds=0.0)
    engine = Engine()
    connection._open = engine.opened_by(connection)  # type: ignore[method-assign]
    engine.serve = lambda peer: peer.close()  # type: ignore[method-assign]  # dial-stdio exits
    with pytest.raises(HostUnreachable, match=r"lost the SSH connection to 10\.0\.0\.21:22"):
        connection.light.inspect("app-staging-blue")
    assert connection.checks == 1  # the engine was asked whether it refuses: it answered
    refusal = "the Docker engine on 10.0.0.21:22 does not answer deploy (permission denied)"

    def refuse() -> str:
        raise HostUnreachable(refusal)

    connection.check_engine = refuse  # type: ignore[method-assign]
    with pytest.raises(HostUnreachable, match="permission denied"):
        connection.light.inspect("app-staging-blue")


def test_warm_up_starts_one_background_connection_per_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warmed: list[SshConnection] = []
    monkeypatch.setattr(SshConnection, "warm", lambda self: warmed.append(self))
    pool = Connections(SshSettings(known_hosts=()))
    other = Host("deploy", "10.0.0.22")
    pool.warm_up([HOST, other])
    deadline = time.monotonic() + 10
    while len(warmed) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(c.host.address for c in warmed) == ["10.0.0.21", "10.0.0.22"]
    # the calls that follow get the very connections the warm-up opened
    assert {id(pool.get(HOST)), id(pool.get(other))} == {id(c) for c in warmed}
