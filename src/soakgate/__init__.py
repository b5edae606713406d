"""soakgate: ship a Python web service through stages and bring it back fast."""

import os
import sys
import threading

# The Docker SDK imports paramiko (for ssh:// engines) whenever it is installed, and paramiko
# pulls in invoke: ~0.5 s in every process that touches Docker — the CLI, the Pulumi program
# and each dynamic-provider process. soakgate talks to a local socket or tcp:// engine, so
# unless DOCKER_HOST is ssh://, Docker's optional SSH support is switched off (the SDK treats
# a missing paramiko as "no SSH"). Code that needs SSH (Fabric) calls allow_ssh() first.
if not os.environ.get("DOCKER_HOST", "").startswith("ssh://"):
    sys.modules.setdefault("paramiko", None)  # type: ignore[arg-type]


# Held while paramiko is imported without invoke (adapters.ssh.connection) and while SSH is
# switched back on: a thread importing invoke or Fabric meanwhile would find invoke blocked.
SSH_IMPORTS = threading.Lock()


def lift_paramiko_switch_off() -> None:
    """Take away the switch-off above, so that paramiko can be imported (hold
    :data:`SSH_IMPORTS`: a thread importing paramiko meanwhile would find it blocked)."""
    if sys.modules.get("paramiko", object()) is None:
        del sys.modules["paramiko"]


def allow_ssh() -> None:
    """Undo the paramiko switch-off above, before importing Fabric or paramiko: invoke is
    imported (Fabric needs it), and when soakgate's own SSH imported paramiko without invoke
    (adapters.ssh.connection), paramiko's ssh_config ``Match exec`` gets it back, for Fabric.
    Safe beside that import in another thread (:data:`SSH_IMPORTS`)."""
    with SSH_IMPORTS:
        lift_paramiko_switch_off()
        import invoke

        config = sys.modules.get("paramiko.config")
        if config is not None and getattr(config, "invoke", True) is None:
            config.invoke = invoke  # type: ignore[attr-defined]
