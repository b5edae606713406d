"""``soakgate images …``: the base images (``bases``), built offline or pulled."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from soakgate.app.bases import FAILED, BaseResult, make_bases
from soakgate.cli.output import console
from soakgate.core.base_recipes import DEFAULT_NAME_PREFIX, SUPPORTED_VERSIONS
from soakgate.core.names import digest_ref, short_digest
from soakgate.errors import ConfigError, SoakgateError

images_app = typer.Typer(no_args_is_help=True)


@images_app.callback()
def images() -> None:
    """Base images of the service."""


def render_bases(results: list[BaseResult]) -> Table:
    """Return the table of ``images bases``: image, state, Python, id, size, seconds."""
    table = Table(title="soakgate base images", title_justify="left")
    for column in ("image", "state", "python", "id", "size", "seconds"):
        table.add_column(column, justify="right" if column in ("size", "seconds") else "left")
    for result in results:
        image = result.image
        state = "[red]failed[/]" if result.state == FAILED else f"[green]{result.state}[/]"
        table.add_row(
            result.reference,
            state,
            image.python_version if image else "",
            short_digest(image.image_id) if image else "",
            f"{image.size / 1e6:.0f} MB" if image else "",
            f"{result.seconds:.1f}",
        )
    return table


def _epoch() -> int | None:
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None:
        return None
    if not value.isdigit():
        raise ConfigError(f"SOURCE_DATE_EPOCH={value!r} is not a number of seconds")
    return int(value)


def _proxy(mirror: str | None) -> None:
    """The stages' proxy (Debian's nginx-light), made the same offline way."""
    from soakgate.adapters.images.proxy_image import make_proxy_image

    with console.status("proxy image: debootstrap bookworm + nginx-light"):
        proxy = make_proxy_image(mirror=mirror)
    state = "built" if proxy.built else "up to date"
    console.print(
        f"{proxy.reference}: {state}, {proxy.size / 1e6:.0f} MB ({digest_ref(proxy.image_id)})"
    )


@images_app.command()
def bases(
    python: Annotated[
        list[str] | None,
        typer.Option("--python", help="Python version (repeat): 3.12, 3.14. Default: both."),
    ] = None,
    name_prefix: Annotated[
        str, typer.Option("--name-prefix", help="Image name; the tag is the version.")
    ] = DEFAULT_NAME_PREFIX,
    python312_path: Annotated[
        Path | None,
        typer.Option(
            "--python312-path",
            help="Prefix of a CPython 3.12 install to copy (default: python3.12 on PATH or pyenv).",
        ),
    ] = None,
    from_registry: Annotated[
        bool, typer.Option("--from-registry", help="Pull python:<v>-slim instead of building.")
    ] = False,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Build even when the image is up to date.")
    ] = False,
    mirror: Annotated[
        str | None,
        typer.Option(
            "--mirror",
            envvar="SOAKGATE_DEBIAN_MIRROR",
            help="Debian mirror URL for debootstrap (default: the one apt uses).",
        ),
    ] = None,
) -> None:
    """Make the base images <prefix>:3.12 and <prefix>:3.14, and the proxy image, offline."""
    from soakgate.adapters.images.rootfs import DebootstrapBuilder

    results = make_bases(
        python or list(SUPPORTED_VERSIONS),
        name_prefix,
        python312_path.expanduser() if python312_path else None,
        from_registry,
        builder=DebootstrapBuilder(mirror=mirror),
        progress=lambda line: console.print(line, markup=False, highlight=False),
        rebuild=rebuild,
        epoch=_epoch(),
    )
    if any(result.error is None for result in results):
        console.print(render_bases(results))
    if not from_registry:
        _proxy(mirror)
    failures = [result for result in results if result.error is not None]
    if len(failures) == 1 and failures[0].error is not None:
        raise failures[0].error
    if failures:
        summary = "; ".join(
            f"{result.version}: {str(result.error).splitlines()[0]}" for result in failures
        )
        first = failures[0].error
        raise SoakgateError(
            f"{len(failures)} base images failed: {summary}", hint=first.hint if first else ""
        )
