"""The proxy's upstream file says where traffic goes, and can be read back."""

from __future__ import annotations

from soakgate.core.proxy_conf import (
    NO_UPSTREAM,
    UpstreamTarget,
    parse_upstream,
    render_nginx_conf,
    render_upstream,
)


def test_upstream_round_trip() -> None:
    target = UpstreamTarget("green", "app-staging-green", 8000, "sha256:" + "f" * 64)
    text = render_upstream(target)
    assert '$soakgate_upstream { default "app-staging-green:8000"; }' in text
    assert 'default "green"' in text
    assert parse_upstream(text) == target


def test_slots_are_names_resolved_at_request_time() -> None:
    """An engine restart gives containers other addresses: the proxy must never hold one."""
    conf = render_nginx_conf()
    assert "resolver 127.0.0.11 valid=1s" in conf
    assert "proxy_pass http://$soakgate_upstream;" in conf
    assert "upstream app" not in conf and "upstream app" not in render_upstream(
        UpstreamTarget("blue", "app-dev-blue", 8000, "sha256:" + "a" * 64)
    )
    assert "add_header X-Soakgate-Upstream $upstream_addr always;" in conf


def test_foreign_file_is_not_ours() -> None:
    assert parse_upstream("upstream app { server 10.0.0.1:80; }") is None


def test_placeholder_routes_nowhere_real() -> None:
    parsed = parse_upstream(render_upstream(NO_UPSTREAM))
    assert parsed is not None and parsed.slot == "none"


def test_nginx_conf_is_unprivileged_and_tags_the_slot() -> None:
    conf = render_nginx_conf()
    assert "pid /tmp/nginx.pid;" in conf
    assert "listen 8080;" in conf
    assert "add_header X-Soakgate-Slot $soakgate_slot always;" in conf
    assert "user " not in conf
