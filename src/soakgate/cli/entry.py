"""The ``soakgate`` console script. One fast path: ``soakgate rollback STAGE --emergency``
flips the proxy to the warm slot *before* the CLI framework and the rest of soakgate are
imported (~0.3 s saved), then the full command finishes the rollback from its journal
(reconcile, verify, ledger) and prints the result. Anything unusual takes the normal path,
which also reports every error.
"""

from __future__ import annotations

import contextlib
import sys


def _plain_emergency(argv: list[str]) -> tuple[str, str] | None:
    """(stage, reason) for ``rollback STAGE --emergency [--reason TEXT]``, else None."""
    if len(argv) < 3 or argv[0] != "rollback" or "--emergency" not in argv:
        return None
    rest = [arg for arg in argv[1:] if arg != "--emergency"]
    reason = "manual rollback"
    if "--reason" in rest:
        index = rest.index("--reason")
        if index + 1 >= len(rest):
            return None
        reason = rest[index + 1]
        del rest[index : index + 2]
    if len(rest) != 1 or rest[0].startswith("-"):
        return None
    return rest[0], reason


def _flip_first(stage: str, reason: str) -> None:
    from soakgate.adapters.clock import process_started_at

    started = process_started_at()
    from soakgate.adapters.envfile import find_project, load_env

    root = find_project()
    if root is None:
        return
    load_env(root)
    with contextlib.suppress(Exception):  # SSH hosts: connecting overlaps the imports below
        from soakgate.adapters.stage.stack_file import stack_hosts

        hosts = stack_hosts(root, stage)
        if hosts:
            from soakgate.adapters.ssh.connection import connections

            connections().warm_up(hosts)
    from soakgate.adapters.config_file import load_project
    from soakgate.app.rollback import RollbackRequest, flip_now
    from soakgate.errors import PartialSwitch, SoakgateError

    request = RollbackRequest(stage, emergency=True, reason=reason)
    # Whatever goes wrong here, the full command meets it again and reports it in one line;
    # the stage lock taken here stays held for it (same process).
    with contextlib.suppress(SoakgateError, Exception):
        try:
            flip_now(load_project(root), request, started, warn=_warn)
        except PartialSwitch as partial:  # what did switch is said now; the rest is the
            _warn(partial.message)  # full command's to converge, or to report as still split


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def main() -> None:
    fast = _plain_emergency(sys.argv[1:])
    if fast is not None:
        _flip_first(*fast)
    from soakgate.cli.main import main as full

    full()
