"""An Ansible inventory made from the stages' stack config, never kept by hand.

    render_inventory([StageHosts("production", 18082, hosts)], namespace="", state_dir=...)

One group per stage, named after it, holding its hosts (``ansible_host``, ``ansible_port``,
``ansible_user`` and ``deploy_user`` from each ``ssh://USER@HOST[:PORT]``), or ``localhost``
with a local connection for a stage on this machine's engine. The group's variables are what
the playbooks ask for: ``stage``, ``port`` (the proxy's loopback port), ``namespace`` and
``state_dir`` (soakgate's state directory on the hosts); ``-e`` on the command line still wins.
An SSH host also gets ``stage_state_dir``: the directory under its deploy user's login
directory where soakgate keeps the stage's proxy files there (``~USER/.soakgate/NAMESPACE``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from soakgate.core.hosts import Host, host_state_dir

HOST_PYTHON = "/usr/bin/python3"  # Debian's, which the host playbook installs
DEFAULT_STATE_DIR = "/srv/soakgate/.soakgate"


@dataclass(frozen=True)
class StageHosts:
    """A stage, its proxy's port and its hosts (``()``: this machine's engine)."""

    stage: str
    port: int
    hosts: tuple[Host, ...] = ()


def render_inventory(
    stages: Sequence[StageHosts], *, namespace: str = "", state_dir: str = DEFAULT_STATE_DIR
) -> dict[str, Any]:
    """The inventory as Ansible's YAML format has it (``all: children: <stage>: …``)."""
    groups: dict[str, Any] = {}
    for entry in stages:
        if entry.hosts:
            hosts: dict[str, Any] = {
                host.name: {
                    "ansible_host": host.address,
                    "ansible_port": host.port,
                    "ansible_user": host.user,
                    # the account soakgate's sessions use, kept when the host playbook
                    # logs in as another (-u root): docker-host.yml prepares it
                    "deploy_user": host.user,
                    # where soakgate keeps this stage's proxy files on the host (under the
                    # deploy user's login directory): what rollback.yml flips
                    "stage_state_dir": f"~{host.user}/{host_state_dir(namespace)}",
                }
                for host in entry.hosts
            }
        else:
            hosts = {"localhost": {"ansible_connection": "local"}}
        groups[entry.stage] = {
            "hosts": hosts,
            "vars": {
                "stage": entry.stage,
                "port": entry.port,
                "namespace": namespace,
                "state_dir": state_dir,
            },
        }
    return {"all": {"vars": {"ansible_python_interpreter": HOST_PYTHON}, "children": groups}}
