"""Mutation testing of the service's code with mutmut 3, inside a throwaway container of the
release's own image: the release's Python runs mutmut and the tests, with no network, as the
image's non-root user, on a read-only root with a tmpfs ``/tmp``. Nothing of the service runs
on the host.

On the host: the test wheels (as the tests piece has them) and mutmut's wheels for the
release's Python series — ``pip download --only-binary=:all: --python-version X.Y`` from the
hash pins in ``requirements-mutation-tools.txt`` (mutmut and its dependencies as soakgate's
``uv.lock`` pins them), each cached by pin set — and a copy of the package, the tests and the
test configuration, with mutmut pointed at them. All of it is mounted read-only. In the
container:

1. the copy goes to ``/tmp/work`` (writable: mutmut writes ``mutants/`` beside the source);
2. pip installs the test pins and mutmut's (minus what the test pins already pin) into
   ``/tmp/deps``, no index; the image's own code is taken off ``PYTHONPATH``, so the tests
   import only mutmut's mutated copy;
3. ``mutmut run``, then ``mutmut export-cicd-stats``;
4. ``mutants/**/*.meta`` and the stats file are copied out to ``<work>/out/mutants``.

    layout = ServiceLayout(Path("images/service"), config.service)
    outcome = run_mutation(release, layout, cache=Path(".soakgate/cache"), work=Path("/tmp/m"))
    outcome.run.score          # 85.2 (core.evidence.MutationRun, from mutants/**/*.meta)
    outcome.tools["python"]    # "3.14.0": the release's interpreter ran mutmut

Mutation results depend on the source, not on the image: :func:`source_fingerprint` names the
source that was mutated, and :func:`image_app_files` / :func:`app_files` tell whether the
release's image holds that same code.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.markers import Marker
from packaging.utils import canonicalize_name

from soakgate.adapters.evidence.layout import TEST_TOOLS_REQUIREMENTS, ServiceLayout, pins_key
from soakgate.adapters.evidence.tests import (
    LABELS,
    download_test_wheels,
    evidence_name,
    exec_in,
    image_config,
    image_user,
    make_readable,
    pip_install_argv,
    pip_wheel,
    python_path,
    run_in_image,
    sleep_argv,
    started_container,
)
from soakgate.adapters.images.wheelhouse import download_wheelhouse
from soakgate.adapters.state.evidence import CollectFailed, one_line
from soakgate.core.config import PYTHONS
from soakgate.core.evidence import MutationRun, summarize_mutmut_meta
from soakgate.core.names import digest_ref
from soakgate.core.release import Release

MUTATION_PINS = Path(__file__).with_name("requirements-mutation-tools.txt")
MUTATION_TIMEOUT = 1800.0
STATS_FILE = "mutants/mutmut-cicd-stats.json"
# Mount points and folders in the container.
SOURCE, PINS, OUT = "/source", "/pins", "/out"
TEST_WHEELS, MUTATION_WHEELS = "/test-wheels", "/mutation-wheels"
WORK, DEPS = "/tmp/work", "/tmp/deps"
TEST_PINS, MUTATION_ONLY_PINS = "requirements-test.txt", "requirements-mutation-only.txt"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", re.MULTILINE)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# mutmut's children per core: a mutant's test run waits part of its time (the sample service's
# 455 mutants on 2 cores: 2 children 101 s, 4 80 s, 8 72 s, the same counts each time; 16 no
# faster, and two mutants' outcomes changed under that contention)
MUTANTS_PER_CORE = 2
MUTMUT_MAIN = "from mutmut.__main__ import cli; cli(prog_name='mutmut')"
COPY_IN = "import shutil, sys; shutil.copytree(sys.argv[1], sys.argv[2])"
# mutmut's results, out to the host: meta files and the stats, readable and removable there.
COPY_OUT = (
    "import shutil, sys\n"
    "from pathlib import Path\n"
    "source, dest = Path(sys.argv[1]), Path(sys.argv[2])\n"
    "for path in [*source.rglob('*.meta'), source / 'mutmut-cicd-stats.json']:\n"
    "    if path.is_file():\n"
    "        target = dest / path.relative_to(source)\n"
    "        target.parent.mkdir(parents=True, exist_ok=True)\n"
    "        shutil.copyfile(path, target)\n"
    "        target.chmod(0o666)\n"
    "for folder in [dest, *dest.rglob('*')]:\n"
    "    if folder.is_dir():\n"
    "        folder.chmod(0o777)\n"
)
VERSIONS = (
    "import platform, sys\n"
    "from importlib.metadata import version\n"
    "print(platform.python_version(), sys.executable, version('mutmut'), version('pytest'))\n"
)


@dataclass(frozen=True)
class MutationOutcome:
    """A finished mutmut run: the counts by status and mutmut's own stats file."""

    run: MutationRun
    stats_file: Path
    log_tail: str
    seconds: float
    tools: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


