"""What an integration test does when a part it needs is missing: skip on a developer's
machine, fail in CI (CI=true), where a missing part is a broken set-up, never a skip."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(what: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"integration set-up broken in CI: {what}", pytrace=False)
    pytest.skip(what)
