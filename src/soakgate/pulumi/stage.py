"""``Stage``: one stage on a Docker host — a network, a proxy published on loopback, and the
blue/green app slots behind it.

    127.0.0.1:<port> ──> proxy-<stage> (nginx) ──> app-<stage>-blue | app-<stage>-green

    Stage("staging", StageArgs(stage="staging", port=18081, release="sha256:…", ...))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pulumi

from soakgate.adapters.stage_engine import UPSTREAM_FILE, AppSpec
from soakgate.core.names import StageNames
from soakgate.core.proxy_conf import (
    CONF_DIR,
    NO_UPSTREAM,
    PROXY_PORT,
    render_nginx_conf,
    render_upstream,
)
from soakgate.pulumi.blue_green import BlueGreen, BlueGreenArgs
from soakgate.pulumi.container import Container, ContainerArgs
from soakgate.pulumi.network import Network, NetworkArgs

PROXY_UID = "33:33"  # www-data in Debian


@dataclass
class StageArgs:
    stage: str
    port: int
    release: str
    spec: AppSpec
    conf_dir: Path
    proxy_image: str
    namespace: str = ""
    bind_address: str = "127.0.0.1"


def write_proxy_conf(conf_dir: Path) -> None:
    """nginx.conf (always the same), and a first upstream file when there is none yet."""
    conf_dir.mkdir(parents=True, exist_ok=True)
    nginx_conf = conf_dir / "nginx.conf"
    text = render_nginx_conf()
    if not nginx_conf.is_file() or nginx_conf.read_text() != text:
        nginx_conf.write_text(text)
    upstream = conf_dir / UPSTREAM_FILE
    if not upstream.is_file():
        upstream.write_text(render_upstream(NO_UPSTREAM))


class Stage(pulumi.ComponentResource):
    """A stage's network, proxy and blue/green slots; exports its URL and slot table."""

    def __init__(
        self, name: str, args: StageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("soakgate:index:Stage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        write_proxy_conf(args.conf_dir)
        labels = {"soakgate.stage": args.stage}
        names = StageNames(args.stage, args.namespace)
        self.network = Network(
            f"{name}-network", NetworkArgs(name=names.network, labels=labels), child
        )
        self.proxy = Container(
            f"{name}-proxy",
            ContainerArgs(
                image=args.proxy_image,
                name=names.proxy,
                command=["nginx", "-c", f"{CONF_DIR}/nginx.conf", "-g", "daemon off;"],
                labels=labels,
                restart="unless-stopped",
                memory=64,
                read_only=True,
                user=PROXY_UID,
                security_opts=["no-new-privileges"],
                capabilities={"drops": ["ALL"]},
                tmpfs={"/tmp": "rw,nosuid,size=32m"},
                log_opts={"max-size": "10m", "max-file": "3"},
                network=names.network,
                ports=[{"internal": PROXY_PORT, "external": args.port, "ip": args.bind_address}],
                volumes=[
                    {"host_path": str(args.conf_dir), "container_path": CONF_DIR, "read_only": True}
                ],
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[self.network]),
        )
        self.slots = BlueGreen(
            f"{name}-slots",
            BlueGreenArgs(
                stage=args.stage,
                namespace=args.namespace,
                conf_dir=str(args.conf_dir),
                proxy_port=args.port,
                release=args.release,
                spec=asdict(args.spec),
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[self.proxy]),
        )
        self.url = f"http://{args.bind_address}:{args.port}"
        self.register_outputs({"url": self.url, "active": self.slots.active})
