"""The flip on a host whose Docker API does not answer soakgate while its SSH does: the
host-side runbook (``soakgate.runbook.flip_to_warm``, the same steps as ``rollback.yml`` and
``fab rollback``) run over the host's own SSH connection, with the host's ``docker`` CLI.

    fallback_flip(engine, move, expect_from="sha256:…")   # the runbook's record, or raises

The Docker SDK reaches an engine over SSH through ``docker system dial-stdio``; when that
fails (an engine that answers its CLI but not a dial-in, a CLI without it, a stuck channel)
soakgate's reads of that host fail, yet the host can still be flipped the way an operator
would. The runbook refuses unless the host serves ``expect_from`` and its warm slot runs
``move.digest`` (the release every other host flips to), under the stage's lock on the host,
with its own compare-and-swap and put-back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from soakgate.adapters.process import Result
from soakgate.adapters.ssh.connection import SshConnection
from soakgate.adapters.stage.engine import StageEngine
from soakgate.core.hosts import host_state_dir
from soakgate.core.proxy_conf import Switch
from soakgate.errors import HostUnreachable


class SshContext:
    """The runbook's ``Context`` over an open :class:`SshConnection` (its shell runs each
    command line; Fabric's options are not needed: nothing reads a terminal)."""

    def __init__(self, connection: SshConnection) -> None:
        self.connection = connection

    def run(self, command: str, **_: Any) -> Result:
        argv = ("sh", "-c", command)
        status, out, err = self.connection.run(argv)
        return Result(argv, status, out, err)


def ssh_of(engine: StageEngine) -> SshConnection | None:
    """The engine's SSH connection when it is up now (None: not an SSH host, or SSH is down)."""
    connection = getattr(engine.io, "connection", None)
    is_open = getattr(connection, "is_open", None)
    return connection if is_open is not None and is_open() else None


def fallback_flip(engine: StageEngine, move: Switch, expect_from: str | None) -> dict[str, Any]:
    """Flip ``engine``'s host to ``move.digest`` in its warm slot by the host-side runbook;
    its record (seconds, from/to). HostUnreachable when SSH itself is gone."""
    from soakgate.runbook import flip_to_warm

    connection = ssh_of(engine)
    if connection is None:
        raise HostUnreachable(f"{engine.io.label}: no SSH connection to run the runbook over")
    with engine.io.guarded():
        state_dir = engine.io.absolute(Path(host_state_dir(engine.names.namespace)))
        return flip_to_warm(
            SshContext(connection),
            engine.stage,
            str(state_dir),
            namespace=engine.names.namespace,
            port=engine.proxy_port,
            health_path=move.health_path,
            container_port=move.port,
            timeout=move.timeout,
            probe_timeout=move.probe_timeout,
            expect_from=expect_from,
            expect_release=move.digest,
        )
