"""``Container``: a Docker container as a Pulumi dynamic resource over the Docker SDK.

Property names follow ``pulumi_docker.Container`` where they overlap (``image``, ``name``,
``envs``, ``command``, ``labels``, ``restart``, ``memory`` in MB, ``read_only``, ``user``,
``security_opts``, ``capabilities.drops``, ``tmpfs``, ``log_opts``), so a Pulumi user feels at
home. A container is immutable: any change of its spec replaces it. ``read`` reports what the
engine really runs, so ``pulumi refresh`` sees a container removed or stopped behind its back.

    Container("web", ContainerArgs(image="busybox:latest", name="web",
                                   command=["sleep", "3600"]))
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import (
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from soakgate.core.names import LABEL_MANAGED
from soakgate.pulumi.host_client import engine_for, host_io, on_its_host

# Inputs whose change means a new container. Everything a container is made from.
SPEC_KEYS = (
    "image",
    "name",
    "envs",
    "command",
    "labels",
    "restart",
    "memory",
    "read_only",
    "user",
    "security_opts",
    "capabilities",
    "tmpfs",
    "log_opts",
    "network",
    "ports",
    "volumes",
    "cpus",
)
IN_PLACE_KEYS = ("restart",)  # changed on the live container (docker update)


@dataclass
class ContainerArgs:
    """What a container is made from. ``memory`` is in MB, as in pulumi_docker."""

    image: str
    name: str
    command: list[str] = field(default_factory=list)
    envs: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    restart: str = "unless-stopped"
    memory: int = 0
    read_only: bool = False
    user: str = ""
    security_opts: list[str] = field(default_factory=list)
    capabilities: dict[str, list[str]] = field(default_factory=dict)
    tmpfs: dict[str, str] = field(default_factory=dict)
    log_opts: dict[str, str] = field(default_factory=dict)
    network: str = ""
    # [{"internal": 8080, "external": 18080, "ip": "127.0.0.1"}], as pulumi_docker's ``ports``
    ports: list[dict[str, Any]] = field(default_factory=list)
    # [{"host_path": "/x", "container_path": "/y", "read_only": True}], as pulumi_docker's
    volumes: list[dict[str, Any]] = field(default_factory=list)
    cpus: float = 0.0
    # "" this machine's engine, else ssh://USER@HOST[:PORT]; a relative volume host_path is
    # then under that host's user's login directory
    host: str = ""


def _run_kwargs(props: dict[str, Any]) -> dict[str, Any]:
    """Translate resource inputs into Docker SDK ``containers.run`` keyword arguments."""
    kwargs: dict[str, Any] = {
        "image": props["image"],
        "name": props["name"],
        "detach": True,
        "labels": {**props.get("labels", {}), LABEL_MANAGED: "true"},
        "restart_policy": {"Name": props.get("restart") or "no"},
        "read_only": bool(props.get("read_only")),
    }
    if props.get("command"):
        kwargs["command"] = list(props["command"])
    if props.get("envs"):
        kwargs["environment"] = list(props["envs"])
    if props.get("memory"):
        kwargs["mem_limit"] = f"{int(props['memory'])}m"
    if props.get("user"):
        kwargs["user"] = props["user"]
    if props.get("security_opts"):
        kwargs["security_opt"] = list(props["security_opts"])
    drops = (props.get("capabilities") or {}).get("drops")
    if drops:
        kwargs["cap_drop"] = list(drops)
    if props.get("tmpfs"):
        kwargs["tmpfs"] = dict(props["tmpfs"])
    if props.get("log_opts"):
        kwargs["log_config"] = {"Type": "json-file", "Config": dict(props["log_opts"])}
    if props.get("network"):
        kwargs["network"] = props["network"]
    if props.get("ports"):
        kwargs["ports"] = {
            f"{int(p['internal'])}/tcp": (p.get("ip", "127.0.0.1"), int(p["external"]))
            for p in props["ports"]
        }
    if props.get("volumes"):
        io = host_io(props.get("host") or "")
        kwargs["volumes"] = {
            str(io.absolute(Path(v["host_path"]))): {
                "bind": v["container_path"],
                "mode": "ro" if v.get("read_only") else "rw",
            }
            for v in props["volumes"]
        }
    if props.get("cpus"):
        kwargs["nano_cpus"] = int(float(props["cpus"]) * 1e9)
    return kwargs


def _outputs(props: dict[str, Any], container: Any) -> dict[str, Any]:
    attrs = container.attrs
    return {
        **{key: props.get(key) for key in SPEC_KEYS},
        "host": props.get("host") or "",
        "container_id": container.id,
        "image_id": attrs.get("Image", ""),
        "state": attrs.get("State", {}).get("Status", "unknown"),
    }


class ContainerProvider(ResourceProvider):
    """Creates, diffs, reads and deletes one container through the Docker API."""

    @on_its_host
    def create(self, props: dict[str, Any]) -> CreateResult:
        import docker.errors  # on first use: see soakgate.adapters.docker.engine

        engine = engine_for(props.get("host") or "")
        try:
            container = engine.containers.run(**_run_kwargs(props))
        except docker.errors.APIError as exc:
            _remove(engine, props["name"])
            raise Exception(f"cannot start container {props['name']}: {exc.explanation}") from exc
        container.reload()
        return CreateResult(id_=container.id, outs=_outputs(props, container))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [key for key in SPEC_KEYS if olds.get(key) != news.get(key)]
        if (olds.get("host") or "") != (news.get("host") or ""):
            changed.append("host")
        if olds.get("state") not in (None, "running") and news.get("restart") != "no":
            changed.append("state")
        return DiffResult(
            changes=bool(changed),
            # a new restart policy is set on the running container: no replacement, no gap
            replaces=[key for key in changed if key not in IN_PLACE_KEYS],
            delete_before_replace=True,  # the name is fixed, so the old one must go first
        )

    @on_its_host
    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        container = engine_for(news.get("host") or "").containers.get(id_)
        container.update(restart_policy={"Name": news.get("restart") or "no"})
        container.reload()
        return UpdateResult(outs=_outputs(news, container))

    @on_its_host
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        import docker.errors

        try:
            container = engine_for(props.get("host") or "").containers.get(id_)
        except docker.errors.NotFound:
            return ReadResult(id_="", outs={})
        return ReadResult(id_=container.id, outs=_outputs(props, container))

    @on_its_host
    def delete(self, id_: str, props: dict[str, Any]) -> None:
        _remove(engine_for(props.get("host") or ""), id_)


def _remove(engine: Any, name_or_id: str) -> None:
    import docker.errors

    with contextlib.suppress(docker.errors.NotFound):
        engine.containers.get(name_or_id).remove(force=True)


class Container(Resource):
    """A Docker container managed by :class:`ContainerProvider`."""

    container_id: pulumi.Output[str]
    image_id: pulumi.Output[str]
    state: pulumi.Output[str]

    def __init__(
        self, name: str, args: ContainerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props = {**asdict(args), "container_id": None, "image_id": None, "state": None}
        super().__init__(ContainerProvider(), name, props, opts)
