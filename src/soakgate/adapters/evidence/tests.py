"""Run the service's own tests inside a container of the release's image, as the image's
non-root user, with no network: the evidence says the code *in the image* passes its tests.

The runtime image holds no pytest, so the hash-pinned test wheels (the service's
``test_requirements``, or soakgate's own pytest + coverage when it names none, plus pip's pin)
are downloaded on the host for the release's Python series and mounted read-only; pip installs
them into ``/tmp/testdeps`` (a tmpfs) with no index. The configured test paths and the test
configuration files (never the package) are copied into a suite; the tests run under
``coverage run --source=<app_dir>/<package>``, which measures the package where the image has
it, from ``app_dir`` (so files are named as in the context: ``src/plainsvc/routes.py``).

    layout = ServiceLayout(Path("images/service"), config.service)
    wheels = download_test_wheels(layout, "3.14", cache=Path(".soakgate/cache"))
    outcome = run_tests_in_image(release, layout, wheels, work=Path("/tmp/x"))
    outcome.junit, outcome.coverage, outcome.exit_code     # files in /tmp/x/out, pytest's exit

:func:`run_in_image` runs one command in a throwaway container of an image, and
:func:`exec_in` one step in a running one (other evidence collectors use them too).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import threading
import time
import tomllib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors

from soakgate.adapters.docker import engine as docker_engine
from soakgate.adapters.evidence.layout import ServiceLayout, pins_key
from soakgate.adapters.images.wheelhouse import PIP_REQUIREMENTS, download_wheelhouse
from soakgate.adapters.state.evidence import CollectFailed, one_line
from soakgate.core.names import LABEL_MANAGED, LABEL_PURPOSE, digest_ref
from soakgate.core.release import Release

SUITE, WHEELS, OUT, TESTDEPS = "/suite", "/wheels", "/out", "/tmp/testdeps"
SUITE_REQUIREMENTS = "requirements-test.soakgate.txt"  # the test pins, as the suite holds them
COVERAGE_RC = ".coveragerc"
DEFAULT_USER = "10001:10001"
TESTS_TIMEOUT = 600.0
LABELS = {LABEL_MANAGED: "true", LABEL_PURPOSE: "evidence"}
# Keys of the service's own coverage settings that the run inside the image decides itself.
_COVERAGE_OVERRIDDEN = {
    "source",
    "source_pkgs",
    "data_file",
    "relative_files",
    "parallel",
    "fail_under",
    "command_line",
    "include",
}


@dataclass(frozen=True)
class TestsOutcome:
    """What the test run in the image left: report files, pytest's exit code, its output."""

    __test__ = False  # not a pytest test class

    junit: Path
    coverage: Path | None
    exit_code: int
    log: str
    coverage_error: str | None = None
    tools: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


# --- the image ------------------------------------------------------------------------------


def image_config(image: str) -> dict[str, Any]:
    """The image's ``Config`` (User, Env, WorkingDir …); CollectFailed when it is not here."""
    try:
        attrs = docker_engine.client().images.get(image).attrs
    except docker.errors.ImageNotFound:
        raise CollectFailed(f"release image {image} is not on this Docker host") from None
    config: dict[str, Any] = attrs.get("Config") or {}
    return config


def image_env(config: Mapping[str, Any]) -> dict[str, str]:
    """The image's environment as a dict."""
    pairs = (item.split("=", 1) for item in config.get("Env") or [] if "=" in item)
    return dict(pairs)


def image_user(config: Mapping[str, Any]) -> str:
    """The image's configured user; the service's uid 10001 when it names none or root."""
    user = str(config.get("User") or "")
    return DEFAULT_USER if user.split(":")[0] in ("", "root", "0") else user


def run_in_image(
    image: str,
    argv: Sequence[str],
    *,
    timeout: float = 120.0,
    name: str | None = None,
    environment: Mapping[str, str] | None = None,
) -> tuple[int, str, str]:
    """Run ``argv`` in a throwaway container of ``image`` (no network, read-only, non-root);
    return (exit code, stdout, stderr). The container is removed afterwards, even on failure.

        code, out, err = run_in_image("sha256:…", ["python", "-c", "print(1)"])
    """
    kwargs = {
        "image": image,
        "command": list(argv),
        "name": name or evidence_name("run"),
        "user": image_user(image_config(image)),
        "network_mode": "none",
        "read_only": True,
        "tmpfs": {"/tmp": "rw,nosuid,size=64m"},
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "mem_limit": "512m",
        "environment": dict(environment or {}),
        "labels": LABELS,
    }
    with started_container(f"a container of {digest_ref(image)}", kwargs) as container:
        try:
            status = container.wait(timeout=timeout)
        except Exception as exc:  # requests' ReadTimeout or ConnectionError: the deadline
            raise CollectFailed(
                f"{' '.join(argv[:3])} in {digest_ref(image)} did not finish within {timeout:.0f} s"
            ) from exc
        stdout = container.logs(stdout=True, stderr=False).decode(errors="replace")
        stderr = container.logs(stdout=False, stderr=True).decode(errors="replace")
        return int(status.get("StatusCode", -1)), stdout, stderr


