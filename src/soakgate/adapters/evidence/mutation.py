"""Mutation testing of the service's code with mutmut 3, in a throwaway venv made from a local
Python 3.12 with the service's and the test requirements installed from hash-pinned wheels
(no index) and mutmut installed into it — mutmut runs the tests in its own interpreter.

mutmut's own wheels are pinned, with their hashes, from soakgate's ``uv.lock`` (the versions
soakgate's environment runs), minus what the service already pins; ``pip download`` fetches
them once per pin set into the cache, as :mod:`soakgate.adapters.images.wheelhouse` does for images.

    outcome = run_mutation(Path("images/service"), cache=Path(".soakgate/cache"),
                           work=Path("/tmp/m"))
    outcome.run.score          # 85.2 (core.evidence.MutationRun, from mutants/**/*.meta)
    outcome.stats_file         # mutants/mutmut-cicd-stats.json (mutmut export-cicd-stats)

Mutation results depend on the source, not on the image: :func:`source_fingerprint` names the
source that was mutated, and :func:`image_app_files` / :func:`app_files` tell whether the
release's image holds that same code.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.markers import Marker
from packaging.utils import canonicalize_name

from soakgate.adapters.evidence.tests import (
    APP_DIR,
    APP_PACKAGE,
    TEST_CONFIG_FILES,
    TEST_REQUIREMENTS,
    TESTS_DIR,
    download_test_wheels,
    pip_wheel,
    run_in_image,
)
from soakgate.adapters.images.wheelhouse import PIP_REQUIREMENTS, download_wheelhouse
from soakgate.adapters.process import Result, run
from soakgate.adapters.state.evidence import CollectFailed, one_line
from soakgate.core.evidence import MutationRun, summarize_mutmut_meta
from soakgate.core.names import digest_ref

MUTATION_SERIES = "3.12"
MUTATION_TIMEOUT = 1800.0
INSTALL_TIMEOUT = 600.0
STATS_FILE = "mutants/mutmut-cicd-stats.json"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", re.MULTILINE)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_IGNORED = (
    "__pycache__",
    ".pytest_cache",
    ".coverage",
    ".coverage.*",
    "mutants",
    ".git",
    ".wheelhouse",
    ".venv",
    "htmlcov",
    "*.pyc",
)


@dataclass(frozen=True)
class MutationOutcome:
    """A finished mutmut run: the counts by status and mutmut's own stats file."""

    run: MutationRun
    stats_file: Path
    log_tail: str
    seconds: float
    tools: dict[str, str] = field(default_factory=dict)


# --- the interpreter and the pins -----------------------------------------------------------


def find_python(series: str = MUTATION_SERIES) -> str:
    """A local CPython ``series``: pyenv's newest ``~/.pyenv/versions/<series>.*``, else
    ``python<series>`` on PATH."""
    pattern = os.path.expanduser(f"~/.pyenv/versions/{series}.*/bin/python")
    found = sorted(glob.glob(pattern), key=_version_key)
    if found:
        return found[-1]
    on_path = shutil.which(f"python{series}")
    if on_path:
        return on_path
    raise CollectFailed(
        f"no local Python {series} for the mutation venv: install it (e.g. pyenv install"
        f" {series}) or pass --mutation FILE"
    )


def _version_key(path: str) -> tuple[int, ...]:
    match = re.search(r"versions/([0-9.]+)/", path)
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()


