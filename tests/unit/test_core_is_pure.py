"""``soakgate.core`` imports nothing that does I/O, so its decisions are testable as data."""

from __future__ import annotations

import ast
from pathlib import Path

import soakgate.core

ALLOWED = {
    "__future__",
    "dataclasses",
    "typing",
    "collections",
    "enum",
    "math",
    "statistics",
    "datetime",
    "hashlib",
    "json",
    "re",
    "functools",
    "itertools",
    "bisect",
    "fractions",
}
CORE = Path(soakgate.core.__file__).parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_modules_import_only_pure_modules() -> None:
    offenders = {}
    for path in sorted(CORE.rglob("*.py")):
        bad = {
            name
            for name in imported_modules(path)
            if name.split(".")[0] not in ALLOWED and not name.startswith("soakgate.core")
        }
        if bad:
            offenders[path.name] = sorted(bad)
    assert offenders == {}


def test_the_check_sees_an_impure_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("import subprocess\nfrom soakgate.adapters import docker_engine\n")
    assert imported_modules(module) == {"subprocess", "soakgate.adapters"}
