"""``Stage``: one stage on a Docker host — a network, a proxy published on loopback, and the
blue/green app slots behind it.

    127.0.0.1:<port> ──> proxy-<stage> (nginx) ──> app-<stage>-blue | app-<stage>-green

    Stage("staging", StageArgs(stage="staging", port=18081, release="sha256:…", ...))
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from pathlib import Path

import pulumi

from soakgate.adapters.atomic_file import write_atomic
from soakgate.adapters.docker.light import LightDocker
from soakgate.adapters.stage.engine import UPSTREAM_FILE, AppSpec
from soakgate.core.names import LABEL_STAGE, StageNames
from soakgate.core.proxy_conf import (
    CONF_DIR,
    NO_UPSTREAM,
    PROXY_PORT,
    UpstreamTarget,
    parse_upstream,
    render_nginx_conf,
    render_upstream,
)
from soakgate.core.slots import SLOTS
from soakgate.errors import SoakgateError
from soakgate.pulumi.blue_green import BlueGreen, BlueGreenArgs
from soakgate.pulumi.container import Container, ContainerArgs
from soakgate.pulumi.network import Network, NetworkArgs

PROXY_UID = "33:33"  # www-data in Debian


@dataclass
class StageArgs:
    stage: str
    port: int
    release: str | pulumi.Output[str]  # a digest, or the image this update builds
    spec: AppSpec
    conf_dir: Path
    proxy_image: str
    namespace: str = ""
    bind_address: str = "127.0.0.1"
    secret_env: pulumi.Output[dict[str, str]] | None = None  # files at /run/secrets


def write_proxy_conf(conf_dir: Path, names: StageNames | None = None) -> None:
    """nginx.conf (always the same), and a first upstream file when there is none yet. An
    upstream file of the old format (slots by address) is rewritten by name, and a running
    proxy reloads the changed configuration."""
    conf_dir.mkdir(parents=True, exist_ok=True)
    nginx_conf = conf_dir / "nginx.conf"
    text = render_nginx_conf()
    changed = not nginx_conf.is_file() or nginx_conf.read_text() != text
    upstream = conf_dir / UPSTREAM_FILE
    if not upstream.is_file():
        write_atomic(upstream, render_upstream(NO_UPSTREAM), mode=0o644)
    elif changed and names is not None:
        old = parse_upstream(upstream.read_text(errors="replace"))
        if old is not None and old.slot in SLOTS:
            renamed = UpstreamTarget(old.slot, names.app(old.slot), old.port, old.digest)
            write_atomic(upstream, render_upstream(renamed), mode=0o644)
    if changed:
        write_atomic(nginx_conf, text, mode=0o644)
        if names is not None:
            with contextlib.suppress(SoakgateError, OSError):
                LightDocker().reload(names.proxy)  # fails when there is no proxy yet


class Stage(pulumi.ComponentResource):
    """A stage's network, proxy and blue/green slots; exports its URL and slot table."""

    def __init__(
        self, name: str, args: StageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("soakgate:index:Stage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {LABEL_STAGE: args.stage}
        names = StageNames(args.stage, args.namespace)
        if not pulumi.runtime.is_dry_run():  # a preview changes nothing on the host
            write_proxy_conf(args.conf_dir, names)
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
                # "always", and switches signal nginx's process, never through the engine's
                # kill API: the engine (20.10) counts such a signal as a manual stop, and then
                # brings the proxy back neither after a crash nor after it restarts.
                restart="always",
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
                secret_env=args.secret_env,
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[self.proxy]),
        )
        self.url = f"http://{args.bind_address}:{args.port}"
        self.register_outputs({"url": self.url, "active": self.slots.active})
