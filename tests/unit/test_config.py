"""soakgate.toml: defaults, and errors that name the key's path."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from soakgate.adapters.config_file import load_config
from soakgate.core.config import (
    ConfigInvalid,
    DrillConfig,
    ServiceConfig,
    WorkloadRequest,
    parse_config,
    parse_duration,
)
from soakgate.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_file_is_valid_and_matches_the_defaults() -> None:
    shipped = parse_config(tomllib.loads((ROOT / "soakgate.toml").read_text()))
    # The one key shown with a value other than its default: the sample service's cycle.
    assert [(w.path, w.weight) for w in shipped.service.workload] == [
        ("/work/pydantic?items=400", 8),
        ("/work/fanout?tasks=2000", 1),
        ("/work/cpu?n=30000", 1),
    ]
    # and its setting for the eager-tasks variant
    assert shipped.service.variants == {"eager-tasks": {"SERVICE_EAGER_TASKS": "1"}}
    default = parse_config({})
    assert default.service.workload == (WorkloadRequest("/health"),)
    assert default.service.variants == {}
    # and the jit variant image the sample builds
    assert shipped.images.variants == ("jit",) and default.images.variants == ()
    service = dataclasses.replace(
        shipped.service, workload=default.service.workload, variants=default.service.variants
    )
    images = dataclasses.replace(shipped.images, variants=())
    assert dataclasses.replace(shipped, service=service, images=images) == default


def test_rto_budgets() -> None:
    stages = parse_config({}).stages
    assert [stages[s].rto_seconds for s in ("dev", "staging", "production")] == [28800, 14400, 3600]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"service": {"port": "80a"}}, "service.port: expected a port number 1-65535, got '80a'"),
        ({"service": {"port": 0}}, "service.port: expected a port number 1-65535, got 0"),
        (
            {"service": {"health_path": "health"}},
            'service.health_path: expected an absolute URL path like "/health"',
        ),
        ({"service": {"health_path": "/health check"}}, "service.health_path: expected an abs"),
        ({"service": {"health_path": "/health\r\nX: 1"}}, "service.health_path: expected an abs"),
        ({"service": {"health_path": "//evil/health"}}, "service.health_path: expected an abs"),
        ({"service": {"port": True}}, "service.port: expected a port number 1-65535, got True"),
        ({"service": {"port": 8000.0}}, "service.port: expected a port number 1-65535, got 8000.0"),
        ({"service": {"port": 65536}}, "service.port: expected a port number 1-65535, got 65536"),
        ({"service": {"context": "../elsewhere"}}, "service.context: should be a path inside"),
        ({"service": {"context": "/etc"}}, "service.context: should be a path inside"),
        ({"service": {"dockerfile": "a/../../x"}}, "service.dockerfile: should be a path inside"),
        ({"service": {"requirements": ["../r.txt"]}}, "service.requirements[0]: should be a path"),
        ({"service": {"image": "Soakgate/Service"}}, "service.image: expected an image name"),
        ({"service": {"image": "soakgate/service:v1"}}, "service.image: expected an image name wi"),
        ({"service": {"version": "1.0 beta"}}, "service.version: expected letters, digits"),
        ({"service": {"version": "1.0\n"}}, "service.version: control characters are not"),
        ({"stages": {"production": {"rto": "0s"}}}, "stages.production.rto: should be a positive"),
        ({"stages": {"dev": {"rto": "4h\n"}}}, "stages.dev.rto: should be a positive duration"),
        ({"slo": {"p95_ms": float("nan")}}, "slo.p95_ms: expected a finite number, got nan"),
        ({"slo": {"p95_ms": float("inf")}}, "slo.p95_ms: expected a finite number, got inf"),
        ({"slo": {"p95_ms": 10**400}}, "slo.p95_ms: number out of range"),
        ({"gates": {"dev_to_staging": {"coverage": float("nan")}}}, "gates.dev_to_staging.cov"),
        ({"namespace": "ab\n"}, "namespace: expected up to 20 lowercase letters or digits"),
        ({"service": {"colour": "red"}}, "service.colour: unknown key"),
        ({"images": {"pythons": ["3.13"]}}, "images.pythons: unsupported Python '3.13'"),
        ({"images": {"variants": ["jit", "jit"]}}, "images.variants: expected distinct variant"),
        ({"images": {"variants": ["Big Jit"]}}, "images.variants: expected distinct variant na"),
        ({"images": {"variants": ["turbo"]}}, "images.variants: variant 'turbo' is neither jit"),
        ({"images": {"variants": ["free-threaded"]}}, "images.variants: free-threaded is a rele"),
        ({"stages": {"qa": {}}}, "stages.qa: unknown key"),
        ({"stages": {"dev": {"rto": "soon"}}}, "stages.dev.rto: should be a positive duration"),
        ({"stages": {"dev": {"port": 18081}}}, "stages: two stages share a port"),
        ({"service": "x"}, "service: expected a table, got str"),
        ({"service": {"requirements": "r.txt"}}, "service.requirements: expected a list of str"),
        ({"service": {"tests": []}}, "service.tests: expected a non-empty list of strings"),
        ({"service": {"tests": ["../t"]}}, "service.tests[0]: should be a path inside"),
        ({"service": {"test_requirements": "/r.txt"}}, "service.test_requirements: should be"),
        ({"service": {"test_requirements": 1}}, "service.test_requirements: expected a non-empty"),
        ({"service": {"package": "my-app"}}, "service.package: expected a package directory"),
        ({"service": {"package": "src/a-b"}}, "service.package: expected a package directory"),
        ({"service": {"package": "../app"}}, "service.package: expected a package directory"),
        ({"service": {"package": "/app"}}, "service.package: expected a package directory"),
        ({"service": {"app_dir": "opt/service"}}, "service.app_dir: expected an absolute path"),
        ({"service": {"app_dir": "/opt/../etc"}}, "service.app_dir: expected an absolute path"),
        ({"service": {"workload": []}}, "service.workload: expected one or more [[service.w"),
        ({"service": {"workload": {"path": "/"}}}, "service.workload: expected one or more"),
        ({"service": {"workload": ["/x"]}}, "service.workload[0]: expected a table, got str"),
        ({"service": {"workload": [{}]}}, "service.workload[0].path: missing"),
        ({"service": {"workload": [{"path": "x"}]}}, "service.workload[0].path: expected an abs"),
        ({"service": {"workload": [{"path": "/", "verb": "GET"}]}}, "service.workload[0].verb: "),
        (
            {"service": {"workload": [{"path": "/"}, {"path": "/", "status": 700}]}},
            "service.workload[1].status: expected a whole number between 100 and 599, got 700",
        ),
        (
            {"service": {"workload": [{"path": "/", "weight": 0}]}},
            "service.workload[0].weight: expected a whole number between 1 and 1000",
        ),
        (
            {"service": {"workload": [{"path": "/", "weight": 1.5}]}},
            "service.workload[0].weight: expected a whole number",
        ),
        (
            {"service": {"workload": [{"path": "/", "method": "get"}]}},
            "service.workload[0].method: expected one of GET, POST",
        ),
        ({"service": {"workload": [{"path": "/", "body": 3}]}}, "service.workload[0].body: exp"),
        (
            {"service": {"drill": {"degrade": "slow"}}},
            'service.drill.degrade: expected one of "cpu"',
        ),
        ({"service": {"drill": {"cpus": 0}}}, "service.drill.cpus: expected a number between 0.01"),
        ({"service": {"drill": {"cpus": 2}}}, "service.drill.cpus: expected a number between"),
        ({"service": {"drill": {"env": {}}}}, "service.drill.env: unknown key"),
        ({"service": {"variants": []}}, "service.variants: expected a table"),
        ({"service": {"variants": {"Fast": {"A": "1"}}}}, "service.variants.Fast: a variant's"),
        ({"service": {"variants": {"fast": {}}}}, "service.variants.fast: expected environment"),
        ({"service": {"variants": {"fast": {"A": 1}}}}, "service.variants.fast.A: expected NAME"),
        ({"service": {"variants": {"fast": {"A-B": "1"}}}}, "service.variants.fast.A-B: expec"),
    ],
)
def test_errors_name_the_path(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigInvalid) as raised:
        parse_config(data)
    assert str(raised.value).startswith(message)


def test_a_standard_library_service_of_its_own_shape() -> None:
    service = parse_config(
        {
            "service": {
                "context": "images/plainsvc",
                "port": 9090,
                "health_path": "/healthz",
                "requirements": [],
                "tests": ["checks"],
                "test_requirements": "",
                "package": "src/plainsvc",
                "app_dir": "/srv/plain/",
                "workload": [
                    {"path": "/healthz", "weight": 3},
                    {"path": "/echo", "method": "POST", "body": "{}", "status": 201},
                ],
                "drill": {"cpus": 0.1},
            }
        }
    ).service
    assert (service.requirements, service.tests, service.test_requirements) == ((), ("checks",), "")
    assert (service.package, service.app_dir) == ("src/plainsvc", "/srv/plain")
    assert service.workload == (
        WorkloadRequest("/healthz", weight=3),
        WorkloadRequest("/echo", "POST", "{}", 1, 201),
    )
    assert service.drill == DrillConfig("cpu", 0.1)


def test_the_default_workload_is_one_get_of_the_health_path() -> None:
    parsed = parse_config({"service": {"health_path": "/healthz"}}).service
    assert parsed.workload == (WorkloadRequest("/healthz", "GET", "", 1, 200),)
    assert ServiceConfig(health_path="/ready").workload == (WorkloadRequest("/ready"),)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("4h", 14400), ("7d", 604800)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration("x", text) == seconds


def test_a_zero_rto_names_the_path_and_the_value_kamal_style() -> None:
    with pytest.raises(ConfigInvalid) as raised:
        parse_config({"stages": {"production": {"rto": "0s"}}})
    assert str(raised.value) == (
        'stages.production.rto: should be a positive duration like "1h", got "0s"'
    )


@pytest.mark.parametrize("text", ["4h\n", "4h ", " 4h", "\u0664h", "-1h", "1.5h", "4", "4H", ""])
def test_durations_refuse_what_the_old_pattern_let_through(text: str) -> None:
    with pytest.raises(ConfigInvalid):
        parse_duration("x", text)


def test_a_duration_of_a_million_years_is_a_typo() -> None:
    with pytest.raises(ConfigInvalid):
        parse_duration("x", "999999999d")


def _project(tmp_path: Path, text: str) -> Path:
    (tmp_path / "soakgate.toml").write_text(text)
    return tmp_path


def test_a_context_that_escapes_through_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    project = tmp_path / "project"
    (project / "images").mkdir(parents=True)
    (project / "images" / "service").symlink_to(outside)
    _project(project, "")
    with pytest.raises(ConfigError) as raised:
        load_config(project)
    assert raised.value.message.startswith(f"service.context: resolves to {outside}")


def test_an_absolute_path_inside_is_refused_lexically(tmp_path: Path) -> None:
    _project(tmp_path, f'[service]\ncontext = "{tmp_path}/images/service"\n')
    with pytest.raises(ConfigError, match=r"service\.context: should be a path inside"):
        load_config(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[service\n", "soakgate.toml: not valid TOML (Expected ']' at the end of a table"),
        ("a = [" * 2000, "soakgate.toml: "),
        ("[slo]\np95_ms = nan\n", "slo.p95_ms: expected a finite number, got nan"),
        ("[slo]\np95_ms = inf\n", "slo.p95_ms: expected a finite number, got inf"),
        ('[stages.production]\nrto = "0s"\n', "stages.production.rto: should be a positive"),
    ],
)
def test_load_config_gives_one_line(tmp_path: Path, text: str, message: str) -> None:
    _project(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path)
    assert raised.value.message.startswith(message)
    assert "\n" not in raised.value.message
    assert raised.value.hint


def test_load_config_refuses_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "soakgate.toml").write_bytes(b'namespace = "\xff"\n')
    with pytest.raises(
        ConfigError, match=r"^soakgate.toml: not UTF-8 text \(bad byte at offset 13\)$"
    ):
        load_config(tmp_path)


def test_image_variants_are_jit_or_the_service_own() -> None:
    config = parse_config(
        {
            "service": {"variants": {"eager-tasks": {"EAGER": "1"}}},
            "images": {"variants": ["jit", "eager-tasks"]},
        }
    )
    assert config.images.variants == ("jit", "eager-tasks")
    assert parse_config({}).images.variants == ()
