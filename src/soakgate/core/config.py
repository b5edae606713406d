"""soakgate.toml as typed, validated data. Errors name the key's path and what was expected:
``stages.production.rto: should be a positive duration like "1h", got "0s"``.

config = parse_config(tomllib.loads(text))
config.stages["production"].rto_seconds    # 3600
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from soakgate.core.gates import DEFAULT_THRESHOLDS, GateThresholds, parse_gates
from soakgate.core.names import PYTHONS, STAGES
from soakgate.core.soak import SloConfig, parse_slo
from soakgate.core.validation import (
    TAG_PART,
    ConfigInvalid,
    check_document,
    finite_number,
    image_ref,
    parse_duration,
    plain_text,
    port_number,
    positive_duration,
    relative_path,
    show,
    url_path,
)
from soakgate.core.variants import FREE_THREADED, JIT
from soakgate.errors import ConfigError

__all__ = [
    "PYTHONS",
    "STAGES",
    "ConfigInvalid",
    "DrillConfig",
    "ProjectConfig",
    "ServiceConfig",
    "WorkloadRequest",
    "parse_config",
    "parse_duration",
]


def check_stage(stage: str, where: str = "") -> None:
    """ConfigError unless ``stage`` is one of :data:`STAGES`; ``where`` names the argument."""
    if stage not in STAGES:
        raise ConfigError(
            f"{where + ': ' if where else ''}unknown stage {stage[:40]!r}",
            hint=f"use one of: {', '.join(STAGES)}",
        )


# A package directory inside the context: "app", or "src/plainsvc" (a src layout).
_PACKAGE = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_]{0,99}/){0,4}[A-Za-z_][A-Za-z0-9_]{0,99}\Z")
_APP_DIR = re.compile(r"/[A-Za-z0-9_.\-/]{0,200}\Z")
_VARIANT = re.compile(r"[a-z][a-z0-9-]{0,39}\Z")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}\Z")
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")


@dataclass(frozen=True)
class WorkloadRequest:
    """One request of the load cycle the performance comparison repeats (``weight`` times in a
    cycle of all of them); an answer other than ``status`` counts as an error."""

    path: str
    method: str = "GET"
    body: str = ""
    weight: int = 1
    status: int = 200


DRILL_DEGRADES = ("cpu",)


@dataclass(frozen=True)
class DrillConfig:
    """How ``soakgate drill`` degrades a copy of the running release. ``"cpu"``: the service's
    process gets ``cpus`` of one CPU (it is stopped and continued in a duty cycle), which needs
    nothing from the service but that it is the Python program its image starts."""

    degrade: str = "cpu"
    cpus: float = 0.05


@dataclass(frozen=True)
class ServiceConfig:
    context: str = "images/service"
    dockerfile: str = "Dockerfile"
    image: str = "soakgate/service"
    version: str = "1.0.0"
    port: int = 8000
    health_path: str = "/health"
    requirements: tuple[str, ...] = ("requirements.txt", "requirements-pip.txt")  # () for none
    tests: tuple[str, ...] = ("tests",)
    test_requirements: str = "requirements-test.txt"  # "" for soakgate's own pytest + coverage
    package: str = "app"
    app_dir: str = "/opt/service"
    workload: tuple[WorkloadRequest, ...] = ()  # () is one GET of health_path
    drill: DrillConfig = field(default_factory=DrillConfig)
    # `soakgate compare --variant NAME`: environment that turns the variant on, by name
    variants: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.workload:
            object.__setattr__(self, "workload", (WorkloadRequest(self.health_path),))


@dataclass(frozen=True)
class ImagesConfig:
    base_prefix: str = "soakgate/python"
    pythons: tuple[str, ...] = PYTHONS
    # variant images the Pulumi program builds of each release whose interpreter allows them
    variants: tuple[str, ...] = ()


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
    data: dict[str, Any],
    key: str,
    path: str,
    default: tuple[str, ...],
    allow_empty: bool = False,
) -> tuple[str, ...]:
    value = data.get(key, list(default))
    if (
        not isinstance(value, list)
        or not (value or allow_empty)
        or not all(isinstance(v, str) for v in value)
    ):
        what = "a list of strings" if allow_empty else "a non-empty list of strings"
        raise ConfigInvalid(f"{path}.{key}", f"expected {what}, got {value!r}")
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
    requirements = _strings(
        table, "requirements", "service", default.requirements, allow_empty=True
    )
    for index, name in enumerate(requirements):
        relative_path(f"service.requirements[{index}]", name)
    tests = _strings(table, "tests", "service", default.tests)
    for index, name in enumerate(tests):
        relative_path(f"service.tests[{index}]", name)
    test_requirements = table.get("test_requirements", default.test_requirements)
    if test_requirements != "":
        relative_path("service.test_requirements", test_requirements)
    package = table.get("package", default.package)
    if not isinstance(package, str) or not _PACKAGE.match(package):
        raise ConfigInvalid(
            "service.package",
            f'expected a package directory like "app" or "src/app", got {show(package)}',
        )
    app_dir = table.get("app_dir", default.app_dir)
    if not isinstance(app_dir, str) or not _APP_DIR.match(app_dir) or ".." in app_dir.split("/"):
        raise ConfigInvalid(
            "service.app_dir",
            f'expected an absolute path in the image like "/opt/service", got {show(app_dir)}',
        )
    health_path = url_path("service.health_path", table.get("health_path", default.health_path))
    return ServiceConfig(
        context=relative_path("service.context", table.get("context", default.context)),
        dockerfile=relative_path("service.dockerfile", table.get("dockerfile", default.dockerfile)),
        image=_image_name(table, "image", "service", default.image),
        version=version,
        port=_port(table, "port", "service", default.port),
        health_path=health_path,
        requirements=requirements,
        tests=tests,
        test_requirements=test_requirements,
        package=package,
        app_dir=app_dir.rstrip("/") or "/",
        workload=_workload(table.get("workload"), health_path),
        drill=_drill(table.get("drill", {})),
        variants=_variants(table.get("variants", {})),
    )


def _variants(data: Any) -> dict[str, dict[str, str]]:
    if not isinstance(data, dict):
        raise ConfigInvalid(
            "service.variants", f"expected a table of [service.variants.NAME], got {show(data)}"
        )
    variants = {}
    for name, environment in data.items():
        where = f"service.variants.{name}"
        if not _VARIANT.match(name):
            raise ConfigInvalid(where, "a variant's name is lower-case letters, digits and '-'")
        if not isinstance(environment, dict) or not environment:
            raise ConfigInvalid(
                where, f'expected environment variables like SETTING = "1", got {show(environment)}'
            )
        for key, value in environment.items():
            if not _ENV_NAME.match(key) or not isinstance(value, str):
                raise ConfigInvalid(
                    f"{where}.{key}",
                    f'expected NAME = "string value" (an environment variable), got {show(value)}',
                )
        variants[name] = dict(environment)
    return variants


def _workload(data: Any, health_path: str) -> tuple[WorkloadRequest, ...]:
    if data is None:
        return (WorkloadRequest(health_path),)
    if not isinstance(data, list) or not data:
        raise ConfigInvalid(
            "service.workload",
            f"expected one or more [[service.workload]] tables, got {show(data)}",
        )
    requests = []
    for index, raw in enumerate(data):
        path = f"service.workload[{index}]"
        table = _table(raw, path, set(WorkloadRequest.__dataclass_fields__))
        if "path" not in table:
            raise ConfigInvalid(f"{path}.path", 'missing: the URL path to request, like "/work"')
        method = table.get("method", "GET")
        if method not in _METHODS:
            raise ConfigInvalid(
                f"{path}.method", f"expected one of {', '.join(_METHODS)}, got {show(method)}"
            )
        body = table.get("body", "")
        if not isinstance(body, str) or len(body) > 65536:
            raise ConfigInvalid(
                f"{path}.body", f"expected a string (64 KiB at most), got {show(body)}"
            )
        requests.append(
            WorkloadRequest(
                path=url_path(f"{path}.path", table["path"]),
                method=method,
                body=body,
                weight=int(
                    finite_number(f"{path}.weight", table.get("weight", 1), 1, 1000, integer=True)
                ),
                status=int(
                    finite_number(
                        f"{path}.status", table.get("status", 200), 100, 599, integer=True
                    )
                ),
            )
        )
    return tuple(requests)


def _drill(data: Any) -> DrillConfig:
    default = DrillConfig()
    table = _table(data, "service.drill", set(DrillConfig.__dataclass_fields__))
    degrade = table.get("degrade", default.degrade)
    if degrade not in DRILL_DEGRADES:
        raise ConfigInvalid(
            "service.drill.degrade",
            f"expected one of {', '.join(map(show, DRILL_DEGRADES))}, got {show(degrade)}",
        )
    cpus = finite_number("service.drill.cpus", table.get("cpus", default.cpus), 0.01, 0.5)
    return DrillConfig(degrade, cpus)


def _images(data: Any) -> ImagesConfig:
    default = ImagesConfig()
    table = _table(data, "images", set(ImagesConfig.__dataclass_fields__))
    pythons = _strings(table, "pythons", "images", default.pythons)
    for python in pythons:
        if python not in PYTHONS:
            raise ConfigInvalid(
                "images.pythons", f"unsupported Python {python!r} (supported: 3.12, 3.14)"
            )
    variants = _strings(table, "variants", "images", default.variants, allow_empty=True)
    for name in variants:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,30}", name) or variants.count(name) > 1:
            raise ConfigInvalid(
                "images.variants", f"expected distinct variant names like jit, got {name!r}"
            )
    return ImagesConfig(
        _image_name(table, "base_prefix", "images", default.base_prefix), pythons, variants
    )


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
    service = _service(data.get("service", {}))
    images = _images(data.get("images", {}))
    for name in images.variants:
        if name == FREE_THREADED and name not in service.variants:
            raise ConfigInvalid(
                "images.variants",
                "free-threaded is a release built on a free-threaded interpreter (python3.14t),"
                " not a switch on a release's image, and no Debian suite ships one to build a"
                " base from; soakgate readiness --free-threaded checks the wheels it would need",
            )
        if name != JIT and name not in service.variants:
            raise ConfigInvalid(
                "images.variants",
                f"variant {name!r} is neither jit nor a [service.variants.NAME] of this file",
            )
    return ProjectConfig(
        namespace=namespace,
        service=service,
        images=images,
        stages=_stages(data.get("stages", {})),
        gates=parse_gates(data.get("gates", {})),
        slo=parse_slo(data.get("slo", {})),
    )
