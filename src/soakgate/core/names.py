"""Names of a stage's things on the Docker host. A namespace keeps two projects (or a test
run) on one engine apart: ``app-staging-blue`` becomes ``t1-app-staging-blue``.

    names = StageNames("staging")
    names.app("blue"), names.proxy   # app-staging-blue, proxy-staging
"""

from __future__ import annotations

from dataclasses import dataclass

STAGES = ("dev", "staging", "production")
PYTHONS = ("3.12", "3.14")  # the Python series soakgate builds images for

# Docker labels soakgate puts on what it makes (and finds its things by).
LABEL_MANAGED = "soakgate.managed"  # "true" on every container and network soakgate owns
LABEL_STAGE = "soakgate.stage"
LABEL_SLOT = "soakgate.slot"
LABEL_RELEASE = "soakgate.release"  # the digest a slot's container runs
LABEL_SPEC = "soakgate.spec"  # the hash of the container spec it was made from
LABEL_STACK = "soakgate.stack"
LABEL_PURPOSE = "soakgate.purpose"  # "evidence": a collector's throwaway container
LABEL_PYTHON = "soakgate.python"  # the Python version of a base or service image
LABEL_BASE = "soakgate.base"  # "true" on a base image made by soakgate images bases
LABEL_RECIPE = "soakgate.recipe"  # the recipe hash of a base image
LABEL_PROXY_RECIPE = "soakgate.proxy.recipe"


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
