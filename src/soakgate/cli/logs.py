"""``soakgate logs STAGE``: the last lines of the stage's proxy and both slots, every host."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from soakgate.cli.options import JsonFlag, StageArg
from soakgate.cli.output import console, safe
from soakgate.errors import HostUnreachable


def logs(
    stage: StageArg,
    lines: Annotated[
        int, typer.Option("--lines", "-n", min=1, max=10000, help="Lines per container.")
    ] = 50,
    as_json: JsonFlag = False,
) -> None:
    """Print the last lines (timestamped) of STAGE's proxy and blue and green slots, on this
    machine's engine or on every SSH host of the stage (soakgate:hosts), hosts in parallel.
    Exit 5 when a host could not be read (the others are still printed)."""
    from soakgate.adapters.docker.container_logs import DockerLogs
    from soakgate.adapters.ssh.connection import Connections
    from soakgate.adapters.stage.stack_file import stack_hosts
    from soakgate.app.logs import stage_logs
    from soakgate.cli.project import current_project
    from soakgate.core.names import StageNames

    project = current_project()
    hosts = stack_hosts(project.root, stage)
    source = DockerLogs(Connections())  # SSH hosts: one connection each, closed at the end
    try:
        found = stage_logs(StageNames(stage, project.config.namespace), hosts, source, lines)
    finally:
        source.close()
    if as_json:
        print(json.dumps([vars(log) for log in found]))
    else:
        for log in found:
            title = f"== {log.where} {log.container}"
            if log.error is not None:
                console.print(f"{safe(title)}: [red]{safe(log.error)}[/]")
            elif log.lines is None:
                console.print(f"{safe(title)}: no such container")
            else:
                console.print(f"{safe(title)} ({len(log.lines)} lines)", highlight=False)
                for line in log.lines:
                    console.print(line, markup=False, highlight=False, soft_wrap=True)
    broken = [log for log in found if log.error is not None]
    if broken:
        raise HostUnreachable(
            f"{len(broken)} host(s) of {stage} could not be read: {broken[0].where}:"
            f" {broken[0].error}",
            hint=f"soakgate hosts check {stage} says why; the others are printed above",
        )
