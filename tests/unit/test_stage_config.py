"""The ``soakgate:*`` values of ``Pulumi.<stage>.yaml``: validated alike by the CLI's reader
(stack_file) and by the Pulumi program (stage_config), one line naming the file and the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime.sync_await import _sync_await

from soakgate.adapters.stage.stack_file import stack_config
from soakgate.errors import ConfigError
from soakgate.pulumi import stage_config
from soakgate.pulumi.stage_config import secret_env, stage_args

DIGEST = "sha256:" + "ab" * 32


def _stack(tmp_path: Path, text: str, stage: str = "staging") -> Path:
    (tmp_path / f"Pulumi.{stage}.yaml").write_text(text)
    return tmp_path


def test_values_come_back_typed(tmp_path: Path) -> None:
    text = (
        f"config:\n  soakgate:stage: staging\n  soakgate:release: {DIGEST}\n"
        '  soakgate:port: "18081"\n  soakgate:memoryMb: 512\n  soakgate:python: "3.14"\n'
        "  aws:region: elsewhere\n"
    )
    assert stack_config(_stack(tmp_path, text), "staging") == {
        "stage": "staging",
        "release": DIGEST,
        "port": 18081,
        "memoryMb": 512,
        "python": "3.14",
    }


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("soakgate:port: true", "Pulumi.staging.yaml soakgate:port: expected a port number 1024"),
        ("soakgate:port: 18081.5", "soakgate:port: expected a port number 1024-65535, got 18081.5"),
        ("soakgate:port: 80", "soakgate:port: expected a port number 1024-65535, got 80"),
        ("soakgate:port: .nan", "soakgate:port: expected a port number 1024-65535, got nan"),
        ("soakgate:release: latest", "soakgate:release: expected an image digest sha256:"),
        (f'soakgate:release: "{DIGEST}\\n"', "soakgate:release: expected an image digest"),
        ("soakgate:cpus: .inf", "soakgate:cpus: expected a number, got inf"),
        ("soakgate:memoryMb: lots", "soakgate:memoryMb: expected a number, got 'lots'"),
        ("soakgate:memoryMb: 256.5", "soakgate:memoryMb: expected a whole number, got 256.5"),
        ('soakgate:healthPath: "/health check"', "soakgate:healthPath: expected an absolute URL"),
        ('soakgate:healthPath: "/h\\r\\nX: y"', "soakgate:healthPath: expected an absolute URL"),
        ("soakgate:stage: qa", "soakgate:stage: unknown stage 'qa'"),
        ("soakgate:python: '2.7'", "soakgate:python: unsupported Python '2.7'"),
        ("soakgate:prot: 18081", "soakgate:prot: unknown key (known: buildImages"),
        ("soakgate:env: {'1X': a}", "soakgate:env: '1X' is not a variable name"),
        ("soakgate:env: [a, b]", "soakgate:env: expected a map of NAME: value"),
        ("soakgate:proxyImage: 'nginx; rm -rf /'", "soakgate:proxyImage: expected an image name"),
    ],
)
def test_a_bad_value_is_one_line_naming_file_and_key(
    tmp_path: Path, line: str, message: str
) -> None:
    _stack(tmp_path, f"config:\n  {line}\n")
    with pytest.raises(ConfigError) as raised:
        stack_config(tmp_path, "staging")
    assert message in raised.value.message
    assert raised.value.message.startswith("Pulumi.staging.yaml soakgate:")
    assert "\n" not in raised.value.message
    assert "pulumi config set" in raised.value.hint


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("config: [\n", "Pulumi.staging.yaml: not valid YAML (expected the node content"),
        (
            "config:\n  soakgate:port: 1\n  soakgate:port: 2\n",
            "Pulumi.staging.yaml: not valid YAML (key 'soakgate:port' given twice at line 3",
        ),
        ("- a\n- b\n", "Pulumi.staging.yaml: expected a map with a config: key"),
        ("config: 3\n", "Pulumi.staging.yaml: config: expected a map"),
        ("config: !!python/object:os.system {}\n", "Pulumi.staging.yaml: not valid YAML ("),
        ("config:\n\t- x\n", "Pulumi.staging.yaml: not valid YAML ("),
        ("[" * 5000, "Pulumi.staging.yaml: "),
    ],
)
def test_a_broken_stack_file_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    _stack(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        stack_config(tmp_path, "staging")
    assert raised.value.message.startswith(message)
    assert "\n" not in raised.value.message
    assert str(tmp_path / "Pulumi.staging.yaml") in raised.value.hint


class FakeConfig:
    """The part of ``pulumi.Config`` stage_args reads: strings, objects from JSON."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def get(self, key: str) -> str | None:
        value = self.values.get(key)
        return value if value is None or isinstance(value, str) else json.dumps(value)

    def get_object(self, key: str) -> Any:
        value = self.get(key)
        return None if value is None else json.loads(value)


@pytest.fixture
def program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(pulumi, "get_stack", lambda: "staging")
    monkeypatch.setattr(stage_config, "state_dir", lambda: tmp_path / ".soakgate")
    return tmp_path


