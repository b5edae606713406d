"""The proxy's configuration: a fixed nginx.conf and the one-upstream file a switch rewrites.

The upstream file starts with a comment line saying which slot and release it points at, so
the proxy's real state can be read back (``parse_upstream``) by refresh, status and verify.

    text = render_upstream(UpstreamTarget("green", "172.18.0.4", 8000, "sha256:…"))
    parse_upstream(text).slot    # "green"
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PROXY_PORT = 8080  # inside the proxy container
CONF_DIR = "/etc/soakgate/proxy"
_MARKER = re.compile(r"^# soakgate upstream: slot=(\w+) release=(\S+) address=(\S+):(\d+)$", re.M)


@dataclass(frozen=True)
class UpstreamTarget:
    slot: str
    address: str
    port: int
    digest: str


def render_upstream(target: UpstreamTarget) -> str:
    """The upstream file routing all traffic to ``target``."""
    return (
        f"# soakgate upstream: slot={target.slot} release={target.digest}"
        f" address={target.address}:{target.port}\n"
        "upstream app {\n"
        f"    server {target.address}:{target.port} max_fails=0;\n"
        "    keepalive 32;\n"
        "}\n"
        f'map $host $soakgate_slot {{ default "{target.slot}"; }}\n'
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
    include {CONF_DIR}/upstream.conf;
    server {{
        listen {PROXY_PORT};
        location = /__soakgate/proxy {{
            default_type text/plain;
            return 200 "soakgate proxy\\n";
        }}
        add_header X-Soakgate-Slot $soakgate_slot always;
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_connect_timeout 2s;
            proxy_read_timeout 60s;
        }}
    }}
}}
"""
