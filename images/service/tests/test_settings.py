"""Settings come from the environment; bad values fail at start-up with a clear message."""

from __future__ import annotations

import pytest

from app import __version__
from app.settings import Settings


def test_defaults_from_an_empty_environment() -> None:
    assert Settings.from_env({}) == Settings()


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "SOAKGATE_RELEASE": "r7",
            "APP_VERSION": "2.0.0",
            "SOURCE_REVISION": "deadbeef",
            "SERVICE_FAIL_HEALTH": "1",
            "SERVICE_FAIL_READY": "true",
            "SERVICE_DELAY_MS": "250",
            "SERVICE_SLOWDOWN_PERCENT": "5.5",
            "SERVICE_EAGER_TASKS": "yes",
        }
    )
    assert settings == Settings("r7", "2.0.0", "deadbeef", True, True, 250, 5.5, True)


def test_empty_values_count_as_unset() -> None:
    settings = Settings.from_env({"APP_VERSION": "", "SERVICE_FAIL_READY": "0"})
    assert (settings.app_version, settings.fail_ready) == (__version__, False)


@pytest.mark.parametrize("raw", ["soon", "-5"])
def test_bad_delay_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="SERVICE_DELAY_MS"):
        Settings.from_env({"SERVICE_DELAY_MS": raw})


@pytest.mark.parametrize("raw", ["much", "-1", "101", "nan"])
def test_bad_slowdown_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="SERVICE_SLOWDOWN_PERCENT"):
        Settings.from_env({"SERVICE_SLOWDOWN_PERCENT": raw})
