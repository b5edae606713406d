"""``soakgate hosts check STAGE`` and ``soakgate hosts send STAGE [RELEASE]...``: a stage's
Docker hosts over SSH (``soakgate:hosts`` in ``Pulumi.<stage>.yaml``).

    soakgate hosts check production          # engine, API, free disk, clock, release images
    soakgate hosts send production           # the newest release of each Python, where missing
    soakgate hosts send production f17ffb03171413

Host keys: ``$SOAKGATE_SSH_KNOWN_HOSTS``, ``~/.ssh/known_hosts``, ``/etc/ssh/ssh_known_hosts``;
the client key: ``$SOAKGATE_SSH_IDENTITY``, else the agent and ``~/.ssh/id_*``.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Annotated

import typer
from rich.table import Table

from soakgate.cli.options import JsonFlag, StageArg
from soakgate.cli.output import console, err_console, safe
from soakgate.core.host_health import GIB, HostReading, missing_images, problems
from soakgate.core.hosts import Host
from soakgate.core.names import short_digest
from soakgate.core.release import Release
from soakgate.errors import DockerError, HostUnreachable

hosts_app = typer.Typer(no_args_is_help=True)

ReleaseArgs = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="[RELEASE]...",
        help="Releases (digest, 12+ digit prefix or tag); default: the newest of each Python.",
        show_default=False,
    ),
]


def _stage_and_releases(
    stage: str, refs: list[str] | None
) -> tuple[tuple[Host, ...], list[Release]]:
    from soakgate.adapters.stage.stack_file import stack_hosts
    from soakgate.adapters.state.releases import StateDB
    from soakgate.app.hosts import stage_hosts
    from soakgate.cli.project import current_project

    project = current_project()
    hosts = stage_hosts(project, stage, stack_hosts(project.root, stage))
    with StateDB.open(project.state) as db:
        if refs:
            releases = [db.require_release(ref) for ref in refs]
        else:
            newest: dict[str, Release] = {}
            for release in db.releases():
                newest.setdefault(release.python_series, release)
            releases = sorted(newest.values(), key=lambda release: release.python_series)
    return hosts, releases


def render_readings(stage: str, readings: list[HostReading]) -> Table:
    table = Table(title=f"{stage}: hosts", title_justify="left")
    for column in ("host", "engine", "API", "free", "clock", "images missing", "verdict"):
        table.add_column(column)
    for reading in readings:
        found = problems(reading)
        verdict = "[green]ok[/]" if not found else "[red]" + safe("; ".join(found)) + "[/]"
        if reading.error is not None:
            table.add_row(reading.host.url, "-", "-", "-", "-", "-", verdict)
            continue
        table.add_row(
            reading.host.url,
            reading.engine_version or "-",
            reading.api_version or "-",
            "-" if reading.free_bytes is None else f"{reading.free_bytes / GIB:.1f} GiB",
            "-" if reading.clock_skew is None else f"{reading.clock_skew:+.2f} s",
            ", ".join(missing_images(reading)) or "none",
            verdict,
        )
    return table


@hosts_app.command("check")
def check(stage: StageArg, refs: ReleaseArgs = None, as_json: JsonFlag = False) -> None:
    """Reach every host of STAGE over SSH and say whether it can take a deploy: engine and
    API version, free disk, clock skew, and which release images it lacks. Exit 5 when a
    host is unreachable or unfit."""
    from soakgate.adapters.ssh.host_engines import SshHostEngines
    from soakgate.app.hosts import check_hosts

    hosts, releases = _stage_and_releases(stage, refs)
    engines = SshHostEngines()
    try:
        readings = check_hosts(hosts, engines, releases)
    finally:
        engines.close()
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "host": reading.host.url,
                        "engine_version": reading.engine_version,
                        "api_version": reading.api_version,
                        "free_bytes": reading.free_bytes,
                        "clock_skew": reading.clock_skew,
                        "images": dict(reading.images),
                        "error": reading.error,
                        "problems": problems(reading),
                        "seconds": round(reading.seconds, 3),
                    }
                    for reading in readings
                ]
            )
        )
    else:
        console.print(render_readings(stage, readings))
    unfit = [reading.host.url for reading in readings if problems(reading)]
    if unfit:
        first = next(reading for reading in readings if problems(reading))
        raise HostUnreachable(
            f"{len(unfit)} of {len(readings)} hosts of {stage} cannot take a deploy:"
            f" {first.host.url}: {problems(first)[0]}",
            hint="fix what the table says, then run soakgate hosts check again",
        )


@hosts_app.command("send")
def send(stage: StageArg, refs: ReleaseArgs = None, as_json: JsonFlag = False) -> None:
    """Send release images to every host of STAGE that lacks them (docker save | SSH | docker
    load, hosts in parallel), checking each arrived image's ID against the release's digest.
    Exit 5 when an image did not reach its host."""
    from soakgate.adapters.ssh.host_engines import SshHostEngines
    from soakgate.app.hosts import send_releases

    hosts, releases = _stage_and_releases(stage, refs)
    lock = threading.Lock()
    shown: dict[tuple[Host, str], float] = {}

    def progress(host: Host, release: Release, sent: int, size: int) -> None:
        key = (host, release.digest)
        with lock:  # one line per host and image every 2 s, not one per chunk
            now = time.monotonic()
            if now - shown.get(key, 0.0) < 2.0:
                return
            shown[key] = now
        share = f" ({sent / size:.0%})" if size else ""
        err_console.print(f"{host.name}: {release.short} {sent / 1e6:.0f} MB sent{share}")

    engines = SshHostEngines()
    try:
        deliveries = send_releases(hosts, engines, releases, None if as_json else progress)
    finally:
        engines.close()
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "host": done.host.url,
                        "release": done.release.digest,
                        "bytes": done.bytes,
                        "error": done.error,
                    }
                    for done in deliveries
                ]
            )
        )
    else:
        for done in deliveries:
            what = (
                f"[red]failed: {safe(done.error)}[/]"
                if done.error
                else (f"sent {done.bytes / 1e6:.0f} MB" if done.bytes else "present")
            )
            console.print(f"{done.host.url}: {short_digest(done.release.digest)} {what}")
    failed = [done for done in deliveries if done.error]
    if failed:
        raise DockerError(
            f"{len(failed)} of {len(deliveries)} images did not reach their host:"
            f" {failed[0].host.url}: {failed[0].error}",
            hint=f"fix it, then run soakgate hosts send {stage} again (what arrived stays)",
        )
