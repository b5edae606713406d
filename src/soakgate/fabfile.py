"""Fabric tasks: soakgate's host runbooks, for when the control machine is unavailable.

    fab -H ops@docker-host -r src/soakgate rollback --stage production \\
        --state-dir /srv/soakgate/.soakgate --port 18082

Without ``-H`` the task runs on this machine. Like the CLI, a refusal is one ``error:`` line
(and a hint) with soakgate's exit code. Over SSH the host's key must be in
``~/.ssh/known_hosts`` or ``/etc/ssh/ssh_known_hosts``: an unknown key is refused with its
fingerprint and the command that accepts it, a changed key is refused.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import soakgate
from soakgate.core.names import digest_ref

soakgate.allow_ssh()  # before Fabric's imports: soakgate switches paramiko off unless asked

from fabric import Connection, task  # noqa: E402
from invoke.exceptions import Exit  # noqa: E402
from paramiko import BadHostKeyException  # noqa: E402

from soakgate.adapters.ssh.host_keys import changed_host_key  # noqa: E402
from soakgate.errors import ConfigError, SoakgateError  # noqa: E402
from soakgate.runbook import LOCK_TTL, flip_to_warm, trust_known_hosts  # noqa: E402


def _seconds(text: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 86400:
        raise ConfigError(f"{option} {text!r}: should be a number of seconds, 0 or more")
    return value


@task(  # type: ignore[untyped-decorator]  # Fabric: untyped
    help={
        "stage": "the stage to roll back (dev, staging, production)",
        "state-dir": "soakgate's state dir on the host (holds stages/, locks/)",
        "port": "the stage proxy's loopback port on the host",
        "namespace": "soakgate.toml's namespace, if any",
        "health-path": "the service's health path (default /health)",
        "container-port": "the port the app listens on in its container (default 8000)",
        "timeout": "seconds the warm slot gets to answer through the proxy (default 10)",
        "lock-ttl": f"seconds the stage lock outlives a dropped connection (default {LOCK_TTL})",
        "lock-wait": "seconds to wait for a stage lock another process holds (default: refuse)",
    }
)
def rollback(
    c: Any,
    stage: str,
    state_dir: str,
    port: int,
    namespace: str = "",
    health_path: str = "/health",
    container_port: int = 8000,
    timeout: int = 10,
    lock_ttl: int = LOCK_TTL,
    lock_wait: str = "0",  # Invoke parses no floats
) -> None:
    """Flip STAGE's proxy to its warm slot (the emergency rollback), timed and logged."""
    try:
        wait = _seconds(lock_wait, "--lock-wait")
        if isinstance(c, Connection):  # fab -H: Fabric made it, with its AutoAddPolicy
            trust_known_hosts(c)
        result = flip_to_warm(
            c,
            stage,
            state_dir,
            namespace=namespace,
            port=int(port),
            health_path=health_path,
            container_port=int(container_port),
            timeout=float(timeout),
            lock_ttl=int(lock_ttl),
            lock_wait=wait,
            warn=lambda message: print(f"warning: {message}", file=sys.stderr),
        )
    except SoakgateError as exc:
        hint = f"\nhint: {exc.hint}" if exc.hint else ""
        raise Exit(f"error: {exc.message}{hint}", code=exc.exit_code) from None
    except BadHostKeyException as exc:
        refused = changed_host_key(exc.hostname, exc.key.asbytes(), exc.expected_key.asbytes())
        raise Exit(f"error: {refused.message}\nhint: {refused.hint}", code=2) from None
    print(
        f"{stage}: traffic on {result['to']} ({digest_ref(result['to_release'])})"
        f" after {result['seconds']:.2f} s (flip {result['flip_seconds']:.2f} s)"
    )
    print(json.dumps(result))
