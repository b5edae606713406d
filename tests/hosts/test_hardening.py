"""The Docker host runs each app container hardened, and publishes no app port."""

from __future__ import annotations

from typing import Any


def test_read_only_root_filesystem(inspect: dict[str, Any]) -> None:
    assert inspect["HostConfig"]["ReadonlyRootfs"] is True


def test_all_capabilities_dropped(inspect: dict[str, Any]) -> None:
    assert inspect["HostConfig"]["CapDrop"] == ["ALL"]


def test_no_new_privileges(inspect: dict[str, Any]) -> None:
    assert "no-new-privileges" in (inspect["HostConfig"]["SecurityOpt"] or [])


def test_memory_limit_and_restart_policy(inspect: dict[str, Any]) -> None:
    assert inspect["HostConfig"]["Memory"] > 0
    assert inspect["HostConfig"]["RestartPolicy"]["Name"] in ("unless-stopped", "always")


def test_log_rotation(inspect: dict[str, Any]) -> None:
    assert inspect["HostConfig"]["LogConfig"]["Config"].get("max-size")


def test_app_publishes_no_port(app: dict[str, Any], inspect: dict[str, Any]) -> None:
    if app.get("role") == "slot":
        assert not inspect["HostConfig"]["PortBindings"]
