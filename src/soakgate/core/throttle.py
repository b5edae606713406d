"""The Dockerfile lines that make a drill copy of a release: its own command, run by the
throttle launcher (soakgate.adapters.docker.throttle_launcher) so that it gets a share of one
CPU once it listens (its start is not slowed, so the health gate passes as it does for the
release). Nothing is asked of the service but that its image has a Python for the launcher.

    throttle_lines(launcher, entrypoint=None, cmd=["python", "-m", "app"], cpus=0.05)
    # ['ENTRYPOINT ["python", "-I", "-c", "<launcher>", "0.05", "30", "--"]',
    #  'CMD ["python", "-m", "app"]', 'LABEL soakgate.drill="true"']

A new ENTRYPOINT resets the inherited CMD, so the original command is stated again as CMD;
the image's USER, WORKDIR, ENV and HEALTHCHECK are inherited unchanged. The launcher's Python
runs isolated (``-I``): the service's PYTHONPATH cannot shadow the modules it imports (its
child, the service, gets the environment unchanged).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from soakgate.errors import SoakgateError

DRILL_LABEL = 'LABEL soakgate.drill="true"'
# Seconds the launcher waits for the service to listen before it throttles anyway: half the
# deploy's default health timeout, so a service that never listens on TCP is slowed in time.
LISTEN_WAIT = 30
# ``python``, ``python3``, ``python3.14``, ``/usr/local/bin/python3``: the command's own Python
PYTHON = re.compile(r"(?:.*/)?python(?:\d+(?:\.\d+)?)?")


def throttle_lines(
    launcher: str,
    entrypoint: Sequence[str] | None,
    cmd: Sequence[str] | None,
    cpus: float,
    listen_wait: float = LISTEN_WAIT,
    period: float | None = None,
) -> list[str]:
    """Dockerfile lines that run the image's command (``entrypoint`` + ``cmd``, from its
    config) under ``launcher`` (its Python text) at ``cpus`` of one CPU once it listens, in
    stop/continue cycles of ``period`` seconds (the launcher's default: 0.1)."""
    timing = [f"{cpus:g}", f"{listen_wait:g}", *([f"{period:g}"] if period is not None else [])]
    return launcher_lines(
        launcher,
        entrypoint,
        cmd,
        timing,
        DRILL_LABEL,
        refusal="the running release's image names no command (no ENTRYPOINT, no CMD);"
        " the drill cannot run it throttled",
    )


def launcher_lines(
    launcher: str,
    entrypoint: Sequence[str] | None,
    cmd: Sequence[str] | None,
    arguments: Sequence[str],
    label: str,
    refusal: str,
) -> list[str]:
    """Dockerfile lines that run the image's command (``entrypoint`` + ``cmd``) under
    ``launcher`` (a Python text, run ``-I -c`` by the command's own Python, else python3)
    with its ``arguments``, then ``--`` and the command restated as CMD; ``label`` last. An
    image with no command is refused with ``refusal``."""
    command = [*(entrypoint or ()), *(cmd or ())]
    if not command:
        raise SoakgateError(refusal, hint="give the service's Dockerfile a CMD")
    python = command[0] if PYTHON.fullmatch(command[0]) else "python3"
    launch = [python, "-I", "-c", launcher, *arguments, "--"]
    return [f"ENTRYPOINT {json.dumps(launch)}", f"CMD {json.dumps(command)}", label]
