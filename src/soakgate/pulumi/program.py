"""What a stack of the soakgate project is made of, read from its stack config.

Kept apart from ``infra/__main__.py`` so the program stays thin and nothing is created at
import time.
"""

from __future__ import annotations

import pulumi

from soakgate.pulumi.container import Container, ContainerArgs


def define_stack() -> None:
    """Declare the resources of the current stack from its ``soakgate:*`` config."""
    config = pulumi.Config("soakgate")
    stack = pulumi.get_stack()
    pulumi.export("stack", stack)
    pulumi.export("stage", config.get("stage") or stack)
    probe_image = config.get("probeImage")
    if probe_image:
        # A bare container on the engine: lets a throwaway stack prove the toolchain end to end.
        probe = Container(
            "probe",
            ContainerArgs(
                image=probe_image,
                name=f"soakgate-probe-{stack}",
                command=["sleep", "3600"],
                labels={"soakgate.stack": stack},
                restart="no",
            ),
        )
        pulumi.export("probe_container_id", probe.container_id)
