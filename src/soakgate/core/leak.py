"""The Dockerfile lines that make a leaking copy of a release: its own command, started by the
leak launcher (soakgate.adapters.soak.leak_launcher) beside a process that holds a steady
number of KiB more every second — the memory growth a soak must catch (the incremental GC of
CPython 3.14.0 leaked like this in production), planted without asking anything of the service
but that its image has a Python for the launcher.

    leak_lines(launcher, entrypoint=None, cmd=["python", "-m", "app"], kib_per_second=256)
    # ['ENTRYPOINT ["python", "-I", "-c", "<launcher>", "256", "512", "--"]',
    #  'CMD ["python", "-m", "app"]', 'LABEL soakgate.leak="256"']

As with the drill's throttle (soakgate.core.throttle): a new ENTRYPOINT resets the inherited
CMD, so the original command is stated again as CMD; USER, WORKDIR, ENV and HEALTHCHECK are
inherited unchanged; the launcher's Python runs isolated (``-I``).
"""

from __future__ import annotations

from collections.abc import Sequence

from soakgate.core.throttle import launcher_lines
from soakgate.errors import SoakgateError

LEAK_LABEL = "soakgate.leak"
MAX_MIB = 512  # the leak stops growing here: a forgotten leaking container cannot eat the host


def leak_lines(
    launcher: str,
    entrypoint: Sequence[str] | None,
    cmd: Sequence[str] | None,
    kib_per_second: int,
    max_mib: int = MAX_MIB,
) -> list[str]:
    """Dockerfile lines that run the image's command (``entrypoint`` + ``cmd``, from its
    config) beside a process leaking ``kib_per_second`` KiB a second, up to ``max_mib`` MiB."""
    lines = launcher_lines(
        launcher,
        entrypoint,
        cmd,
        [str(kib_per_second), str(max_mib)],
        f'LABEL {LEAK_LABEL}="{kib_per_second}"',
        refusal="the release's image names no command (no ENTRYPOINT, no CMD);"
        " a leaking copy cannot run it",
    )
    if kib_per_second <= 0 or max_mib <= 0:
        raise SoakgateError(
            f"a planted leak needs a positive rate and cap, got {kib_per_second} KiB/s"
            f" up to {max_mib} MiB",
            hint="e.g. 256 KiB/s up to 512 MiB",
        )
    return lines