def soakgate_lock() -> Path | None:
    """soakgate's own ``uv.lock`` (in the checkout it runs from), if there is one."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "uv.lock").is_file() and (parent / "pyproject.toml").is_file():
            return parent / "uv.lock"
    return None


def pinned_names(texts: Sequence[str]) -> set[str]:
    """Canonical names pinned (``name==…``) in requirement file texts."""
    return {canonicalize_name(name) for text in texts for name in _PIN.findall(text)}


def _environment(python_full: str) -> dict[str, str]:
    return {
        "python_full_version": python_full,
        "python_version": ".".join(python_full.split(".")[:2]),
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }


def mutmut_pins(lock_text: str, python_full: str, root: str = "mutmut") -> dict[str, str]:
    """{canonical name: requirement line with every wheel hash} of ``root`` and its
    dependencies (extras and markers evaluated for CPython ``python_full`` on Linux x86_64),
    read from a uv.lock."""
    packages: dict[str, Any] = {
        canonicalize_name(p["name"]): p for p in tomllib.loads(lock_text)["package"]
    }
    environment = _environment(python_full)
    extras_seen: dict[str, set[str]] = {}
    name: str
    todo: list[tuple[str, tuple[str, ...]]] = [(root, ())]
    while todo:
        raw_name, extras = todo.pop()
        name = canonicalize_name(raw_name)
        if name not in packages:
            raise CollectFailed(f"uv.lock has no {raw_name}: run uv sync in soakgate's checkout")
        package = packages[name]
        first = name not in extras_seen
        new_extras = set(extras) - extras_seen.setdefault(name, set())
        extras_seen[name] |= set(extras)
        dependencies = list(package.get("dependencies", [])) if first else []
        for extra in sorted(new_extras):
            dependencies += package.get("optional-dependencies", {}).get(extra, [])
        for dependency in dependencies:
            marker = dependency.get("marker")
            if marker and not Marker(marker).evaluate(environment):
                continue
            todo.append((dependency["name"], tuple(dependency.get("extra", ()))))
    pins: dict[str, str] = {}
    for name in sorted(extras_seen):
        package = packages[name]
        hashes = [wheel["hash"] for wheel in package.get("wheels", []) if "hash" in wheel]
        if not hashes:
            raise CollectFailed(f"uv.lock has no wheel of {name} {package['version']}")
        pins[name] = f"{name}=={package['version']} " + " ".join(f"--hash={h}" for h in hashes)
    return pins


def python_version(python: str) -> str:
    result = run([python, "-c", "import platform; print(platform.python_version())"], check=False)
    if not result.ok:
        raise CollectFailed(f"{python} does not run: {one_line(result.stderr or result.stdout)}")
    return result.stdout.strip()


# --- the source -----------------------------------------------------------------------------


def copy_service(context: Path, dest: Path) -> Path:
    """Copy the service (app, tests, config — no caches, wheels or old mutants) to ``dest``."""
    shutil.copytree(context, dest, ignore=shutil.ignore_patterns(*_IGNORED))
    return dest


def configure_mutmut(service: Path) -> str:
    """Point mutmut at ``app/`` and ``tests/`` in the copy, unless the service configures mutmut
    itself; return where the configuration is (``pyproject.toml`` or ``setup.cfg``)."""
    pyproject = service / "pyproject.toml"
    if pyproject.is_file():
        text = pyproject.read_text()
        if "mutmut" in tomllib.loads(text).get("tool", {}):
            return "pyproject.toml (the service's own [tool.mutmut])"
        pyproject.write_text(
            text.rstrip("\n") + "\n\n[tool.mutmut]\n"
            f'source_paths = ["{APP_PACKAGE}/"]\n'
            f'pytest_add_cli_args_test_selection = ["{TESTS_DIR}/"]\n'
        )
        return "pyproject.toml"
    setup_cfg = service / "setup.cfg"
    text = setup_cfg.read_text() if setup_cfg.is_file() else ""
    if "[mutmut]" not in text:
        setup_cfg.write_text(
            text + f"\n[mutmut]\nsource_paths = {APP_PACKAGE}/\n"
            f"pytest_add_cli_args_test_selection = {TESTS_DIR}/\n"
        )
    return "setup.cfg"


def _service_files(context: Path) -> list[Path]:
    files = [p for p in (context / APP_PACKAGE).rglob("*.py") if "__pycache__" not in p.parts]
    files += [p for p in (context / TESTS_DIR).rglob("*.py") if "__pycache__" not in p.parts]
    files += [context / name for name in TEST_CONFIG_FILES if (context / name).is_file()]
    files += sorted(context.glob("requirements*.txt"))
    return sorted(files)


def source_fingerprint(context: Path) -> str:
    """SHA-256 over the service's app, tests, test configuration and pins: what mutation
    testing depends on. Two releases built from the same source share it."""
    digest = hashlib.sha256()
    for path in _service_files(context):
        digest.update(str(path.relative_to(context)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def app_files(context: Path) -> dict[str, str]:
    """{path under app/: SHA-256} of the service's Python source on the host."""
    folder = context / APP_PACKAGE
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


