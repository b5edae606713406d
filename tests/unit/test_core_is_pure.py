"""``soakgate.core`` imports nothing that does I/O, so its decisions are testable as data.

Well-kept pure libraries are allowed; modules that touch the world are not."""

from __future__ import annotations

import ast
from pathlib import Path

import soakgate.core

# Modules that do I/O (files, processes, sockets, HTTP, SQLite, Docker, Pulumi, SSH) and
# soakgate's own outer layers. Pure libraries (packaging, cvss, defusedxml) are welcome.
IO_MODULES = {
    "os", "io", "pathlib", "shutil", "tempfile", "glob", "fcntl", "mmap", "signal",
    "subprocess", "multiprocessing", "threading", "asyncio", "selectors", "socket", "ssl",
    "http", "urllib", "httpx", "requests", "ftplib", "smtplib", "sqlite3", "dbm", "shelve",
    "docker", "pulumi", "fabric", "invoke", "paramiko", "testinfra", "ansible", "matplotlib",
    "time", "sys", "getpass", "pwd", "grp", "platform", "logging",
}  # fmt: skip
OUTER = ("soakgate.adapters", "soakgate.app", "soakgate.cli", "soakgate.pulumi")
CORE = Path(soakgate.core.__file__).parent


def _type_only(tree: ast.Module) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:``: never imported when the code runs."""
    return {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for statement in node.body
        for inner in ast.walk(statement)
    }


def imported_modules(path: Path) -> set[str]:
    """The modules ``path`` imports when it runs (type-only imports left out)."""
    tree = ast.parse(path.read_text())
    skip = _type_only(tree)
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
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
            if name.split(".")[0] in IO_MODULES or name.startswith(OUTER)
        }
        if bad:
            offenders[path.name] = sorted(bad)
    assert offenders == {}


def test_the_check_sees_an_impure_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("import subprocess\nfrom soakgate.adapters import docker_engine\n")
    assert imported_modules(module) == {"subprocess", "soakgate.adapters"}


def test_the_check_leaves_out_type_only_imports(tmp_path: Path) -> None:
    module = tmp_path / "typed.py"
    module.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pathlib import Path\n"
        "import os\n"
    )
    assert imported_modules(module) == {"typing", "os"}
