"""Read a stage's ``Pulumi.<stage>.yaml`` directly: fast, no Pulumi process (status, verify
and the emergency path read it). Writes go through Pulumi (``stack.set_config``).

    stack_config(project, "staging")   # {"stage": "staging", "port": 18081, "release": "sha256:…"}

Every ``soakgate:*`` value is validated as the Pulumi program validates it
(:func:`check_stack_value`); a mistake is one line naming the file, the key and the fix.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from soakgate.core.hosts import Host, parse_hosts
from soakgate.core.names import PYTHONS, STAGES
from soakgate.core.rollout import parse_rollout
from soakgate.core.validation import (
    ConfigInvalid,
    digest,
    env_map,
    finite_number,
    image_ref,
    plain_text,
    port_number,
    url_path,
)
from soakgate.errors import ConfigError

MAX_BYTES = 1 << 20


def _stage(path: str, value: Any) -> str:
    if value not in STAGES:
        raise ConfigInvalid(path, f"unknown stage {value!r} (known: {', '.join(STAGES)})")
    return str(value)


def _python(path: str, value: Any) -> str:
    text = plain_text(path, value if not isinstance(value, float) else str(value), limit=20)
    series = ".".join(text.split(".")[:2])
    if series not in PYTHONS:
        raise ConfigInvalid(path, f"unsupported Python {text!r} (supported: {', '.join(PYTHONS)})")
    return text


def _bool(path: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise ConfigInvalid(path, f"expected true or false, got {value!r}")


def _secret_map(path: str, value: Any) -> Any:
    """Pulumi keeps a secret as ``{secure: v1:…}``; a map of secrets as a map of those."""
    if not isinstance(value, dict):
        raise ConfigInvalid(path, "expected a secret map: pulumi config set --secret --path …")
    return value


STACK_KEYS: dict[str, Callable[[str, Any], Any]] = {
    "stage": _stage,
    "release": digest,
    "python": _python,
    "port": lambda path, value: port_number(path, value, low=1024, text_ok=True),
    "env": env_map,
    "secretEnv": _secret_map,
    "memoryMb": lambda path, value: int(
        finite_number(path, value, 32, 65536, text_ok=True, integer=True)
    ),
    "cpus": lambda path, value: finite_number(path, value, 0.1, 64, text_ok=True),
    "healthPath": url_path,
    "healthTimeout": lambda path, value: finite_number(path, value, 1, 3600, text_ok=True),
    "proxyImage": image_ref,
    "probeImage": image_ref,
    "buildImages": _bool,
    "hosts": parse_hosts,
    "rollout": parse_rollout,
}


def check_stack_value(stack: str, key: str, value: Any) -> Any:
    """The validated value of ``soakgate:<key>``; ConfigInvalid names the file and the key."""
    path = f"Pulumi.{stack}.yaml soakgate:{key}"
    check = STACK_KEYS.get(key)
    if check is None:
        raise ConfigInvalid(path, f"unknown key (known: {', '.join(sorted(STACK_KEYS))})")
    return check(path, value)


class _UniqueKeyLoader(yaml.SafeLoader):  # type: ignore[misc]
    """The safe loader, refusing a key given twice in one map (YAML keeps the last silently)."""


def _unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, list | dict):
            raise yaml.constructor.ConstructorError(
                None, None, "a key is a list or a map", key_node.start_mark
            )
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} given twice", key_node.start_mark
            )
        seen.add(key)
    return dict(loader.construct_mapping(node))


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _unique_mapping,
)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error on one line: what and where (PyYAML's own text spans several lines)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return " ".join(f"{problem}{where}".split())


def stack_hosts(project: Path, stage: str) -> tuple[Host, ...]:
    """The stage's SSH hosts (``soakgate:hosts``); ``()`` for this machine's engine."""
    return tuple(stack_config(project, stage).get("hosts", ()))


def stack_config(project: Path, stage: str) -> dict[str, Any]:
    """The ``config:`` map of the stage's stack file, keys without the ``soakgate:`` prefix,
    every value validated (ports as int, numbers as float)."""
    path = project / f"Pulumi.{stage}.yaml"
    if not path.is_file():
        return {}
    hint = f"fix {path}, or: pulumi config set soakgate:KEY VALUE --stack {stage}"
    try:
        raw = path.read_bytes()
        if len(raw) > MAX_BYTES:
            raise ConfigError(f"{path.name}: larger than {MAX_BYTES} bytes", hint=hint)
        data = yaml.load(raw.decode("utf-8"), Loader=_UniqueKeyLoader)  # a SafeLoader
    except OSError as exc:
        raise ConfigError(f"{path.name}: cannot be read ({exc.strerror})", hint=hint) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path.name}: not UTF-8 text (bad byte at offset {exc.start})", hint=hint
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"{path.name}: not valid YAML ({_yaml_problem(exc)})", hint=hint
        ) from None
    except RecursionError:
        raise ConfigError(f"{path.name}: nested too deeply", hint=hint) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: expected a map with a config: key", hint=hint)
    config = data.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(f"{path.name}: config: expected a map", hint=hint)
    values: dict[str, Any] = {}
    try:
        for key, value in config.items():
            if isinstance(key, str) and key.startswith("soakgate:"):
                name = key.removeprefix("soakgate:")
                values[name] = check_stack_value(stage, name, value)
    except ConfigInvalid as exc:
        raise ConfigError(str(exc), hint=hint) from None
    return values
