"""Download the hash-pinned wheels an image's builder stage installs from (it has no network).

The base images have no pip, so the wheelhouse also holds a pip wheel, pinned with its hash in
``requirements-pip.txt`` beside ``requirements.txt``. Pip is kept out of ``requirements.txt`` so
that it is never installed into the service's site directory.

Usage:

    download_wheelhouse(Path("images/service/requirements.txt"), "3.14",
                        Path("images/service/.wheelhouse"))   # -> .../.wheelhouse/py3.14

A second call with the same pins finds every wheel in place (checked by SHA-256 against a
stamp written after the last download) and runs nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from soakgate.adapters.process import Result, run
from soakgate.errors import CommandFailed, ConfigError, MissingPart, SoakgateError

PIP_REQUIREMENTS = "requirements-pip.txt"
# soakgate's own pin of pip, for a context that pins none (a service with one requirements file).
OWN_PIP_REQUIREMENTS = Path(__file__).with_name(PIP_REQUIREMENTS)
STAMP = ".wheelhouse.json"
WHEELHOUSE = ".wheelhouse"  # the folder of the build context that holds the wheelhouses
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64", "any")
DOWNLOAD_TIMEOUT = 900.0

_HASH = re.compile(r"--hash=sha256:([0-9a-fA-F]{64})")
_NO_MATCH = re.compile(r"No matching distribution found for (\S+)")


class Runner(Protocol):
    """Runs an argv list; :func:`soakgate.adapters.process.run` is one."""

    def __call__(
        self, command: Sequence[str], *, timeout: float | None = ..., check: bool = ...
    ) -> Result: ...


def download_argv(
    requirements: Sequence[Path], python_version: str, folder: Path, python: str
) -> list[str]:
    """Return the ``pip download`` argv fetching wheels of ``requirements`` for CPython
    ``python_version`` on manylinux x86_64 into ``folder``."""
    argv = [
        python,
        "-m",
        "pip",
        "download",
        "--only-binary=:all:",
        "--require-hashes",
        "--implementation",
        "cp",
        "--python-version",
        python_version,
    ]
    for platform in PLATFORMS:
        argv += ["--platform", platform]
    for path in requirements:
        argv += ["-r", str(path)]
    argv += [
        "--dest",
        str(folder),
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
    ]
    return argv


def pinned_hashes(requirements: Sequence[Path]) -> set[str]:
    """Return every SHA-256 digest the requirement files allow, lower-case."""
    return {sha.lower() for path in requirements for sha in _HASH.findall(path.read_text())}


def digest(path: Path) -> str:
    """Return the SHA-256 of a file, hex."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def stamp_key(requirements: Sequence[Path], python_version: str) -> str:
    """Return a digest of everything a download depends on: the pins, version and platforms."""
    parts = [python_version, *PLATFORMS, *(path.read_text() for path in requirements)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def is_complete(folder: Path, key: str) -> bool:
    """Tell whether ``folder`` holds exactly the wheels its stamp lists, for the same ``key``."""
    try:
        stamp = json.loads((folder / STAMP).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(stamp, dict) or stamp.get("key") != key:
        return False
    wheels = stamp.get("wheels")
    if not isinstance(wheels, dict) or not wheels:
        return False
    if {path.name for path in folder.glob("*.whl")} != set(wheels):
        return False
    return all(digest(folder / name) == sha for name, sha in wheels.items())


def _prune_and_stamp(folder: Path, allowed: set[str], key: str) -> None:
    """Delete wheels no pin allows (left from older pins), then record the rest."""
    wheels: dict[str, str] = {}
    for path in sorted(folder.glob("*.whl")):
        sha = digest(path)
        if sha in allowed:
            wheels[path.name] = sha
        else:
            path.unlink()
    (folder / STAMP).write_text(json.dumps({"key": key, "wheels": wheels}, indent=2) + "\n")


def _failure(result: Result, python_version: str) -> SoakgateError:
    """Turn a failed ``pip download`` into an error a user can act on."""
    output = f"{result.stdout}\n{result.stderr}"
    missing = _NO_MATCH.search(output)
    if missing:
        tag = "cp" + python_version.replace(".", "")
        return SoakgateError(
            f"no Python {python_version} wheel for {missing.group(1)} (manylinux x86_64, {tag}):"
            f" pin a version that publishes {tag} wheels in requirements.in and recompile"
            f" requirements.txt, or drop Python {python_version} from the build",
            hint="the base images have no compiler, so every dependency must come as a wheel",
        )
    if "No module named pip" in output:
        return MissingPart(
            f"pip is not installed in {result.command[0]}, which downloads the wheelhouse"
            f" for Python {python_version}: install pip into soakgate's environment"
        )
    return CommandFailed(result, what=f"wheelhouse download for Python {python_version}")


def pip_pins(context: Path, named: str | None = None) -> Path:
    """The file pinning pip for a wheelhouse of ``context``: ``named`` (inside the context)
    when given, else the context's ``requirements-pip.txt``, else soakgate's own pin."""
    if named:
        return context / named
    own = context / PIP_REQUIREMENTS
    return own if own.is_file() else OWN_PIP_REQUIREMENTS


def download_wheelhouse(
    requirements: Path,
    python_version: str,
    dest: Path,
    *,
    pip_requirements: Path | None = None,
    python: str = sys.executable,
    runner: Runner = run,
    preflight: Callable[[Path, str], None] | None = None,
) -> Path:
    """Fill ``dest / f"py{python_version}"`` with the wheels of ``requirements`` and of pip;
    return that folder. Runs nothing when the folder already matches the pins; else
    ``preflight(requirements, python_version)`` first (it may refuse: nothing downloaded)."""
    pip_requirements = pip_requirements or requirements.parent / PIP_REQUIREMENTS
    files = [requirements, pip_requirements]
    for path in files:
        if not path.is_file():
            raise ConfigError(
                f"{path}: not found; compile it with hashes "
                f"(uv pip compile --universal --generate-hashes {path.stem}.in -o {path.name})"
            )
    folder = dest / f"py{python_version}"
    key = stamp_key(files, python_version)
    if is_complete(folder, key):
        return folder
    if preflight is not None:
        preflight(requirements, python_version)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / STAMP).unlink(missing_ok=True)
    argv = download_argv(files, python_version, folder, python)
    result = runner(argv, timeout=DOWNLOAD_TIMEOUT, check=False)
    if not result.ok:
        error = _failure(result, python_version)
        raise error from (None if isinstance(error, CommandFailed) else CommandFailed(result))
    _prune_and_stamp(folder, pinned_hashes(files), key)
    return folder