APP_FILES_SCRIPT = (
    "import hashlib, json, pathlib, sys\n"
    "root = pathlib.Path(sys.argv[1])\n"
    "print(json.dumps({str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()"
    " for p in sorted(root.rglob('*.py')) if '__pycache__' not in p.parts}))\n"
)


def image_app_files(image: str, app_dir: str = APP_DIR) -> dict[str, str]:
    """{path under app/: SHA-256} of the Python source inside the release's image."""
    code, stdout, stderr = run_in_image(image, ["python", "-c", APP_FILES_SCRIPT, app_dir])
    if code != 0:
        raise CollectFailed(f"cannot read {app_dir} in {digest_ref(image)}: {one_line(stderr)}")
    files: dict[str, str] = json.loads(stdout)
    return files


# --- the run --------------------------------------------------------------------------------


def _clean_env(venv: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV", "UV_"))
    }
    env.update(
        PATH=f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}",
        VIRTUAL_ENV=str(venv),
        PIP_NO_INPUT="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def venv_argv(python: str, venv: Path) -> list[str]:
    return [python, "-m", "venv", "--without-pip", str(venv)]


def install_argv(
    venv: Path, pip: Path, find_links: Sequence[Path], requirements: Sequence[Path], *, deps: bool
) -> list[str]:
    """pip (from its wheel) installing hash-pinned ``requirements`` into ``venv``, no index."""
    argv = [str(venv / "bin" / "python"), str(pip / "pip"), "install", "--no-index"]
    for folder in find_links:
        argv += ["--find-links", str(folder)]
    argv += ["--require-hashes", "--no-cache-dir", "--quiet"]
    if not deps:
        argv.append("--no-deps")
    for path in requirements:
        argv += ["-r", str(path)]
    return argv


def mutmut_run_argv(venv: Path, max_children: int) -> list[str]:
    return [str(venv / "bin" / "mutmut"), "run", "--max-children", str(max_children)]


def mutmut_stats_argv(venv: Path) -> list[str]:
    return [str(venv / "bin" / "mutmut"), "export-cicd-stats"]


def _check(result: Result, what: str) -> Result:
    if not result.ok:
        tail = _tail(result.stderr + "\n" + result.stdout, 1) or "no output"
        reason = "timed out" if result.exited == 124 else f"exit {result.exited}"
        raise CollectFailed(f"{what} failed ({reason}): {tail}")
    return result