# --- mutmut's pins ---------------------------------------------------------------------------


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


def mutation_pins_text(lock_text: str, series: Sequence[str] = PYTHONS) -> str:
    """The text of ``requirements-mutation-tools.txt``: mutmut's pins for every Python
    ``series`` soakgate builds, a ``python_version`` marker on a pin not all of them need."""
    by_series = {version: mutmut_pins(lock_text, f"{version}.0") for version in series}
    lines = [
        "# mutmut and its dependencies, hash-pinned as soakgate's uv.lock pins them, for the\n",
        f"# Python series soakgate builds ({', '.join(series)}). Generated: do not edit; after a\n",
        "# change of uv.lock, rewrite it with\n",
        "#   python -c 'from soakgate.adapters.evidence.mutation import write_mutation_pins;"
        " write_mutation_pins()'\n",
    ]
    for name in sorted({name for pins in by_series.values() for name in pins}):
        needed = [version for version in series if name in by_series[version]]
        line = next(by_series[version][name] for version in needed)
        if len(needed) < len(series):
            marker = " or ".join(f"python_version == '{version}'" for version in needed)
            requirement, _, hashes = line.partition(" ")
            line = f"{requirement} ; {marker} {hashes}"
        lines.append(line.replace(" --hash=", " \\\n    --hash=") + "\n")
    return "".join(lines)


def write_mutation_pins(lock: Path | None = None) -> Path:
    """Rewrite ``requirements-mutation-tools.txt`` from soakgate's ``uv.lock``."""
    lock = lock or soakgate_lock()
    if lock is None:
        raise CollectFailed("no uv.lock of soakgate: run from soakgate's checkout")
    MUTATION_PINS.write_text(mutation_pins_text(lock.read_text()))
    return MUTATION_PINS


def pin_entries(text: str) -> dict[str, str]:
    """{canonical name: its whole requirement entry, continuation lines joined} of a pin file."""
    entries: dict[str, str] = {}
    for entry in text.replace("\\\n", " ").splitlines():
        match = _PIN.match(entry.strip())
        if match:
            entries[canonicalize_name(match.group(1))] = " ".join(entry.split())
    return entries


def pins_without(text: str, names: Iterable[str]) -> str:
    """The pins of ``text`` whose names are not in ``names`` (each entry on one line)."""
    skipped = {canonicalize_name(name) for name in names}
    kept = [line for name, line in pin_entries(text).items() if name not in skipped]
    return "".join(f"{line}\n" for line in kept)


def download_mutation_wheels(layout: ServiceLayout, series: str, cache: Path) -> Path:
    """Download (or find in place) mutmut's wheels and pip's for Python ``series``, in a
    cache folder of their pin set; return the folder."""
    pip = layout.pip_requirements
    return download_wheelhouse(
        MUTATION_PINS,
        series,
        cache / "mutation-wheels" / pins_key(MUTATION_PINS, pip),
        pip_requirements=pip,
    )


# --- the source -----------------------------------------------------------------------------


def copy_service(layout: ServiceLayout, dest: Path) -> Path:
    """Copy the package, the test paths and the test configuration (no caches) to ``dest``."""
    layout.check()
    ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.pyc", "mutants")
    dest.mkdir(parents=True, exist_ok=True)
    for name in (layout.package, *layout.tests):
        source, target = layout.context / name, dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
    for path in layout.config_files():
        shutil.copy2(path, dest / path.name)
    return dest


def mutmut_settings(layout: ServiceLayout, service: Path) -> dict[str, list[str]]:
    """mutmut's settings for the copy: mutate the package, run the configured tests, copy
    them and the test configuration into ``mutants/``."""
    tests = [f"{path}/" if (service / path).is_dir() else path for path in layout.tests]
    extra = [path.name for path in layout.config_files()]
    return {
        "source_paths": [f"{layout.package}/"],
        "pytest_add_cli_args_test_selection": tests,
        "also_copy": [*tests, *extra],
    }


