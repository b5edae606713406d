"""Fabric tasks: soakgate's host runbooks, for when the control machine is unavailable.

    fab -H ops@docker-host -r src/soakgate rollback --stage production \\
        --state-dir /srv/soakgate/.soakgate --port 18082

Without ``-H`` the task runs on this machine. Like the CLI, a refusal is one ``error:`` line
(and a hint) with soakgate's exit code.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import soakgate

soakgate.allow_ssh()  # before Fabric's imports: soakgate switches paramiko off unless asked

from fabric import task  # noqa: E402
from invoke.exceptions import Exit  # noqa: E402

from soakgate.errors import SoakgateError  # noqa: E402
from soakgate.runbook import LOCK_TTL, flip_to_warm  # noqa: E402


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
) -> None:
    """Flip STAGE's proxy to its warm slot (the emergency rollback), timed and logged."""
    try:
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
            warn=lambda message: print(f"warning: {message}", file=sys.stderr),
        )
    except SoakgateError as exc:
        hint = f"\nhint: {exc.hint}" if exc.hint else ""
        raise Exit(f"error: {exc.message}{hint}", code=exc.exit_code) from None
    print(
        f"{stage}: traffic on {result['to']} ({result['to_release'][:19]})"
        f" after {result['seconds']:.2f} s (flip {result['flip_seconds']:.2f} s)"
    )
    print(json.dumps(result))
