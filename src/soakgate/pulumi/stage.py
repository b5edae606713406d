"""``Stage``: one stage on a Docker host — a network, a proxy published on loopback, and the
blue/green app slots behind it — or on several SSH hosts: a network and a proxy on each (the
proxy on every address of the host), the releases sent where missing, and one BlueGreen that
switches every host only once the new release is healthy on all of them.

    127.0.0.1:<port> ──> proxy-<stage> (nginx) ──> app-<stage>-blue | app-<stage>-green

    Stage("staging", StageArgs(stage="staging", port=18081, release="sha256:…", ...))
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from soakgate.adapters.parallel import each
from soakgate.adapters.stage.engine import UPSTREAM_FILE, AppSpec
from soakgate.adapters.stage.host_io import HostIO, LocalHost, SshHost
from soakgate.adapters.stage.hosts_engine import host_conf_dir
from soakgate.core.hosts import Host
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
from soakgate.core.rollout import Rollout
from soakgate.core.slots import SLOTS
from soakgate.errors import DeployFailed, SoakgateError
from soakgate.pulumi.blue_green import BlueGreen, BlueGreenArgs
from soakgate.pulumi.container import Container, ContainerArgs
from soakgate.pulumi.host_client import host_io
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
    hosts: tuple[Host, ...] = ()  # SSH hosts; () : this machine's engine
    rollout: Rollout = field(default_factory=Rollout)  # on SSH hosts: all at once, or in groups


def write_proxy_conf(
    conf_dir: Path, names: StageNames | None = None, io: HostIO | None = None
) -> None:
    """nginx.conf (always the same), and a first upstream file when there is none yet, on
    ``io``'s host (default: this machine). An upstream file of the old format (slots by
    address) is rewritten by name, and a running proxy reloads the changed configuration."""
    io = io or LocalHost()
    nginx_conf = conf_dir / "nginx.conf"
    text = render_nginx_conf()
    changed = io.read_text(nginx_conf) != text
    upstream = conf_dir / UPSTREAM_FILE
    current = io.read_text(upstream)
    if current is None and not io.exists(upstream):  # never over a file it cannot read
        io.write_text(upstream, render_upstream(NO_UPSTREAM))
    elif current is not None and changed and names is not None:
        old = parse_upstream(current)
        if old is not None and old.slot in SLOTS:
            renamed = UpstreamTarget(old.slot, names.app(old.slot), old.port, old.digest)
            io.write_text(upstream, render_upstream(renamed))
    if changed:
        io.write_text(nginx_conf, text)
        if names is not None:
            with contextlib.suppress(SoakgateError, OSError):
                io.reload(names.proxy)  # fails when there is no proxy yet


def send_images(hosts: Sequence[Host], images: Sequence[str]) -> None:
    """Every image (a digest, or a local reference such as the proxy's) present on every
    host: streamed from this machine's engine where missing, checked by its ID."""
    from soakgate.adapters.docker import engine as docker_engine
    from soakgate.adapters.docker.image_transfer import send_image
    from soakgate.adapters.ssh.connection import connections

    local = docker_engine.client()
    wanted = [local_reference(local, image) for image in images]

    def deliver(host: Host) -> None:
        connection = connections().get(host)
        for reference, digest in wanted:
            with SshHost(connection).guarded():
                sent = send_image(local, connection.docker, reference, digest)
            if sent.bytes:
                pulumi.log.info(
                    f"{reference} sent to {host.name}: {sent.bytes / 1e6:.0f} MB"
                    f" in {sent.seconds:.1f} s"
                )

    each(deliver, list(hosts))


def local_reference(client: Any, image: str) -> tuple[str, str]:
    """(a name of ``image`` on this machine's engine, its ID)."""
    import docker.errors

    try:
        found = client.images.get(image)
    except docker.errors.ImageNotFound:
        raise DeployFailed(
            f"{image} is not on this machine's engine: there is nothing to send the hosts",
            hint="build it first (soakgate build, or ./bootstrap for the proxy image)",
        ) from None
    if image in found.tags:  # a name: sent under that very name (the proxy's is run by it)
        return image, str(found.id)
    tags = sorted(found.tags)
    if not tags:
        raise DeployFailed(
            f"{image} has no name on this machine's engine to send it under",
            hint=f"tag it: docker tag {image} NAME:TAG",
        )
    return tags[0], str(found.id)


def proxy_args(
    args: StageArgs, names: StageNames, labels: dict[str, str], host: str, conf_dir: Path
) -> ContainerArgs:
    """The stage's proxy container on ``host`` ("" : this machine)."""
    return ContainerArgs(
        image=args.proxy_image,
        name=names.proxy,
        command=["nginx", "-c", f"{CONF_DIR}/nginx.conf", "-g", "daemon off;"],
        labels=labels,
        # "always", and switches signal nginx's process, never through the engine's kill
        # API: the engine (20.10) counts such a signal as a manual stop, and then brings the
        # proxy back neither after a crash nor after it restarts.
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
        volumes=[{"host_path": str(conf_dir), "container_path": CONF_DIR, "read_only": True}],
        host=host,
    )


class Stage(pulumi.ComponentResource):
    """A stage's network, proxy and blue/green slots; exports its URL and slot table."""

    def __init__(
        self, name: str, args: StageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("soakgate:index:Stage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {LABEL_STAGE: args.stage}
        names = StageNames(args.stage, args.namespace)
        places: list[tuple[str, str, Path]] = [("", "", args.conf_dir)]  # (suffix, host, conf)
        if args.hosts:
            places = [(f"-{host.name}", host.url, host_conf_dir(names)) for host in args.hosts]
        if not pulumi.runtime.is_dry_run():  # a preview changes nothing on the hosts
            if args.hosts:
                send_images(args.hosts, [str(args.release), args.proxy_image])
            for _, url, conf_dir in places:
                write_proxy_conf(conf_dir, names, host_io(url))
        proxies = []
        for suffix, url, conf_dir in places:
            network = Network(
                f"{name}{suffix}-network",
                NetworkArgs(name=names.network, labels=labels, host=url),
                child,
            )
            proxies.append(
                Container(
                    f"{name}{suffix}-proxy",
                    proxy_args(args, names, labels, url, conf_dir),
                    pulumi.ResourceOptions(parent=self, depends_on=[network]),
                )
            )
        self.proxy = proxies[0]
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
                hosts=[host.url for host in args.hosts],
                rollout=asdict(args.rollout) if args.rollout.limit else None,
            ),
            pulumi.ResourceOptions(parent=self, depends_on=proxies),
        )
        self.url = (
            ", ".join(f"http://{host.address}:{args.port}" for host in args.hosts)
            if args.hosts
            else f"http://{args.bind_address}:{args.port}"
        )
        self.register_outputs({"url": self.url, "active": self.slots.active})