def configure_mutmut(service: Path, layout: ServiceLayout) -> str:
    """Configure mutmut in the copy ``service``, unless the service configures mutmut itself;
    return where the configuration is (``pyproject.toml`` or ``setup.cfg``)."""
    setup_cfg, pyproject = service / "setup.cfg", service / "pyproject.toml"
    cfg_text = setup_cfg.read_text() if setup_cfg.is_file() else ""
    text = pyproject.read_text() if pyproject.is_file() else ""
    try:
        own = "mutmut" in tomllib.loads(text).get("tool", {})
    except tomllib.TOMLDecodeError as exc:
        raise CollectFailed(
            f"{layout.context / 'pyproject.toml'} is not valid TOML: {exc}"
        ) from None
    if own:
        return "pyproject.toml (the service's own [tool.mutmut])"
    if "[mutmut]" in cfg_text:
        return "setup.cfg (the service's own [mutmut])"
    settings = mutmut_settings(layout, service)
    if pyproject.is_file():
        body = "".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items())
        pyproject.write_text(text.rstrip("\n") + "\n\n[tool.mutmut]\n" + body)
        return "pyproject.toml"
    lines = ["", "[mutmut]"]
    for key, values in settings.items():
        lines += [f"{key} =", *(f"    {value}" for value in values)]
    setup_cfg.write_text(cfg_text + "\n".join(lines) + "\n")
    return "setup.cfg"


def _fingerprinted(layout: ServiceLayout) -> list[tuple[str, Path]]:
    """(name, file) of everything a mutation result depends on, beside the image's Python."""
    context, service = layout.context, layout.service
    files = [*layout.package_files(), *layout.test_files(), *layout.config_files()]
    files += [context / name for name in service.requirements if (context / name).is_file()]
    if service.test_requirements:
        files.append(layout.test_requirements)
    named = sorted({(str(path.relative_to(context)), path) for path in files})
    supplied = (
        [MUTATION_PINS] if service.test_requirements else [TEST_TOOLS_REQUIREMENTS, MUTATION_PINS]
    )
    return named + [(f"soakgate:{path.name}", path) for path in supplied]


def source_fingerprint(layout: ServiceLayout) -> str:
    """SHA-256 over the service's package, tests, test configuration and pins, and over the
    test tools and mutmut pins soakgate supplies: what mutation testing depends on. Two
    releases built from the same source share it."""
    digest = hashlib.sha256()
    for name, path in _fingerprinted(layout):
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def app_files(layout: ServiceLayout) -> dict[str, str]:
    """{path under the package folder: SHA-256} of the package's Python source on the host."""
    folder = layout.context / layout.package
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in layout.package_files()
    }


APP_FILES_SCRIPT = (
    "import hashlib, json, pathlib, sys\n"
    "root = pathlib.Path(sys.argv[1])\n"
    "print(json.dumps({str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()"
    " for p in sorted(root.rglob('*.py')) if '__pycache__' not in p.parts}))\n"
)


def image_app_files(image: str, layout: ServiceLayout) -> dict[str, str]:
    """{path under the package folder: SHA-256} of the Python source inside the release's
    image, at ``<app_dir>/<package>``."""
    folder = layout.image_package
    code, stdout, stderr = run_in_image(image, ["python", "-c", APP_FILES_SCRIPT, folder])
    if code != 0:
        raise CollectFailed(f"cannot read {folder} in {digest_ref(image)}: {one_line(stderr)}")
    files: dict[str, str] = json.loads(stdout)
    return files


# --- the container --------------------------------------------------------------------------


def install_argv(pip_wheel_name: str) -> list[str]:
    """pip installing the test pins and mutmut's into ``/tmp/deps``, no index."""
    return pip_install_argv(
        pip_wheel_name,
        [f"{PINS}/{TEST_PINS}", f"{PINS}/{MUTATION_ONLY_PINS}"],
        find_links=(TEST_WHEELS, MUTATION_WHEELS),
        target=DEPS,
    )


def copy_in_argv() -> list[str]:
    return ["python", "-c", COPY_IN, SOURCE, WORK]


def versions_argv() -> list[str]:
    """Prints: the Python version, its path, mutmut's and pytest's versions."""
    return ["python", "-c", VERSIONS]


def mutmut_run_argv(max_children: int) -> list[str]:
    return ["python", "-c", MUTMUT_MAIN, "run", "--max-children", str(max_children)]


def mutmut_stats_argv() -> list[str]:
    return ["python", "-c", MUTMUT_MAIN, "export-cicd-stats"]


def copy_out_argv() -> list[str]:
    return ["python", "-c", COPY_OUT, f"{WORK}/mutants", f"{OUT}/mutants"]