def _tail(text: str, lines: int) -> str:
    """The last lines of ``text`` without terminal control sequences and spinner frames."""
    cleaned = _ANSI.sub("", text).replace("\r", "\n")
    kept = [line.strip() for line in cleaned.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def run_mutation(
    context: Path,
    *,
    cache: Path,
    work: Path,
    requirements: Sequence[str] = ("requirements.txt", PIP_REQUIREMENTS),
    python: str | None = None,
    lock: Path | None = None,
    max_children: int | None = None,
    timeout: float = MUTATION_TIMEOUT,
) -> MutationOutcome:
    """Run mutmut on a copy of the service in a throwaway venv; return the counts by status.

    ``requirements`` are the service's runtime pins and pip's (as soakgate.toml names them);
    their wheelhouse is the one the image build uses (``<context>/.wheelhouse``).
    """
    started = time.monotonic()
    python = python or find_python()
    full_version = python_version(python)
    series = ".".join(full_version.split(".")[:2])
    lock = lock or soakgate_lock()
    if lock is None:
        raise CollectFailed(
            "no uv.lock of soakgate to pin mutmut's wheels from: run from soakgate's checkout"
            " or pass --mutation FILE"
        )
    runtime_reqs = context / requirements[0]
    pip_reqs = context / (requirements[1] if len(requirements) > 1 else PIP_REQUIREMENTS)
    test_reqs = context / TEST_REQUIREMENTS
    for path in (runtime_reqs, pip_reqs, test_reqs):
        if not path.is_file():
            raise CollectFailed(f"{path} not found: the mutation venv installs from it")
    runtime_wheels = download_wheelhouse(
        runtime_reqs, series, context / ".wheelhouse", pip_requirements=pip_reqs
    )
    test_wheels = download_test_wheels(context, series, cache)

    pins = mutmut_pins(lock.read_text(), full_version)
    service_pins = pinned_names([runtime_reqs.read_text(), test_reqs.read_text()])
    pin_folder = cache / "mutmut-pins"
    pin_folder.mkdir(parents=True, exist_ok=True)
    all_pins = pin_folder / f"requirements-mutmut-py{series}.txt"
    own_pins = pin_folder / f"requirements-mutmut-only-py{series}.txt"
    _write_if_changed(all_pins, "".join(f"{line}\n" for line in pins.values()))
    _write_if_changed(
        own_pins,
        "".join(f"{line}\n" for name, line in pins.items() if name not in service_pins),
    )
    mutmut_wheels = download_wheelhouse(
        all_pins, series, cache / "mutmut-wheels", pip_requirements=pip_reqs
    )

    venv = work / "venv"
    env = _clean_env(venv)
    pip = test_wheels / pip_wheel(test_wheels)
    steps = [
        (venv_argv(python, venv), "creating the venv"),
        (
            install_argv(
                venv, pip, [runtime_wheels, test_wheels], [runtime_reqs, test_reqs], deps=True
            ),
            "installing the service's and the test requirements",
        ),
        (install_argv(venv, pip, [mutmut_wheels], [own_pins], deps=False), "installing mutmut"),
        ([str(venv / "bin" / "python"), str(pip / "pip"), "check"], "pip check of the venv"),
    ]
    for argv, what in steps:
        _check(run(argv, env=env, timeout=INSTALL_TIMEOUT, check=False), what)

    service = copy_service(context, work / "service")
    configure_mutmut(service)
    children = max_children or os.cpu_count() or 2
    result = run(
        mutmut_run_argv(venv, children), env=env, cwd=str(service), timeout=timeout, check=False
    )
    if not result.ok:
        reason = (
            f"timed out after {timeout:.0f} s"
            if result.exited == 124
            else f"exit {result.exited}: {_tail(result.stdout + result.stderr, 1)}"
        )
        raise CollectFailed(f"mutmut run failed ({reason})")
    _check(
        run(mutmut_stats_argv(venv), env=env, cwd=str(service), timeout=120, check=False),
        "mutmut export-cicd-stats",
    )
    stats = service / STATS_FILE
    if not stats.is_file():
        raise CollectFailed(f"mutmut export-cicd-stats wrote no {STATS_FILE}")
    metas = sorted((service / "mutants").rglob("*.meta"))
    mutation_run = summarize_mutmut_meta(path.read_text() for path in metas)
    versions = {"python": full_version, "mutmut": pins["mutmut"].split()[0].split("==")[1]}
    versions.update(_pinned_versions(test_reqs.read_text(), ("pytest",)))
    return MutationOutcome(
        mutation_run,
        stats,
        _tail(result.stdout, 3),
        time.monotonic() - started,
        versions,
    )


def _pinned_versions(text: str, names: Sequence[str]) -> dict[str, str]:
    found = {}
    for name in names:
        match = re.search(rf"^{re.escape(name)}==(\S+)", text, re.MULTILINE)
        if match:
            found[name] = match.group(1)
    return found


def _write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


def mutation_document(
    run_: MutationRun, *, revision: str, fingerprint: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The stored mutation evidence: counts by status (core's format) plus where they come
    from (ignored by the parser)."""
    return {
        **run_.to_dict(),
        "source_revision": revision,
        "source_fingerprint": fingerprint,
        **(extra or {}),
    }
