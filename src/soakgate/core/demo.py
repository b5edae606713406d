"""``soakgate demo``: the 3.12 → 3.14 migration walked end to end in a workspace of its own.

The demo never touches the project's stages: it copies the project's ``soakgate.toml`` into
``.soakgate/demo/`` with its own namespace, image name and ports (:func:`demo_config`), and
runs the real commands there, step by step (:data:`STEPS`). What each step measured is kept
in a journal, so a second run resumes after the last finished step.

    config = demo_config(raw_toml, context=Path("/repo/images/service"), ports=ports)
    next_steps(journal)              # the steps not finished yet, in order
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from soakgate.core.config import STAGES
from soakgate.core.gates import parse_gates

if TYPE_CHECKING:  # a path is only carried here: no file is touched
    from pathlib import Path

# A simulated week of soak in about half a minute of wall clock, with a probe every 10
# simulated minutes (1,008 a week; about 33 a second of wall clock) and the engine read every
# simulated hour (168 samples).
WEEK = 7 * 86400
ACCELERATION = 20160
ACCELERATED_SLO = {
    "probe_interval": "10m",
    "window": "6h",
    "window_min_samples": 24,  # of 36 a window: room for probes a slow moment skips
    "min_samples": 900,  # of about 1,040
    "trend_window": "1d",
    "memory_trend_min_span": "6h",
    "memory_trend_min_samples": 30,
}
ENGINE_EVERY = "1h"
JUDGE_EVERY = "6h"
SOAK_MODES = ("accelerated", "real")


@dataclass(frozen=True)
class Step:
    key: str
    stage: str  # the stage it acts on, or "" for none
    title: str


STEPS = (
    Step("bases", "", "base images (debootstrap + docker import)"),
    Step("build", "", "both images built by Pulumi"),
    Step("live", "", "3.12 live in dev, staging and production"),
    Step("readiness", "", "readiness of the requirements for 3.14"),
    Step("deploy-dev", "dev", "3.14 deployed to dev"),
    Step("evidence-staging", "dev", "3.14 evidence for staging"),
    Step("promote-staging", "staging", "gates and promotion dev → staging"),
    Step("soak", "staging", "soak of 3.14 in staging"),
    Step("promote-production", "production", "gates and promotion staging → production"),
    Step("drill", "production", "emergency rollback drill under load"),
    Step("revert", "production", "revert production to 3.12"),
    Step("forward", "production", "forward again to 3.14"),
    Step("compare", "", "3.12 vs 3.14 comparison"),
    Step("verify", "", "every stage verified"),
    Step("report", "", "the report"),
)
STEP_KEYS = tuple(step.key for step in STEPS)


def next_steps(done: Mapping[str, Any]) -> list[Step]:
    """The steps after the last one the journal holds as done, in order (a step is only done
    when every one before it is: a journal with a hole resumes at the hole)."""
    for index, step in enumerate(STEPS):
        if step.key not in done:
            return list(STEPS[index:])
    return []


def demo_namespace(namespace: str) -> str:
    """The demo's container namespace, apart from the project's own (and as valid: at most 20
    lowercase letters or digits)."""
    return f"{namespace[:16]}demo"


def demo_image(image: str) -> str:
    return f"{image}-demo"


def demo_config(
    raw: Mapping[str, Any],
    *,
    context: Path,
    ports: Mapping[str, int],
    soak: str = "accelerated",
) -> dict[str, Any]:
    """The demo workspace's soakgate.toml from the project's (already parsed) one: its own
    namespace, image name and loopback ports, the service's ``context`` (where the workspace's
    copy holds it), local stages only; ``soak="accelerated"`` probes the simulated week every 5
    simulated minutes and lets the production gate take an accelerated soak (labelled so
    everywhere)."""
    if soak not in SOAK_MODES:
        raise ValueError(f"soak mode {soak!r}: expected one of {', '.join(SOAK_MODES)}")
    config = copy.deepcopy(dict(raw))
    config["namespace"] = demo_namespace(str(config.get("namespace", "")))
    service = dict(config.get("service", {}))
    service["context"] = str(context)
    service["image"] = demo_image(str(service.get("image", "soakgate/service")))
    config["service"] = service
    stages = dict(config.get("stages", {}))
    for stage in STAGES:
        table = dict(stages.get(stage, {}))
        table["port"] = ports[stage]
        table.pop("hosts", None)
        stages[stage] = table
    config["stages"] = stages
    if soak == "accelerated":
        gates = dict(config.get("gates", {}))
        production = dict(gates.get("staging_to_production", {}))
        production["accelerated_soak"] = True
        gates["staging_to_production"] = production
        config["gates"] = gates
        config["slo"] = {**dict(config.get("slo", {})), **ACCELERATED_SLO}
    return config


def soak_seconds(config: Mapping[str, Any]) -> int:
    """How much soak the production gate of ``config`` asks for (seconds; a week by default)."""
    gates = parse_gates(config.get("gates", {}))
    return gates["staging_to_production"].soak or WEEK


def step_seconds(seconds: float) -> str:
    """A duration as a person reads it on a step line: 0.31 s, 42 s, 3 min 5 s."""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"
