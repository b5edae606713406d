"""soakgate.toml as typed, validated data. Errors name the key's path and what was expected:
``stages.production.rto: should be a positive duration like "1h", got "0s"``.

config = parse_config(tomllib.loads(text))
config.stages["production"].rto_seconds    # 3600
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from soakgate.core.gates import DEFAULT_THRESHOLDS, GateThresholds, parse_gates
from soakgate.core.soak import SloConfig, parse_slo
from soakgate.core.validation import (
    TAG_PART,
    ConfigInvalid,
    check_document,
    image_ref,
    parse_duration,
    plain_text,
    port_number,
    positive_duration,
    relative_path,
    url_path,
)
from soakgate.errors import ConfigError

__all__ = ["ConfigInvalid", "ProjectConfig", "parse_config", "parse_duration"]

STAGES = ("dev", "staging", "production")


def check_stage(stage: str, where: str = "") -> None:
    """ConfigError unless ``stage`` is one of :data:`STAGES`; ``where`` names the argument."""
    if stage not in STAGES:
        raise ConfigError(
            f"{where + ': ' if where else ''}unknown stage {stage[:40]!r}",
            hint=f"use one of: {', '.join(STAGES)}",
        )


PYTHONS = ("3.12", "3.14")


@dataclass(frozen=True)
class ServiceConfig:
    context: str = "images/service"
    dockerfile: str = "Dockerfile"
    image: str = "soakgate/service"
    version: str = "1.0.0"
    port: int = 8000
    health_path: str = "/health"
    requirements: tuple[str, ...] = ("requirements.txt", "requirements-pip.txt")


@dataclass(frozen=True)
class ImagesConfig:
    base_prefix: str = "soakgate/python"
    pythons: tuple[str, ...] = PYTHONS


@dataclass(frozen=True)
class StageConfig:
    name: str
    port: int
    rto_seconds: int
    policy: str = "alert"  # on a soak breach: "rollback" (to the warm slot) or "alert"


DEFAULT_STAGES = {
    "dev": StageConfig("dev", 18080, 8 * 3600),
    "staging": StageConfig("staging", 18081, 4 * 3600, "rollback"),
    "production": StageConfig("production", 18082, 3600),
}


@dataclass(frozen=True)
class ProjectConfig:
    namespace: str = ""
    service: ServiceConfig = field(default_factory=ServiceConfig)
    images: ImagesConfig = field(default_factory=ImagesConfig)
    stages: dict[str, StageConfig] = field(default_factory=lambda: dict(DEFAULT_STAGES))
    gates: dict[str, GateThresholds] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    slo: SloConfig = field(default_factory=SloConfig)


def _table(data: Any, path: str, known: set[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigInvalid(path, f"expected a table, got {type(data).__name__}")
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigInvalid(
            f"{path}.{unknown[0]}", f"unknown key (known: {', '.join(sorted(known))})"
        )
    return data


def _string(data: dict[str, Any], key: str, path: str, default: str) -> str:
    return plain_text(f"{path}.{key}", data.get(key, default))


def _port(data: dict[str, Any], key: str, path: str, default: int) -> int:
    return port_number(f"{path}.{key}", data.get(key, default))


def _strings(
    data: dict[str, Any], key: str, path: str, default: tuple[str, ...]
) -> tuple[str, ...]:
    value = data.get(key, list(default))
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigInvalid(f"{path}.{key}", f"expected a non-empty list of strings, got {value!r}")
    return tuple(value)


def _image_name(data: dict[str, Any], key: str, path: str, default: str) -> str:
    """An image name without a tag: soakgate appends its own tags."""
    value = image_ref(f"{path}.{key}", data.get(key, default))
    if ":" in value.rsplit("/", 1)[-1] or "@" in value:
        raise ConfigInvalid(f"{path}.{key}", f"expected an image name without a tag, got {value!r}")
    return value


def _service(data: Any) -> ServiceConfig:
    default = ServiceConfig()
    table = _table(data, "service", set(ServiceConfig.__dataclass_fields__))
    version = _string(table, "version", "service", default.version)
    if not TAG_PART.match(version):
        raise ConfigInvalid(
            "service.version",
            f"expected letters, digits, '.', '_' or '-' (it goes into image tags), got {version!r}",
        )
    requirements = _strings(table, "requirements", "service", default.requirements)
    for index, name in enumerate(requirements):
        relative_path(f"service.requirements[{index}]", name)
    return ServiceConfig(
        context=relative_path("service.context", table.get("context", default.context)),
        dockerfile=relative_path("service.dockerfile", table.get("dockerfile", default.dockerfile)),
        image=_image_name(table, "image", "service", default.image),
        version=version,
        port=_port(table, "port", "service", default.port),
        health_path=url_path("service.health_path", table.get("health_path", default.health_path)),
        requirements=requirements,
    )


def _images(data: Any) -> ImagesConfig:
    default = ImagesConfig()
    table = _table(data, "images", set(ImagesConfig.__dataclass_fields__))
    pythons = _strings(table, "pythons", "images", default.pythons)
    for python in pythons:
        if python not in PYTHONS:
            raise ConfigInvalid(
                "images.pythons", f"unsupported Python {python!r} (supported: 3.12, 3.14)"
            )
    return ImagesConfig(_image_name(table, "base_prefix", "images", default.base_prefix), pythons)


def _stages(data: Any) -> dict[str, StageConfig]:
    table = _table(data, "stages", set(STAGES))
    stages = dict(DEFAULT_STAGES)
    for name, raw in table.items():
        path = f"stages.{name}"
        stage = _table(raw, path, {"port", "rto", "policy"})
        default = DEFAULT_STAGES[name]
        rto = (
            positive_duration(f"{path}.rto", stage["rto"])
            if "rto" in stage
            else default.rto_seconds
        )
        policy = stage.get("policy", default.policy)
        if policy not in ("rollback", "alert"):
            raise ConfigInvalid(f"{path}.policy", f'expected "rollback" or "alert", got {policy!r}')
        stages[name] = StageConfig(name, _port(stage, "port", path, default.port), rto, policy)
    ports = [stage.port for stage in stages.values()]
    if len(set(ports)) != len(ports):
        raise ConfigInvalid(
            "stages", f"two stages share a port ({sorted(ports)}); give each its own"
        )
    return stages


def parse_config(data: dict[str, Any]) -> ProjectConfig:
    """Validate the parsed TOML document and return the project configuration."""
    _table(data, "soakgate.toml", {"namespace", "service", "images", "stages", "gates", "slo"})
    check_document("", data)
    namespace = data.get("namespace", "")
    if not isinstance(namespace, str) or not re.fullmatch(r"[a-z0-9]{0,20}", namespace):
        raise ConfigInvalid(
            "namespace", f"expected up to 20 lowercase letters or digits, got {namespace!r}"
        )
    return ProjectConfig(
        namespace=namespace,
        service=_service(data.get("service", {})),
        images=_images(data.get("images", {})),
        stages=_stages(data.get("stages", {})),
        gates=parse_gates(data.get("gates", {})),
        slo=parse_slo(data.get("slo", {})),
    )