@contextlib.contextmanager
def started_container(what: str, kwargs: dict[str, Any]) -> Iterator[Any]:
    """A container created from ``kwargs`` and started; removed (forced) when the block ends,
    however it ends. An engine error on the way is CollectFailed: "cannot run ``what``"."""
    container = None
    try:
        container = docker_engine.client().containers.create(**kwargs)
        container.start()
        yield container
    except docker.errors.APIError as exc:
        raise CollectFailed(f"cannot run {what}: {exc.explanation or exc}") from exc
    finally:
        if container is not None:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)


def evidence_name(what: str, namespace: str = "") -> str:
    """A unique container name: ``[<namespace>-]soakgate-evidence-<what>-<hex>``."""
    prefix = f"{namespace}-" if namespace else ""
    return f"{prefix}soakgate-evidence-{what}-{uuid.uuid4().hex[:8]}"


# --- what goes into the container -----------------------------------------------------------


def download_test_wheels(layout: ServiceLayout, series: str, cache: Path) -> Path:
    """Download (or find in place) the test wheels and pip's for Python ``series``, in a cache
    folder of their own pin set; return the folder."""
    pins, pip = layout.test_requirements, layout.pip_requirements
    return download_wheelhouse(
        pins, series, cache / "test-wheels" / pins_key(pins, pip), pip_requirements=pip
    )


_WHEEL = re.compile(r"^(?P<name>[A-Za-z0-9_.]+)-(?P<version>[^-]+)-.*\.whl$")


def wheel_versions(folder: Path) -> dict[str, str]:
    """{distribution: version} of the wheels in ``folder`` (names as in the wheel file)."""
    found = {}
    for path in sorted(folder.glob("*.whl")):
        match = _WHEEL.match(path.name)
        if match:
            found[match["name"].lower().replace("_", "-")] = match["version"]
    return found


def pip_wheel(folder: Path) -> str:
    """The file name of the pip wheel in ``folder``."""
    wheels = sorted(folder.glob("pip-*-py3-none-any.whl"))
    if not wheels:
        raise CollectFailed(f"no pip wheel in {folder}: is pip pinned in {PIP_REQUIREMENTS}?")
    return wheels[-1].name