def test_the_program_reads_typed_values(program: Path) -> None:
    config = FakeConfig(
        {"release": DIGEST, "port": "18091", "memoryMb": "512", "cpus": "0.5", "env": {"A": 1}}
    )
    args = stage_args(program, config)  # type: ignore[arg-type]
    assert (args.stage, args.port, args.release) == ("staging", 18091, DIGEST)
    assert (args.spec.memory_mb, args.spec.cpus, args.spec.envs) == (512, 0.5, {"A": "1"})
    assert isinstance(args.port, int) and isinstance(args.spec.memory_mb, int)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"release": DIGEST + "\n"}, "Pulumi.staging.yaml soakgate:release: expected an image dig"),
        ({"release": DIGEST, "port": "18081.5"}, "soakgate:port: expected a port number 1024"),
        ({"release": DIGEST, "port": "1e4"}, "soakgate:port: expected a port number 1024"),
        ({"release": DIGEST, "memoryMb": "nan"}, "soakgate:memoryMb: expected a number, got 'nan'"),
        ({"release": DIGEST, "cpus": "inf"}, "soakgate:cpus: expected a number, got 'inf'"),
        ({"release": DIGEST, "healthTimeout": "0"}, "soakgate:healthTimeout: expected a number b"),
        ({"release": DIGEST, "healthPath": "/a b"}, "soakgate:healthPath: expected an absolute"),
        ({"release": DIGEST, "stage": "qa"}, "soakgate:stage: unknown stage 'qa'"),
        ({"release": DIGEST, "secretEnv": {"a/b": "x"}}, "soakgate:secretEnv: 'a/b' is not a v"),
        ({"release": DIGEST, "secretEnv": ["x"]}, "soakgate:secretEnv: expected a map of NAME"),
        ({}, "soakgate:release: expected an image digest"),
    ],
)
def test_the_program_refuses_before_declaring_anything(
    program: Path, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        stage_args(program, FakeConfig(values))  # type: ignore[arg-type]
    assert message in raised.value.message
    assert raised.value.message.startswith("Pulumi.staging.yaml soakgate:")
    assert "\n" not in raised.value.message


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


def test_secret_env_is_a_pulumi_secret() -> None:
    pulumi.runtime.set_mocks(_Mocks(), preview=False)
    seen: list[Any] = []

    @pulumi.runtime.test  # type: ignore[misc]
    def check() -> pulumi.Output[None]:
        secrets = secret_env(FakeConfig({"secretEnv": {"DB_PASSWORD": "s3cret"}}), "staging")  # type: ignore[arg-type]
        assert secrets is not None
        seen.append(_sync_await(secrets.is_secret()))
        return secrets.apply(seen.append)

    check()
    assert seen == [True, {"DB_PASSWORD": "s3cret"}]


def test_no_secret_env_is_none() -> None:
    assert secret_env(FakeConfig({}), "staging") is None  # type: ignore[arg-type]


HOSTS = ["ssh://deploy@10.0.0.21", "ssh://deploy@10.0.0.22"]


@pytest.mark.parametrize(
    ("config", "env", "expected"),
    [
        ({"limit": 1, "wait": 30}, None, (1, 30.0)),
        ({"limit": 1, "wait": 30}, "2:5", (2, 5.0)),  # soakgate deploy --limit 2 --wait 5
        ({"limit": 1, "wait": 30}, "0:0", (0, 0.0)),  # a rollback: every host at once
        ({"limit": 1, "wait": 30}, "", (1, 30.0)),  # none given for this update
        (None, None, (0, 0.0)),
    ],
)
def test_a_rollout_comes_from_the_update_before_the_stack_config(
    program: Path,
    monkeypatch: pytest.MonkeyPatch,
    config: dict[str, Any] | None,
    env: str | None,
    expected: tuple[int, float],
) -> None:
    from soakgate.core.rollout import ENV

    if env is None:
        monkeypatch.delenv(ENV, raising=False)
    else:
        monkeypatch.setenv(ENV, env)
    values = {"release": DIGEST, "hosts": HOSTS, **({"rollout": config} if config else {})}
    args = stage_args(program, FakeConfig(values))  # type: ignore[arg-type]
    assert (args.rollout.limit, args.rollout.wait) == expected


@pytest.mark.parametrize(
    ("values", "env", "message"),
    [
        ({"rollout": {"limit": 1}}, None, "a rollout in host groups needs a stage on SSH hosts"),
        ({"hosts": HOSTS}, "1:x", "--limit/--wait: wait should be a number, got 'x'"),
        ({"hosts": HOSTS, "rollout": {"limit": 0.5}}, None, "soakgate:rollout: limit should be"),
    ],
)
def test_a_bad_rollout_is_refused_before_any_resource(
    program: Path,
    monkeypatch: pytest.MonkeyPatch,
    values: dict[str, Any],
    env: str | None,
    message: str,
) -> None:
    from soakgate.core.rollout import ENV

    monkeypatch.delenv(ENV, raising=False)
    if env is not None:
        monkeypatch.setenv(ENV, env)
    with pytest.raises(ConfigError) as raised:
        stage_args(program, FakeConfig({"release": DIGEST, **values}))  # type: ignore[arg-type]
    assert message in raised.value.message and "\n" not in raised.value.message
