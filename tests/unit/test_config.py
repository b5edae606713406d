"""soakgate.toml: defaults, and errors that name the key's path."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from soakgate.core.config import ConfigInvalid, parse_config, parse_duration

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_file_is_valid_and_matches_the_defaults() -> None:
    assert parse_config(tomllib.loads((ROOT / "soakgate.toml").read_text())) == parse_config({})


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
            'service.health_path: expected a path starting with "/"',
        ),
        ({"service": {"colour": "red"}}, "service.colour: unknown key"),
        ({"images": {"pythons": ["3.13"]}}, "images.pythons: unsupported Python '3.13'"),
        ({"stages": {"qa": {}}}, "stages.qa: unknown key"),
        ({"stages": {"dev": {"rto": "soon"}}}, 'stages.dev.rto: expected a duration like "4h"'),
        ({"stages": {"dev": {"port": 18081}}}, "stages: two stages share a port"),
        ({"service": "x"}, "service: expected a table, got str"),
    ],
)
def test_errors_name_the_path(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigInvalid) as raised:
        parse_config(data)
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("4h", 14400), ("7d", 604800)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration("x", text) == seconds
