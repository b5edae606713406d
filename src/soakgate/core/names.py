"""Names of a stage's things on the Docker host. A namespace keeps two projects (or a test
run) on one engine apart: ``app-staging-blue`` becomes ``t1-app-staging-blue``.

    names = StageNames("staging")
    names.app("blue"), names.proxy   # app-staging-blue, proxy-staging
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StageNames:
    stage: str
    namespace: str = ""

    @property
    def _prefix(self) -> str:
        return f"{self.namespace}-" if self.namespace else ""

    def app(self, slot: str) -> str:
        return f"{self._prefix}app-{self.stage}-{slot}"

    def candidate(self, slot: str) -> str:
        return f"{self.app(slot)}-next"

    @property
    def proxy(self) -> str:
        return f"{self._prefix}proxy-{self.stage}"

    @property
    def network(self) -> str:
        return f"{self._prefix}soakgate-{self.stage}"


def digest_ref(digest: str) -> str:
    """A digest as messages name it: ``sha256:`` and its first 12 hex digits."""
    return digest[:19]


def short_digest(digest: str | None) -> str:
    """A digest as tables show it (as ``docker images`` does): its first 12 hex digits."""
    return (digest or "").removeprefix("sha256:")[:12]