def coverage_rc(pyproject_text: str | None, layout: ServiceLayout) -> str:
    """A coverage.py rc file: the service's own ``[tool.coverage]`` settings, but measuring
    the package in the image and naming its files as in the context (``[paths]`` maps one to
    the other)."""
    settings: dict[str, Any] = {}
    if pyproject_text:
        with contextlib.suppress(tomllib.TOMLDecodeError):
            settings = tomllib.loads(pyproject_text).get("tool", {}).get("coverage", {})
    run = {k: v for k, v in settings.get("run", {}).items() if k not in _COVERAGE_OVERRIDDEN}
    run.setdefault("branch", True)
    run.update({"relative_files": True, "data_file": "/tmp/.coverage"})
    report = {k: v for k, v in settings.get("report", {}).items() if k not in _COVERAGE_OVERRIDDEN}
    sections = {
        "run": run,
        "paths": {"source": [f"{layout.package}/", f"{layout.image_package}/"]},
        "report": report,
    }
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            lines.append(f"{key} = {_ini_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _ini_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "".join(f"\n    {item}" for item in value)
    return str(value)


def prepare_suite(layout: ServiceLayout, dest: Path) -> Path:
    """Copy the service's test paths, its test configuration and its test pins (never the
    package) into ``dest``, with a coverage rc for the run in the image."""
    layout.check()
    context = layout.context
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache")
    for name in layout.tests:
        source, target = context / name, dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
    for path in layout.config_files():
        shutil.copy2(path, dest / path.name)
    shutil.copy2(layout.test_requirements, dest / SUITE_REQUIREMENTS)
    pyproject = context / "pyproject.toml"
    text = pyproject.read_text() if pyproject.is_file() else None
    (dest / COVERAGE_RC).write_text(coverage_rc(text, layout))
    make_readable(dest)
    return dest


def make_readable(folder: Path) -> None:
    """Let the container's non-root user read (and traverse) everything under ``folder``."""
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def pip_install_argv(
    pip_wheel_name: str,
    requirements: Sequence[str] = (f"{SUITE}/{SUITE_REQUIREMENTS}",),
    *,
    find_links: Sequence[str] = (WHEELS,),
    target: str = TESTDEPS,
) -> list[str]:
    """pip (run from its wheel in the first ``find_links``) installing hash-pinned
    ``requirements`` into ``target`` (a tmpfs), no index."""
    argv = ["python", f"{find_links[0]}/{pip_wheel_name}/pip", "install", "--no-index"]
    for folder in find_links:
        argv += ["--find-links", folder]
    argv += [
        "--require-hashes",
        "--no-cache-dir",
        "--no-compile",
        "--disable-pip-version-check",
        "--no-warn-script-location",
        "--quiet",
        "--target",
        target,
    ]
    for path in requirements:
        argv += ["-r", path]
    return argv


def suite_args(layout: ServiceLayout) -> list[str]:
    """pytest's arguments for the service's tests in the suite folder, no cache written."""
    return ["-p", "no:cacheprovider", f"--rootdir={SUITE}", *(f"{SUITE}/{p}" for p in layout.tests)]


def pytest_argv(layout: ServiceLayout) -> list[str]:
    """The service's tests under coverage, measuring the package where the image has it."""
    return [
        "python",
        "-m",
        "coverage",
        "run",
        f"--rcfile={SUITE}/{COVERAGE_RC}",
        f"--source={layout.image_package}",
        "-m",
        "pytest",
        f"--junitxml={OUT}/junit.xml",
        "-o",
        "junit_family=xunit2",
        *suite_args(layout),
    ]


def coverage_json_argv() -> list[str]:
    return [
        "python",
        "-m",
        "coverage",
        "json",
        f"--rcfile={SUITE}/{COVERAGE_RC}",
        "-o",
        f"{OUT}/coverage.json",
    ]


def python_path(config: Mapping[str, Any], *extra: str, without: str = "") -> str:
    """The image's ``PYTHONPATH`` with ``extra`` folders after it (once each), ``without``
    one folder."""
    folders: list[str] = []
    for folder in [*image_env(config).get("PYTHONPATH", "").split(":"), *extra]:
        if folder and folder != without and folder not in folders:
            folders.append(folder)
    return ":".join(folders)


def container_kwargs(
    image: str,
    *,
    name: str,
    config: Mapping[str, Any],
    layout: ServiceLayout,
    suite: Path,
    wheels: Path,
    out: Path,
    timeout: float,
) -> dict[str, Any]:
    """Docker SDK ``containers.create`` arguments: a container that sleeps ``timeout`` seconds
    (so it stops by itself at the deadline) while the steps run in it with ``exec``. It works
    in ``app_dir``, so coverage names the package's files as the context does."""
    return {
        "image": image,
        "command": sleep_argv(timeout),
        "name": name,
        "user": image_user(config),
        "working_dir": layout.service.app_dir,
        "network_mode": "none",
        "read_only": True,
        "tmpfs": {"/tmp": "rw,exec,nosuid,size=512m"},  # exec: the test wheels' .so files
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "mem_limit": "1g",
        "environment": {
            "PYTHONPATH": python_path(config, layout.image_import_root, TESTDEPS),
            "HOME": "/tmp",
            "PYTHONDONTWRITEBYTECODE": "1",
        },
        "volumes": {
            str(suite): {"bind": SUITE, "mode": "ro"},
            str(wheels): {"bind": WHEELS, "mode": "ro"},
            str(out): {"bind": OUT, "mode": "rw"},
        },
        "labels": LABELS,
    }


def sleep_argv(timeout: float) -> list[str]:
    """The container's own command: sleep until the deadline (the steps run with exec)."""
    return ["python", "-c", f"import time; time.sleep({timeout:.0f})"]


# --- the run --------------------------------------------------------------------------------


@contextlib.contextmanager
def suite_container(
    image: str,
    layout: ServiceLayout,
    wheels: Path,
    work: Path,
    *,
    name: str,
    what: str,
    deadline: float,
    environment: Mapping[str, str] | None = None,
) -> Iterator[Any]:
    """A running container of ``image`` (``environment`` added) with the service's suite in
    ``work/suite``, ``work/out`` for reports and the test wheels installed; removed when the
    block ends. CollectFailed when the wheels do not install."""
    suite = prepare_suite(layout, work / "suite")
    out = work / "out"
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o777)  # the image's non-root user writes the reports
    kwargs = container_kwargs(
        image,
        name=name,
        config=image_config(image),
        layout=layout,
        suite=suite,
        wheels=wheels,
        out=out,
        timeout=deadline - time.monotonic(),
    )
    kwargs["environment"] = {**kwargs["environment"], **(environment or {})}
    with started_container(what, kwargs) as container:
        code, text = exec_in(container, pip_install_argv(pip_wheel(wheels)), deadline)
        if code != 0:
            raise CollectFailed(
                f"{what}: installing the test wheels in the image failed (exit {code}):"
                f" {last_line(text)}"
            )
        yield container


