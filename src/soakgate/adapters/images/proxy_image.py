"""The stages' proxy image, made offline: a minimal bookworm root with Debian's nginx-light,
bootstrapped with ``debootstrap`` and loaded with ``docker import`` (no registry needed).

    make_proxy_image()      # "soakgate/proxy:nginx", skipped when the recipe is unchanged
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import docker.errors

from soakgate.adapters.docker import engine as docker_engine
from soakgate.adapters.images.rootfs import (
    archive_keyring,
    debian_mirror,
    debootstrap_command,
    debootstrap_executable,
    import_tar,
    normalize_root,
    strip_root,
    write_tar,
)
from soakgate.adapters.process import run
from soakgate.core.base_recipes import ROOT_STRIP, SOURCE_DATE_EPOCH
from soakgate.core.names import LABEL_PROXY_RECIPE
from soakgate.errors import CommandFailed

PROXY_IMAGE = "soakgate/proxy:nginx"
SUITE = "bookworm"
PACKAGES = ("nginx-light",)
RECIPE_VERSION = 1


@dataclass(frozen=True)
class ProxyImage:
    reference: str
    image_id: str
    size: int
    built: bool


def recipe_hash() -> str:
    recipe = {"suite": SUITE, "packages": PACKAGES, "strip": ROOT_STRIP, "version": RECIPE_VERSION}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def _existing(reference: str, wanted: str) -> ProxyImage | None:
    try:
        image = docker_engine.client().images.get(reference)
    except docker.errors.ImageNotFound:
        return None
    if (image.labels or {}).get(LABEL_PROXY_RECIPE) != wanted:
        return None
    return ProxyImage(reference, str(image.id), int(image.attrs.get("Size", 0)), built=False)


def make_proxy_image(reference: str = PROXY_IMAGE, mirror: str | None = None) -> ProxyImage:
    """Make the proxy image unless one from the same recipe exists."""
    wanted = recipe_hash()
    found = _existing(reference, wanted)
    if found is not None:
        return found
    executable, keyring = debootstrap_executable(), archive_keyring()
    source = debian_mirror(mirror)
    with tempfile.TemporaryDirectory(prefix="soakgate-proxy-") as work:
        root = Path(work) / "root"
        command = debootstrap_command(
            executable,
            keyring,
            variant="minbase",
            include=PACKAGES,
            suite=SUITE,
            root=root,
            mirror=source,
        )
        result = run(command, check=False, timeout=1800)
        if not result.ok:
            raise CommandFailed(
                result, what=f"debootstrap of the proxy root ({SUITE} + nginx-light)"
            )
        strip_root(root, ROOT_STRIP)
        normalize_root(root, SOURCE_DATE_EPOCH)
        tar = Path(work) / "root.tar"
        write_tar(root, tar, SOURCE_DATE_EPOCH)
        changes = [
            "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "EXPOSE 8080",
            'CMD ["nginx", "-g", "daemon off;"]',
            f"LABEL {LABEL_PROXY_RECIPE}={wanted}",
        ]
        image_id = import_tar(tar, reference, changes)
    image = docker_engine.client().images.get(image_id)
    return ProxyImage(reference, image_id, int(image.attrs.get("Size", 0)), built=True)
