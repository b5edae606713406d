"""A stage's hosts in its stack config (``soakgate:hosts``), and the Ansible inventory made
from them by ``soakgate inventory``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from soakgate.adapters.stage.stack_file import stack_config
from soakgate.core.hosts import Host, parse_hosts
from soakgate.core.inventory import StageHosts, render_inventory
from soakgate.core.validation import ConfigInvalid
from tests.unit.cli_run import run_soakgate

ROOT = Path(__file__).resolve().parents[2]


def test_hosts_are_local_or_ssh_urls() -> None:
    assert parse_hosts("p", "local") == ()
    assert parse_hosts("p", ["ssh://deploy@10.0.0.21", "ssh://deploy@docker-2.lan:2222"]) == (
        Host("deploy", "10.0.0.21"),
        Host("deploy", "docker-2.lan", 2222),
    )
    # as `pulumi config set soakgate:hosts "a, b"` stores it
    assert [h.url for h in parse_hosts("p", "ssh://a@h1, ssh://a@[fe80::1]:2200")] == [
        "ssh://a@h1",
        "ssh://a@[fe80::1]:2200",
    ]
    assert Host("deploy", "h", 2222).name == "h_2222" and Host("deploy", "h").name == "h"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ssh://deploy:hunter2@h", "p[0]: a password in an ssh:// URL is refused"),
        ("ssh://deploy:hunter2@h/x", "p[0]: a password in an ssh:// URL is refused"),
        ("ssh://h", "p[0]: expected ssh://USER@HOST[:PORT], got 'ssh://h'"),
        ("http://a@h", "p[0]: expected ssh://USER@HOST[:PORT]"),
        ("ssh://a@h/path", "p[0]: expected ssh://USER@HOST[:PORT]"),
        ("ssh://Root@h", "p[0]: expected a user name before @"),
        ("ssh://a@-h", "p[0]: expected a host name or address in 'ssh://a@-h', got '-h'"),
        ("ssh://a@[::zz]", "p[0]: [::zz] is not an IPv6 address"),
        ("ssh://a@h:0", "p[0]: expected a port 1-65535 in 'ssh://a@h:0', got '0'"),
        ("ssh://a@h:x", "p[0]: expected a port 1-65535"),
        (["ssh://a@h", "ssh://b@h:22"], "p: ssh://b@h is named twice"),
        (["local", "ssh://a@h"], "p: local is a stage's only host"),
        ([], "p: expected local or at least one ssh://USER@HOST"),
        (" , ", "p: expected local or at least one ssh://USER@HOST"),
        ([3], "p[0]: expected ssh://USER@HOST, got 3"),
        (22, "p: expected local or a list of ssh://USER@HOST, got 22"),
        ([f"ssh://a@h{i}" for i in range(65)], "p: expected at most 64 hosts, got 65"),
    ],
)
def test_bad_hosts_are_refused_naming_the_problem(value: object, message: str) -> None:
    with pytest.raises(ConfigInvalid) as refused:
        parse_hosts("p", value)
    assert str(refused.value).startswith(message)
    assert "hunter2" not in str(refused.value)


def test_the_inventory_has_a_group_per_stage_with_what_the_playbooks_read() -> None:
    hosts = parse_hosts("p", ["ssh://deploy@10.0.0.21", "ssh://ops@10.0.0.22:2222"])
    document = render_inventory(
        [StageHosts("production", 18082, hosts), StageHosts("dev", 18080)], namespace="t1"
    )
    groups = document["all"]["children"]
    assert groups["production"]["hosts"] == {
        "10.0.0.21": {
            "ansible_host": "10.0.0.21",
            "ansible_port": 22,
            "ansible_user": "deploy",
            "deploy_user": "deploy",
            "stage_state_dir": "~deploy/.soakgate/t1",
        },
        "10.0.0.22_2222": {
            "ansible_host": "10.0.0.22",
            "ansible_port": 2222,
            "ansible_user": "ops",
            "deploy_user": "ops",
            "stage_state_dir": "~ops/.soakgate/t1",
        },
    }
    assert groups["production"]["vars"] == {
        "stage": "production",
        "port": 18082,
        "namespace": "t1",
        "state_dir": "/srv/soakgate/.soakgate",
    }
    assert groups["dev"]["hosts"] == {"localhost": {"ansible_connection": "local"}}
    assert document["all"]["vars"]["ansible_python_interpreter"] == "/usr/bin/python3"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from soakgate.cli.project import current_project

    for name in ("soakgate.toml", "Pulumi.yaml", "pyproject.toml"):
        shutil.copy2(ROOT / name, tmp_path / name)
    (tmp_path / "Pulumi.production.yaml").write_text(
        "config:\n  soakgate:stage: production\n  soakgate:hosts:\n"
        "    - ssh://deploy@10.0.0.21\n    - ssh://deploy@10.0.0.22:2222\n"
    )
    (tmp_path / "Pulumi.staging.yaml").write_text("config:\n  soakgate:port: 18091\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SOAKGATE_HOME", raising=False)
    current_project.cache_clear()
    yield tmp_path
    current_project.cache_clear()


def test_soakgate_inventory_prints_the_stack_configs_hosts(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stack_config(project, "production")["hosts"] == (
        Host("deploy", "10.0.0.21"),
        Host("deploy", "10.0.0.22", 2222),
    )
    code, out, err = run_soakgate(capsys, "inventory")
    assert code == 0, err
    assert out.startswith("# made by soakgate inventory")
    groups = yaml.safe_load(out)["all"]["children"]
    assert list(groups) == ["dev", "staging", "production"]
    assert list(groups["production"]["hosts"]) == ["10.0.0.21", "10.0.0.22_2222"]
    assert groups["staging"]["vars"]["port"] == 18091  # the stack's own port
    assert groups["dev"]["hosts"] == {"localhost": {"ansible_connection": "local"}}
    code, out, _ = run_soakgate(capsys, "inventory", "production", "--state-dir", "/srv/x")
    assert code == 0 and list(yaml.safe_load(out)["all"]["children"]) == ["production"]
    assert yaml.safe_load(out)["all"]["children"]["production"]["vars"]["state_dir"] == "/srv/x"


@pytest.mark.parametrize(
    ("argv", "stack", "message"),
    [
        (("inventory", "qa"), None, "error: unknown stage 'qa'"),
        (("inventory", "--state-dir", "srv"), None, "error: --state-dir 'srv': expected an abs"),
        (
            ("inventory",),
            "config:\n  soakgate:hosts: ssh://deploy:pw@h\n",
            "error: Pulumi.production.yaml soakgate:hosts[0]: a password in an ssh:// URL",
        ),
    ],
)
def test_bad_inventory_requests_exit_2_with_one_line(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
    stack: str | None,
    message: str,
) -> None:
    if stack is not None:
        (project / "Pulumi.production.yaml").write_text(stack)
    code, out, err = run_soakgate(capsys, *argv)
    assert code == 2 and out == ""
    assert err.splitlines()[0].startswith(message), err


def test_ansible_reads_the_inventory_as_made(
    project: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """ansible-inventory itself (no host is contacted) sees the groups, hosts and vars."""
    import json
    import subprocess
    import sys

    code, out, err = run_soakgate(capsys, "inventory")
    assert code == 0, err
    path = tmp_path / "inventory.yml"
    path.write_text(out)
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(path), "--list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ANSIBLE_LOCAL_TEMP": str(tmp_path)},
    )
    seen = json.loads(listed.stdout)
    assert seen["production"]["hosts"] == ["10.0.0.21", "10.0.0.22_2222"]
    assert seen["_meta"]["hostvars"]["10.0.0.22_2222"]["ansible_port"] == 2222
    assert seen["_meta"]["hostvars"]["10.0.0.21"]["stage"] == "production"
    assert seen["_meta"]["hostvars"]["localhost"]["ansible_connection"] == "local"
