"""``soakgate inventory``: the Ansible inventory of the stages, made from their stack config.

soakgate inventory > playbooks/inventory.yml
soakgate inventory production --state-dir /srv/soakgate/.soakgate
ansible-playbook -i playbooks/inventory.yml playbooks/rollback.yml --limit production
"""

from __future__ import annotations

from typing import Annotated

import typer
import yaml

from soakgate.errors import ConfigError


def inventory(
    stages: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[STAGE]...", help="Stages to include (default: all).", show_default=False
        ),
    ] = None,
    state_dir: Annotated[
        str,
        typer.Option(metavar="DIR", help="soakgate's state directory on the hosts."),
    ] = "/srv/soakgate/.soakgate",
) -> None:
    """Print the Ansible inventory (YAML) of the stages: a group per stage with its hosts
    (soakgate:hosts in Pulumi.<stage>.yaml: local, or ssh://USER@HOST[:PORT] ...) and the
    variables the playbooks read (stage, port, namespace, state_dir)."""
    from soakgate.adapters.stage.stack_file import stack_config
    from soakgate.cli.project import current_project
    from soakgate.core.inventory import StageHosts, render_inventory

    project = current_project()
    known = list(project.config.stages)
    wanted = list(stages or known)
    unknown = [stage for stage in wanted if stage not in known]
    if unknown:
        raise ConfigError(f"unknown stage {unknown[0]!r}", hint=f"known stages: {', '.join(known)}")
    if not state_dir.startswith("/"):
        raise ConfigError(
            f"--state-dir {state_dir!r}: expected an absolute path on the hosts",
            hint="e.g. --state-dir /srv/soakgate/.soakgate",
        )
    entries = []
    for stage in wanted:
        config = stack_config(project.root, stage)
        port = int(config.get("port", project.config.stages[stage].port))
        entries.append(StageHosts(stage, port, tuple(config.get("hosts", ()))))
    document = render_inventory(entries, namespace=project.config.namespace, state_dir=state_dir)
    print("# made by soakgate inventory from Pulumi.<stage>.yaml; do not edit\n", end="")
    print(yaml.safe_dump(document, sort_keys=False), end="")
