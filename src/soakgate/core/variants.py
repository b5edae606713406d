"""Variants of a release that ``soakgate compare`` measures against the release itself or
another one: the same image with something switched on.

    variant_environment("jit", service.variants)          # {"PYTHON_JIT": "1"}
    variant_environment("eager-tasks", service.variants)  # the service's own setting

``jit`` needs an interpreter configured with ``--enable-experimental-jit`` (Debian's 3.14 is:
``PYTHON_JIT=1`` turns it on); ``free-threaded`` is not an environment switch but a release
built on a free-threaded interpreter (``python3.14t``), with ``PYTHON_GIL=0``. A service's own
variants (``[service.variants.NAME]`` in soakgate.toml) are environment it adds; one of the
built-in names there replaces the built-in setting.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from soakgate.errors import ConfigError

JIT = "jit"
FREE_THREADED = "free-threaded"
EAGER_TASKS = "eager-tasks"
BUILT_IN: dict[str, dict[str, str]] = {
    JIT: {"PYTHON_JIT": "1"},
    FREE_THREADED: {"PYTHON_GIL": "0"},
}
KNOWN = (JIT, FREE_THREADED, EAGER_TASKS)


LABEL_VARIANT = "soakgate.variant"  # on a variant image: its name
LABEL_VARIANT_OF = "soakgate.variant.of"  # on a variant image: the release image it is made from


@dataclass(frozen=True)
class BuiltVariant:
    """An image the Pulumi program built as variant ``name`` of a release: the release's
    image with the variant's environment set in it."""

    digest: str
    of_release: str  # the release's digest
    name: str
    image: str  # its unique tag


def variant_dockerfile(release_image: str, environment: Mapping[str, str]) -> str:
    """The Dockerfile of a variant image: the release's image (by its unique tag) with the
    variant's environment set."""
    lines = [f"FROM {release_image}"]
    lines += [
        f"ENV {key}={json.dumps(value).replace('$', chr(92) + '$')}"  # no expansion of $
        for key, value in sorted(environment.items())
    ]
    return "\n".join(lines) + "\n"


class VariantUnavailable(ConfigError):
    """A variant that cannot run for this release (no JIT in its interpreter, no setting)."""


def variant_environment(name: str, configured: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The environment that turns variant ``name`` on."""
    if name in configured:
        return dict(configured[name])
    if name in BUILT_IN:
        return dict(BUILT_IN[name])
    if name == EAGER_TASKS:
        raise VariantUnavailable(
            "variant eager-tasks: the service names no setting that starts its tasks eagerly",
            hint='add [service.variants.eager-tasks] with its setting (e.g. EAGER = "1")'
            " to soakgate.toml",
        )
    names = sorted({*KNOWN, *configured})
    raise ConfigError(
        f"unknown variant {name!r}",
        hint=f"known variants: {', '.join(names)} ([service.variants.NAME] adds one)",
    )
