"""``Network``: a Docker bridge network as a dynamic resource (``pulumi_docker.Network`` names).

Network("net", NetworkArgs(name="soakgate-staging"))
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider

from soakgate.core.names import LABEL_MANAGED
from soakgate.pulumi.host_client import engine_for, on_its_host


@dataclass
class NetworkArgs:
    name: str
    driver: str = "bridge"
    labels: dict[str, str] = field(default_factory=dict)
    host: str = ""  # "" this machine's engine, else ssh://USER@HOST[:PORT]


class NetworkProvider(ResourceProvider):
    """Creates (or adopts an existing one of the same name), reads and deletes a network."""

    @on_its_host
    def create(self, props: dict[str, Any]) -> CreateResult:
        import docker.errors  # on first use: see soakgate.adapters.docker.engine

        engine = engine_for(props.get("host") or "")
        try:
            network = engine.networks.get(props["name"])
        except docker.errors.NotFound:
            network = engine.networks.create(
                props["name"],
                driver=props["driver"],
                labels={**props["labels"], LABEL_MANAGED: "true"},
            )
        return CreateResult(id_=network.id, outs={**props, "network_id": network.id})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [key for key in ("name", "driver", "labels") if olds.get(key) != news.get(key)]
        if (olds.get("host") or "") != (news.get("host") or ""):
            changed.append("host")
        if not olds.get("network_id"):
            changed.append("network_id")
        return DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=True)

    @on_its_host
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        import docker.errors

        try:
            network = engine_for(props.get("host") or "").networks.get(id_)
        except docker.errors.NotFound:
            return ReadResult(id_="", outs={})
        return ReadResult(id_=network.id, outs={**props, "network_id": network.id})

    @on_its_host
    def delete(self, id_: str, props: dict[str, Any]) -> None:
        import docker.errors

        with contextlib.suppress(docker.errors.NotFound):
            engine_for(props.get("host") or "").networks.get(id_).remove()


class Network(Resource):
    network_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(NetworkProvider(), name, {**asdict(args), "network_id": None}, opts)