def run_tests_in_image(
    release: Release,
    layout: ServiceLayout,
    wheels: Path,
    work: Path,
    *,
    timeout: float = TESTS_TIMEOUT,
    namespace: str = "",
) -> TestsOutcome:
    """Install the test wheels, run the tests under coverage and write the reports, in a
    container of the release's image; the container is removed afterwards, even on failure.

    A failing test is not a failure of this function (the JUnit report says it); a run that
    leaves no JUnit report is (CollectFailed with the reason).
    """
    started = time.monotonic()
    deadline = started + timeout
    with suite_container(
        release.digest,
        layout,
        wheels,
        work,
        name=evidence_name("tests", namespace),
        what=f"the tests in {release.short}",
        deadline=deadline,
    ) as container:
        out = work / "out"
        tools = {"python": interpreter_version(container, deadline), **_tool_versions(wheels)}
        exit_code, log = exec_in(container, pytest_argv(layout), deadline)
        junit = out / "junit.xml"
        if not junit.is_file():
            raise CollectFailed(
                f"pytest wrote no JUnit report (exit {exit_code}): {last_line(log)}"
            )
        code, text = exec_in(container, coverage_json_argv(), deadline)
        coverage = out / "coverage.json"
        coverage_error = None
        if not coverage.is_file():
            coverage_error = f"coverage json wrote no report (exit {code}): {last_line(text)}"
        return TestsOutcome(
            junit,
            coverage if coverage.is_file() else None,
            exit_code,
            log,
            coverage_error,
            tools,
            time.monotonic() - started,
        )


def interpreter_version(container: Any, deadline: float) -> str:
    """The full version of the image's ``python``, asked in the running container."""
    argv = ["python", "-c", "import platform; print(platform.python_version())"]
    code, text = exec_in(container, argv, deadline)
    if code != 0:
        raise CollectFailed(f"python does not run in the image (exit {code}): {last_line(text)}")
    return text.strip()


def exec_in(
    container: Any, argv: list[str], deadline: float, *, workdir: str | None = None
) -> tuple[int, str]:
    """Run ``argv`` in the container (in ``workdir``, else its working directory); return
    (exit code, stdout + stderr). CollectFailed when the deadline passes first."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise CollectFailed(f"no time left for {' '.join(argv[:4])} in the image")
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = container.exec_run(argv, demux=True, workdir=workdir)
        except Exception as exc:  # reported below; the thread must not die silently
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(left)
    if thread.is_alive() or ("error" in result and time.monotonic() >= deadline):
        with contextlib.suppress(docker.errors.APIError):
            container.kill()
        raise CollectFailed(f"{' '.join(argv[:4])} did not finish within the time limit")
    if "error" in result:
        error = result["error"]
        if isinstance(error, docker.errors.APIError):
            raise error
        raise CollectFailed(f"{' '.join(argv[:4])}: {error}")
    exit_code, (stdout, stderr) = result["value"]
    text = (stdout or b"").decode(errors="replace") + (stderr or b"").decode(errors="replace")
    return (exit_code if exit_code is not None else -1), text


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return one_line(lines[-1]) if lines else "no output"


def _tool_versions(wheels: Path) -> dict[str, str]:
    versions = wheel_versions(wheels)
    return {name: versions[name] for name in ("pytest", "coverage", "pip") if name in versions}
