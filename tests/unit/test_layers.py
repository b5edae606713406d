"""The seam between use cases and the world: ``soakgate.app`` reaches Docker, HTTP, processes,
sockets and SQLite only through its ports (the adapters), and soakgate.db has one opener."""

from __future__ import annotations

import ast
from pathlib import Path

import soakgate
import soakgate.app
from tests.unit.test_core_is_pure import imported_modules

PACKAGE = Path(soakgate.__file__).parent
APP = Path(soakgate.app.__file__).parent
WORLD = {"docker", "httpx", "subprocess", "socket", "sqlite3", "http", "urllib", "pulumi"}


def kills(path: Path) -> list[int]:
    """Lines of ``path`` that call ``os.kill``."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and node.attr == "kill"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    ]


def test_use_cases_import_no_part_of_the_world() -> None:
    offenders = {}
    for path in sorted(APP.rglob("*.py")):
        bad = {name for name in imported_modules(path) if name.split(".")[0] in WORLD}
        if bad or kills(path):
            offenders[str(path.relative_to(APP))] = sorted(bad) + [
                f"os.kill@{n}" for n in kills(path)
            ]
    assert offenders == {}


def test_one_sqlite3_connect_in_the_package() -> None:
    calls = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and node.attr == "connect"
        and isinstance(node.value, ast.Name)
        and node.value.id == "sqlite3"
    ]
    assert len(calls) == 1 and calls[0].startswith("adapters/state/db.py:"), calls


def test_the_checks_see_what_they_forbid(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("import os\nimport docker.errors\nos.kill(1, 15)\n")
    assert imported_modules(module) == {"os", "docker.errors"}
    assert kills(module) == [3]
