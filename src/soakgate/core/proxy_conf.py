"""The proxy's configuration: a fixed nginx.conf and the one-upstream file a switch rewrites.

The upstream file starts with a comment line saying which slot and release it points at, so
the proxy's real state can be read back (``parse_upstream``) by refresh, status and verify.
A slot is addressed by its container *name*, which nginx resolves through the engine's DNS at
request time (cached one second): after an engine restart or a re-created container the name
still leads to that slot, whatever address the engine gave it. Every answer carries the slot
it came from (``X-Soakgate-Slot``) and the address that answered (``X-Soakgate-Upstream``),
so a check can match it against the container the engine says holds the slot.

    text = render_upstream(UpstreamTarget("green", "app-staging-green", 8000, "sha256:…"))
    parse_upstream(text).slot    # "green"
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PROXY_PORT = 8080  # inside the proxy container
CONF_DIR = "/etc/soakgate/proxy"
ENGINE_DNS = "127.0.0.11"  # the engine's embedded DNS inside every user-defined network
SLOT_HEADER = "x-soakgate-slot"
UPSTREAM_HEADER = "x-soakgate-upstream"
_MARKER = re.compile(r"^# soakgate upstream: slot=(\w+) release=(\S+) address=(\S+):(\d+)$", re.M)


@dataclass(frozen=True)
class UpstreamTarget:
    slot: str
    address: str
    port: int
    digest: str


@dataclass(frozen=True)
class Switch:
    """A proxy switch asked for: to ``slot`` (running ``digest``, serving on ``port``), checked
    on ``health_path``. With ``expect``, a compare-and-swap from that upstream; ``timeout`` for
    the first answer through the proxy, ``probe_timeout`` for the slot's own probe first."""

    slot: str
    digest: str
    port: int
    health_path: str
    expect: UpstreamTarget | None = None
    timeout: float = 10.0
    probe_timeout: float = 1.0


def answered_address(upstream: str) -> str:
    """The address in an ``X-Soakgate-Upstream`` header that answered: the last one nginx
    tried, without its port (``"172.18.0.3"`` of ``"172.18.0.2:8000, 172.18.0.3:8000"``)."""
    last = upstream.replace(",", " ").split()[-1] if upstream.strip() else ""
    return last.rsplit(":", 1)[0] if ":" in last else last


def render_upstream(target: UpstreamTarget) -> str:
    """The upstream file routing all traffic to ``target``."""
    return (
        f"# soakgate upstream: slot={target.slot} release={target.digest}"
        f" address={target.address}:{target.port}\n"
        f'map $host $soakgate_slot {{ default "{target.slot}"; }}\n'
        f'map $host $soakgate_upstream {{ default "{target.address}:{target.port}"; }}\n'
    )


NO_UPSTREAM = UpstreamTarget("none", "127.0.0.1", 9, "none")


def parse_upstream(text: str) -> UpstreamTarget | None:
    """Read back what an upstream file routes to; None when it is not one of ours."""
    match = _MARKER.search(text)
    if not match:
        return None
    slot, digest, address, port = match.groups()
    return UpstreamTarget(slot, address, int(port), digest)


def render_nginx_conf() -> str:
    """nginx.conf for an unprivileged, read-only proxy container; reloads on SIGHUP."""
    return f"""\
worker_processes 1;
pid /tmp/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    # One request per client connection: a graceful reload closes idle keep-alive
    # connections, and a client that reuses one at that instant sees a reset (seen here:
    # 1 in ~550 requests). Without keep-alive no request is ever sent into a closing socket.
    keepalive_timeout 0;
    client_body_temp_path /tmp/client_body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;
    # Slots are container names, resolved at request time: never a stale address.
    resolver {ENGINE_DNS} valid=1s ipv6=off;
    resolver_timeout 2s;
    include {CONF_DIR}/upstream.conf;
    server {{
        listen {PROXY_PORT};
        location = /__soakgate/proxy {{
            default_type text/plain;
            return 200 "soakgate proxy\\n";
        }}
        add_header X-Soakgate-Slot $soakgate_slot always;
        add_header X-Soakgate-Upstream $upstream_addr always;
        location / {{
            proxy_pass http://$soakgate_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_connect_timeout 2s;
            proxy_read_timeout 60s;
        }}
    }}
}}
"""
