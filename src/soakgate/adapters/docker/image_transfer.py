"""Copy a release's image from one engine to another without a registry: ``docker save`` on
the source streamed into ``docker load`` on the target (over SSH for a remote host), only when
the target lacks it, and checked by digest before anything runs it.

    sent = send_image(local, remote, "soakgate/service:py3.14-abc", "sha256:f17f…",
                      progress=lambda done, total: ...)
    sent.bytes  # 0 when the target had the image already

Memory stays flat: the archive passes through in the SDK's chunks, never whole. A load cut
half-way leaves no image under the reference (the engine registers an image only once its
archive is complete), so running it again starts over and completes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from soakgate.errors import BadRelease, DockerError

if TYPE_CHECKING:
    import docker

Progress = Callable[[int, int], None]  # (bytes sent, the image's size: an estimate)
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Sent:
    """What one ``send_image`` did."""

    reference: str
    digest: str
    bytes: int  # 0: the target had it
    seconds: float


def image_id(client: docker.DockerClient, reference: str) -> str | None:
    """The ID of ``reference`` on ``client``'s engine, or None when it has no such image."""
    import docker.errors

    try:
        return str(client.images.get(reference).id)
    except docker.errors.ImageNotFound:
        return None


def send_image(
    source: docker.DockerClient,
    target: docker.DockerClient,
    reference: str,
    digest: str,
    progress: Progress | None = None,
) -> Sent:
    """Make ``target`` hold ``reference`` as image ``digest``, streaming it from ``source``
    when it does not already. Raises BadRelease when an image's ID is not ``digest``."""
    import docker.errors

    began = time.monotonic()
    if image_id(target, reference) == digest:
        return Sent(reference, digest, 0, time.monotonic() - began)
    present = image_id(target, digest)
    if present == digest:  # the image is there under another name: tag it, send nothing
        target.images.get(digest).tag(reference)
        return _checked(target, reference, digest, 0, began)
    source_id = image_id(source, reference)
    if source_id != digest:
        raise BadRelease(
            f"{reference} is {source_id or 'not present'} on this machine's engine, not the"
            f" release's {digest}: not sending it",
            hint="rebuild the release (soakgate build), then send it again",
        )
    size = int(source.images.get(reference).attrs.get("Size") or 0)
    sent = 0

    def chunks() -> Iterator[bytes]:
        """The archive of the image *by its ID* (a tag could be moved meanwhile); a failure of
        this machine's engine is named as such, not blamed on the target."""
        nonlocal sent
        try:
            for chunk in source.api.get_image(digest, chunk_size=CHUNK):
                sent += len(chunk)
                if progress is not None:
                    progress(sent, size)
                yield chunk
        except (docker.errors.DockerException, OSError) as exc:
            raise DockerError(
                f"this machine's engine stopped sending {reference} ({exc})",
                hint="check the local engine (soakgate doctor), then send it again",
            ) from exc

    try:
        for message in target.api.load_image(chunks()):
            if isinstance(message, dict) and message.get("error"):
                raise DockerError(
                    f"docker load of {reference} failed: {message['error']}",
                    hint="check the target's free disk (docker system df), then send it again",
                )
    except docker.errors.APIError as exc:
        raise DockerError(
            f"docker load of {reference} failed: {exc.explanation or exc}",
            hint="check the target's free disk (docker system df), then send it again",
        ) from exc
    if image_id(target, digest) == digest:  # saved by ID: the archive carries no name
        target.images.get(digest).tag(reference)
    return _checked(target, reference, digest, sent, began)


def _checked(
    target: docker.DockerClient, reference: str, digest: str, sent: int, began: float
) -> Sent:
    arrived = image_id(target, reference)
    if arrived != digest:
        raise BadRelease(
            f"{reference} arrived as {arrived or 'nothing'}, not the release's {digest}",
            hint="remove it on the target (docker image rm), then send it again",
        )
    return Sent(reference, digest, sent, time.monotonic() - began)
