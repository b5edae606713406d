"""A release: one built image of the service, identified by its digest. Immutable."""

from __future__ import annotations

from dataclasses import dataclass

from soakgate.core.names import short_digest


@dataclass(frozen=True)
class Release:
    """One image of the service. With no registry the digest is the image ID (``sha256:…``)."""

    digest: str
    python: str  # full version, e.g. "3.14.0"
    app_version: str
    revision: str
    created: str  # ISO 8601, from the image's OCI label
    size: int  # bytes
    image: str  # the unique tag, e.g. soakgate/service:1.0.0-py3.14-3f2a9c1b

    @property
    def python_series(self) -> str:
        """``"3.14"`` for ``"3.14.0"``."""
        return ".".join(self.python.split(".")[:2])

    @property
    def short(self) -> str:
        """The first 12 hex digits of the digest, as ``docker images`` shows it."""
        return short_digest(self.digest)


def matches(release: Release, ref: str) -> bool:
    """True when ``ref`` names this release: its digest, a digest prefix, or its image tag."""
    hex_ref = ref.removeprefix("sha256:")
    return (len(hex_ref) >= 12 and release.digest.removeprefix("sha256:").startswith(hex_ref)) or (
        ref == release.image
    )
