"""``soakgate demo``: the whole migration in one command, drawn as it goes; ``--clean``."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from soakgate.cli.output import console, inert, safe
from soakgate.cli.project import current_project
from soakgate.core.demo import SOAK_MODES
from soakgate.errors import ConfigError

if TYPE_CHECKING:
    from soakgate.core.demo import Step


class DemoProgress:
    """The step under way (stage, title, elapsed, the child's latest line; a bar on the soak)
    above the lines of the finished steps; plain lines when the output is no terminal."""

    def __init__(self) -> None:
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=30),
            TimeElapsedColumn(),
            TextColumn("[dim]{task.fields[latest]}"),
            console=console,
            transient=True,
        )
        self.task: TaskID | None = None
        self.total = 0

    def __enter__(self) -> DemoProgress:
        self.bar.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.bar.stop()

    def step_started(self, step: Step, number: int, total: int) -> None:
        if self.task is not None:
            self.bar.remove_task(self.task)
        where = f"{step.stage} · " if step.stage else ""
        self.task = self.bar.add_task(
            f"[{number}/{total}] {where}{step.title}", total=None, latest=""
        )
        if not console.is_terminal:
            console.print(f"… [{number}/{total}] {where}{safe(step.title)}", highlight=False)

    def output(self, line: str) -> None:
        if self.task is not None and line.strip():
            self.bar.update(self.task, latest=safe(line.strip()[:60]))

    def progress(self, fraction: float, text: str) -> None:
        if self.task is not None:
            self.bar.update(self.task, total=1.0, completed=fraction, latest=safe(text))

    def step_finished(self, step: Step, line: str, seconds: float, resumed: bool) -> None:
        if self.task is not None:
            self.bar.remove_task(self.task)
            self.task = None
        took = "done before" if resumed else f"{seconds:.1f} s"
        console.print(f"[green]✓[/] {safe(line)} [dim]({took})[/]", highlight=False, soft_wrap=True)

    def show(self, text: str) -> None:
        console.print(inert(text), markup=False, highlight=False, soft_wrap=True)


def demo(
    clean: Annotated[
        bool,
        typer.Option(
            "--clean",
            help="Remove everything the demo made (containers, networks, images, stacks,"
            " state, report) and nothing else.",
        ),
    ] = False,
    soak: Annotated[
        str,
        typer.Option(
            metavar="MODE",
            help="accelerated: a simulated week in about half a minute (labelled so everywhere);"
            " real: a week on the wall clock.",
        ),
    ] = "accelerated",
) -> None:
    """The 3.12 → 3.14 migration end to end on real stages of its own, with one report:
    build, gates, promotion, soak, rollback drill, revert and forward, compare, verify."""
    from soakgate.app.demo import DemoOptions, clean_demo, kept_downloads, run_demo

    project = current_project()
    if clean:
        removed = clean_demo(project)
        for name in removed:
            console.print(f"  removed {safe(name)}", highlight=False)
        console.print(f"demo cleaned: {len(removed)} things removed, nothing else touched")
        kept = kept_downloads(project)
        if kept is not None:
            console.print(
                f"kept its download cache {safe(kept)} (hash-checked wheels, index pages; no"
                " engine object): remove that folder to drop it",
                highlight=False,
                soft_wrap=True,  # the path whole, on a terminal or not
            )
        return
    if soak not in SOAK_MODES:
        raise ConfigError(
            f"--soak {soak}: not one of {', '.join(SOAK_MODES)}",
            hint="--soak accelerated (the default) or --soak real",
        )
    with DemoProgress() as progress:
        outcome = run_demo(project, DemoOptions(soak=soak), progress)
    console.print(
        f"demo done in {outcome.seconds:.0f} s; report: {safe(outcome.report)}", highlight=False
    )