def container_kwargs(
    image: str,
    *,
    name: str,
    config: Mapping[str, Any],
    layout: ServiceLayout,
    mounts: Mapping[str, Path],
    timeout: float,
) -> dict[str, Any]:
    """Docker SDK ``containers.create`` arguments: offline, read-only root, non-root, a tmpfs
    ``/tmp`` (exec allowed: the wheels' .so files) and ``mounts`` ({container path: host
    folder}, read-only but ``/out``); the image's own code is taken off ``PYTHONPATH``."""
    return {
        "image": image,
        "command": sleep_argv(timeout),
        "name": name,
        "user": image_user(config),
        "working_dir": "/tmp",
        "network_mode": "none",
        "read_only": True,
        "tmpfs": {"/tmp": "rw,exec,nosuid,size=1g"},
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "mem_limit": "3g",
        "environment": {
            "PYTHONPATH": python_path(config, DEPS, without=layout.image_import_root),
            "HOME": "/tmp",
        },
        "volumes": {
            str(host): {"bind": path, "mode": "rw" if path == OUT else "ro"}
            for path, host in mounts.items()
        },
        "labels": LABELS,
    }


# --- the run --------------------------------------------------------------------------------


def _tail(text: str, lines: int) -> str:
    """The last lines of ``text`` without terminal control sequences and spinner frames."""
    cleaned = _ANSI.sub("", text).replace("\r", "\n")
    kept = [line.strip() for line in cleaned.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def prepare_pins(layout: ServiceLayout, dest: Path) -> Path:
    """The pin files the container installs from: the test pins, and mutmut's minus the
    names the test pins already pin (one version of each)."""
    dest.mkdir(parents=True, exist_ok=True)
    tests = layout.test_requirements.read_text()
    (dest / TEST_PINS).write_text(tests)
    (dest / MUTATION_ONLY_PINS).write_text(
        pins_without(MUTATION_PINS.read_text(), pinned_names([tests]))
    )
    make_readable(dest)
    return dest


def run_mutation(
    release: Release,
    layout: ServiceLayout,
    *,
    cache: Path,
    work: Path,
    max_children: int | None = None,
    timeout: float = MUTATION_TIMEOUT,
    namespace: str = "",
) -> MutationOutcome:
    """Run mutmut on a copy of the service in a throwaway container of the release's image;
    return the counts by status. The container is removed afterwards, even on failure."""
    started = time.monotonic()
    series = release.python_series
    config = image_config(release.digest)
    test_wheels = download_test_wheels(layout, series, cache)
    mutation_wheels = download_mutation_wheels(layout, series, cache)
    source = copy_service(layout, work / "source")
    where = configure_mutmut(source, layout)
    make_readable(source)
    out = work / "out"
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o777)  # the image's non-root user writes the results
    mounts = {
        SOURCE: source,
        PINS: prepare_pins(layout, work / "pins"),
        TEST_WHEELS: test_wheels,
        MUTATION_WHEELS: mutation_wheels,
        OUT: out,
    }
    children = max_children or MUTANTS_PER_CORE * len(os.sched_getaffinity(0))
    kwargs = container_kwargs(
        release.digest,
        name=evidence_name("mutation", namespace),
        config=config,
        layout=layout,
        mounts=mounts,
        timeout=timeout,
    )
    with started_container(f"mutmut in {release.short}", kwargs) as container:
        deadline = started + timeout
        _step(container, copy_in_argv(), deadline, "copying the source into the container")
        _step(container, install_argv(pip_wheel(test_wheels)), deadline, "installing mutmut")
        python, interpreter, mutmut, pytest = _step(
            container, versions_argv(), deadline, "asking mutmut's versions"
        ).split()[-4:]
        code, log = exec_in(container, mutmut_run_argv(children), deadline, workdir=WORK)
        if code != 0:
            raise CollectFailed(f"mutmut run failed (exit {code}): {_tail(log, 1)}")
        _step(container, mutmut_stats_argv(), deadline, "mutmut export-cicd-stats", WORK)
        _step(container, copy_out_argv(), deadline, "copying mutmut's results out")
    stats = out / STATS_FILE
    if not stats.is_file():
        raise CollectFailed(f"mutmut export-cicd-stats wrote no {STATS_FILE}")
    metas = sorted((out / "mutants").rglob("*.meta"))
    mutation_run = summarize_mutmut_meta(path.read_text() for path in metas)
    return MutationOutcome(
        mutation_run,
        stats,
        _tail(log, 3),
        time.monotonic() - started,
        {"python": python, "mutmut": mutmut, "pytest": pytest},
        {
            "image": release.digest,
            "interpreter": interpreter,
            "max_children": children,
            "mutmut_config": where,
        },
    )


def _step(
    container: Any, argv: list[str], deadline: float, what: str, workdir: str | None = None
) -> str:
    """Run one step in the container; CollectFailed (with its last line) unless it exits 0."""
    code, text = exec_in(container, argv, deadline, workdir=workdir)
    if code != 0:
        raise CollectFailed(f"{what} failed (exit {code}): {_tail(text, 1) or 'no output'}")
    return text


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
