"""The tests and mutation pieces for any service soakgate.toml describes: where the package,
tests and pins are, the argv and container arguments of each step, mutmut's configuration and
pins, the fingerprint. No Docker: the runs themselves are in tests/integration."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from soakgate.adapters.evidence import mutation, tests
from soakgate.adapters.evidence.layout import TEST_TOOLS_REQUIREMENTS, ServiceLayout, pins_key
from soakgate.adapters.evidence.mutation import (
    MUTATION_PINS,
    configure_mutmut,
    copy_service,
    mutation_pins_text,
    mutmut_pins,
    pin_entries,
    pinned_names,
    pins_without,
    prepare_pins,
    soakgate_lock,
    source_fingerprint,
)
from soakgate.adapters.evidence.tests import (
    container_kwargs,
    coverage_json_argv,
    coverage_rc,
    image_user,
    pip_install_argv,
    prepare_suite,
    pytest_argv,
    python_path,
)
from soakgate.adapters.images.wheelhouse import OWN_PIP_REQUIREMENTS
from soakgate.adapters.state.evidence import CollectFailed
from soakgate.core.config import ServiceConfig, parse_config

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ServiceConfig()  # the sample: app/, tests/, its own pins, /opt/service
PLAIN = parse_config(
    tomllib.loads((ROOT / "images" / "plainsvc" / "soakgate.toml").read_text())
).service
SAMPLE_IMAGE = {"User": "10001:10001", "Env": ["PYTHONPATH=/opt/service:/opt/service/site"]}
PLAIN_IMAGE = {"User": "10001:10001", "Env": ["PYTHONPATH=/srv/plainsvc/src"]}


@pytest.fixture
def sample() -> ServiceLayout:
    return ServiceLayout(ROOT / "images" / "service", SERVICE)


@pytest.fixture
def plain() -> ServiceLayout:
    return ServiceLayout(ROOT / "images" / "plainsvc", PLAIN)


# --- the layout -----------------------------------------------------------------------------


def test_layout_of_the_sample_service(sample: ServiceLayout) -> None:
    assert (sample.import_name, sample.image_package) == ("app", "/opt/service/app")
    assert sample.image_import_root == "/opt/service"
    assert sample.test_requirements == ROOT / "images/service/requirements-test.txt"
    assert sample.pip_requirements == ROOT / "images/service/requirements-pip.txt"


def test_layout_of_a_src_layout_stdlib_service(plain: ServiceLayout) -> None:
    assert (plain.package, plain.import_name) == ("src/plainsvc", "plainsvc")
    assert plain.image_package == "/srv/plainsvc/src/plainsvc"
    assert plain.image_import_root == "/srv/plainsvc/src"
    assert plain.tests == ("checks",)
    assert plain.test_requirements == TEST_TOOLS_REQUIREMENTS  # soakgate's own pytest
    assert plain.pip_requirements == OWN_PIP_REQUIREMENTS  # no requirements at all


def test_missing_test_paths_and_packages_are_named(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    layout = ServiceLayout(tmp_path, ServiceConfig(package="lib", test_requirements=""))
    with pytest.raises(CollectFailed, match=r"no tests in .*\(service.tests in soakgate.toml\)"):
        layout.check()
    with pytest.raises(CollectFailed, match=r"no package folder app/"):
        ServiceLayout(tmp_path, ServiceConfig(test_requirements="")).check()


def test_pins_key_follows_the_pin_texts(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("pytest==9.2.0\n")
    first = pins_key(tmp_path / "a.txt", OWN_PIP_REQUIREMENTS)
    (tmp_path / "a.txt").write_text("pytest==9.1.0\n")
    assert pins_key(tmp_path / "a.txt", OWN_PIP_REQUIREMENTS) != first


# --- the tests in the image -----------------------------------------------------------------


def test_pip_installs_the_test_wheels_into_the_tmpfs_with_no_index() -> None:
    assert pip_install_argv("pip-26.3-py3-none-any.whl") == [
        "python",
        "/wheels/pip-26.3-py3-none-any.whl/pip",
        "install",
        "--no-index",
        "--find-links",
        "/wheels",
        "--require-hashes",
        "--no-cache-dir",
        "--no-compile",
        "--disable-pip-version-check",
        "--no-warn-script-location",
        "--quiet",
        "--target",
        "/tmp/testdeps",
        "-r",
        "/suite/requirements-test.soakgate.txt",
    ]


def test_pytest_measures_the_package_where_the_image_has_it(
    sample: ServiceLayout, plain: ServiceLayout
) -> None:
    assert pytest_argv(sample)[4:6] == ["--rcfile=/suite/.coveragerc", "--source=/opt/service/app"]
    assert pytest_argv(sample)[-1] == "/suite/tests"
    assert pytest_argv(plain)[5] == "--source=/srv/plainsvc/src/plainsvc"
    assert pytest_argv(plain)[-1] == "/suite/checks"
    assert "--junitxml=/out/junit.xml" in pytest_argv(plain)
    assert coverage_json_argv()[-2:] == ["-o", "/out/coverage.json"]


def test_several_test_paths_are_all_run(tmp_path: Path) -> None:
    layout = ServiceLayout(tmp_path, ServiceConfig(tests=("tests/unit/", "test_smoke.py")))
    assert pytest_argv(layout)[-2:] == ["/suite/tests/unit", "/suite/test_smoke.py"]


def test_tests_container_is_offline_read_only_and_non_root(
    tmp_path: Path, sample: ServiceLayout
) -> None:
    kwargs = container_kwargs(
        "sha256:a",
        name="t",
        config=SAMPLE_IMAGE,
        layout=sample,
        suite=tmp_path / "s",
        wheels=tmp_path / "w",
        out=tmp_path / "o",
        timeout=600,
    )
    assert kwargs["network_mode"] == "none" and kwargs["read_only"] is True
    assert kwargs["user"] == "10001:10001"
    assert kwargs["working_dir"] == "/opt/service"  # coverage names files app/… from here
    assert kwargs["tmpfs"] == {"/tmp": "rw,exec,nosuid,size=512m"}  # coverage's C tracer
    assert kwargs["environment"]["PYTHONPATH"] == "/opt/service:/opt/service/site:/tmp/testdeps"
    assert kwargs["volumes"][str(tmp_path / "w")] == {"bind": "/wheels", "mode": "ro"}
    assert kwargs["volumes"][str(tmp_path / "s")] == {"bind": "/suite", "mode": "ro"}
    assert kwargs["volumes"][str(tmp_path / "o")] == {"bind": "/out", "mode": "rw"}
    assert kwargs["command"][-1] == "import time; time.sleep(600)"  # stops at the deadline


def test_tests_container_of_a_src_layout_service(tmp_path: Path, plain: ServiceLayout) -> None:
    kwargs = container_kwargs(
        "sha256:a",
        name="t",
        config={"User": "10001:10001"},  # an image that sets no PYTHONPATH
        layout=plain,
        suite=tmp_path / "s",
        wheels=tmp_path / "w",
        out=tmp_path / "o",
        timeout=60,
    )
    assert kwargs["working_dir"] == "/srv/plainsvc"
    assert kwargs["environment"]["PYTHONPATH"] == "/srv/plainsvc/src:/tmp/testdeps"


def test_python_path_keeps_the_image_order_and_drops_one_folder() -> None:
    assert python_path(SAMPLE_IMAGE, "/tmp/deps", without="/opt/service") == (
        "/opt/service/site:/tmp/deps"
    )
    assert python_path(PLAIN_IMAGE, "/srv/plainsvc/src") == "/srv/plainsvc/src"


@pytest.mark.parametrize(
    ("user", "expected"), [("", "10001:10001"), ("root", "10001:10001"), ("app:app", "app:app")]
)
def test_tests_never_run_as_root(user: str, expected: str) -> None:
    assert image_user({"User": user}) == expected


def test_coverage_rc_keeps_the_service_settings_but_maps_the_image_paths(
    sample: ServiceLayout, plain: ServiceLayout
) -> None:
    pyproject = (
        '[tool.coverage.run]\nsource = ["app"]\nbranch = true\n'
        "[tool.coverage.report]\nfail_under = 90\nexclude_also = ['if __name__ == \"__main__\":']\n"
    )
    rc = coverage_rc(pyproject, sample)
    assert "branch = true" in rc and "relative_files = true" in rc
    assert "fail_under" not in rc and "source = app" not in rc
    assert '\n    if __name__ == "__main__":' in rc
    assert "[paths]\nsource = \n    app/\n    /opt/service/app/" in rc
    rc = coverage_rc(None, plain)
    assert "[paths]\nsource = \n    src/plainsvc/\n    /srv/plainsvc/src/plainsvc/" in rc


def test_suite_holds_the_tests_config_and_pins_never_the_package(
    tmp_path: Path, plain: ServiceLayout
) -> None:
    suite = prepare_suite(plain, tmp_path / "suite")
    assert (suite / "checks" / "test_routes.py").is_file()
    assert (suite / "pyproject.toml").is_file() and not (suite / "src").exists()
    text = (suite / tests.SUITE_REQUIREMENTS).read_text()
    assert text == TEST_TOOLS_REQUIREMENTS.read_text()  # soakgate's pytest + coverage


def test_suite_of_the_sample_service_has_its_own_pins(
    tmp_path: Path, sample: ServiceLayout
) -> None:
    suite = prepare_suite(sample, tmp_path / "suite")
    assert (suite / tests.SUITE_REQUIREMENTS).read_text() == sample.test_requirements.read_text()
    assert (suite / "tests" / "conftest.py").is_file() and not (suite / "app").exists()


# --- mutation in the image ------------------------------------------------------------------


def test_mutmut_is_installed_with_the_test_pins_into_the_tmpfs() -> None:
    argv = mutation.install_argv("pip-26.3-py3-none-any.whl")
    assert argv[:2] == ["python", "/test-wheels/pip-26.3-py3-none-any.whl/pip"]
    assert argv[4:8] == ["--find-links", "/test-wheels", "--find-links", "/mutation-wheels"]
    assert argv[-6:] == [
        "--target",
        "/tmp/deps",
        "-r",
        "/pins/requirements-test.txt",
        "-r",
        "/pins/requirements-mutation-only.txt",
    ]
    assert "--no-index" in argv and "--require-hashes" in argv


def test_mutmut_runs_from_its_module_in_the_image_python() -> None:
    main = "from mutmut.__main__ import cli; cli(prog_name='mutmut')"
    assert mutation.mutmut_run_argv(2) == ["python", "-c", main, "run", "--max-children", "2"]
    assert mutation.mutmut_stats_argv() == ["python", "-c", main, "export-cicd-stats"]
    assert mutation.copy_in_argv()[-2:] == ["/source", "/tmp/work"]
    assert mutation.copy_out_argv()[-2:] == ["/tmp/work/mutants", "/out/mutants"]


def test_mutation_container_is_offline_read_only_non_root_without_the_image_code(
    tmp_path: Path, plain: ServiceLayout
) -> None:
    mounts = {"/source": tmp_path / "s", "/pins": tmp_path / "p", "/out": tmp_path / "o"}
    kwargs = mutation.container_kwargs(
        "sha256:a", name="m", config=PLAIN_IMAGE, layout=plain, mounts=mounts, timeout=900
    )
    assert kwargs["network_mode"] == "none" and kwargs["read_only"] is True
    assert kwargs["user"] == "10001:10001" and kwargs["cap_drop"] == ["ALL"]
    assert kwargs["environment"]["PYTHONPATH"] == "/tmp/deps"  # not /srv/plainsvc/src
    assert kwargs["tmpfs"] == {"/tmp": "rw,exec,nosuid,size=1g"}  # libcst's .so loads
    assert kwargs["volumes"][str(tmp_path / "s")] == {"bind": "/source", "mode": "ro"}
    assert kwargs["volumes"][str(tmp_path / "o")] == {"bind": "/out", "mode": "rw"}
    assert kwargs["command"][-1] == "import time; time.sleep(900)"


def test_copy_for_mutation_holds_package_tests_and_config(
    tmp_path: Path, plain: ServiceLayout
) -> None:
    copy = copy_service(plain, tmp_path / "copy")
    assert sorted(path.name for path in copy.iterdir()) == ["checks", "pyproject.toml", "src"]
    assert (copy / "src" / "plainsvc" / "routes.py").is_file()


def test_mutmut_is_pointed_at_the_configured_package_and_tests(
    tmp_path: Path, plain: ServiceLayout
) -> None:
    copy = copy_service(plain, tmp_path / "copy")
    assert configure_mutmut(copy, plain) == "pyproject.toml"
    settings = tomllib.loads((copy / "pyproject.toml").read_text())["tool"]["mutmut"]
    assert settings["source_paths"] == ["src/plainsvc/"]
    assert settings["pytest_add_cli_args_test_selection"] == ["checks/"]
    assert settings["also_copy"] == ["checks/", "pyproject.toml"]
    text = (copy / "pyproject.toml").read_text()
    assert configure_mutmut(copy, plain).startswith("pyproject.toml (the service's own")
    assert (copy / "pyproject.toml").read_text() == text


def test_mutmut_goes_to_setup_cfg_without_a_pyproject(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    layout = ServiceLayout(tmp_path, ServiceConfig(tests=("tests", "test_x.py")))
    (tmp_path / "tests").mkdir()
    assert configure_mutmut(tmp_path, layout) == "setup.cfg"
    text = (tmp_path / "setup.cfg").read_text()
    assert "[mutmut]\nsource_paths =\n    app/\n" in text
    assert "pytest_add_cli_args_test_selection =\n    tests/\n    test_x.py\n" in text


def test_mutmut_pins_follow_markers_and_extras() -> None:
    pins = mutmut_pins(LOCK, "3.12.1")
    assert sorted(pins) == ["libcst", "linkify-it-py", "markdown-it-py", "mutmut", "textual"]
    assert pins["libcst"] == "libcst==1.9.0 --hash=sha256:b1 --hash=sha256:b2"
    assert "toml" in mutmut_pins(LOCK, "3.10.13")


def test_pin_file_marks_a_pin_not_every_series_needs() -> None:
    text = mutation_pins_text(LOCK, ("3.10", "3.12"))
    assert "toml==0.10.2 ; python_version == '3.10' \\\n    --hash=sha256:cc\n" in text
    assert "libcst==1.9.0 \\\n    --hash=sha256:b1 \\\n    --hash=sha256:b2\n" in text


def test_shipped_mutmut_pins_follow_soakgates_lock() -> None:
    lock = soakgate_lock()
    assert lock is not None
    assert MUTATION_PINS.read_text() == mutation_pins_text(lock.read_text()), (
        "requirements-mutation-tools.txt is out of step with uv.lock: run"
        " write_mutation_pins() (see the file's header)"
    )
    assert "mutmut==3.8.1" in MUTATION_PINS.read_text()


def test_mutmut_pins_leave_out_what_the_test_pins_pin(
    tmp_path: Path, sample: ServiceLayout
) -> None:
    pins = prepare_pins(sample, tmp_path / "pins")
    only = pin_entries((pins / "requirements-mutation-only.txt").read_text())
    assert "mutmut" in only and "libcst" in only
    assert "pytest" not in only and "coverage" not in only  # the service pins its own
    assert only["click"].startswith("click==8.5.1 --hash=sha256:")


def test_pins_without_joins_continuation_lines() -> None:
    text = "a==1 \\\n    --hash=sha256:x\nB_c==2 ; python_version == '3.12' \\\n --hash=sha256:y\n"
    assert pins_without(text, ["b-c"]) == "a==1 --hash=sha256:x\n"
    assert pinned_names([text]) == {"a", "b-c"}


def test_pinned_names_are_canonical() -> None:
    assert pinned_names(["Typing_Extensions==4.1 \\\n --hash=x\n# c\npytest==9\n"]) == {
        "typing-extensions",
        "pytest",
    }


def test_source_fingerprint_follows_package_tests_and_pins(tmp_path: Path) -> None:
    service = ServiceConfig(
        package="src/pkg", tests=("checks",), test_requirements="", requirements=()
    )
    layout = ServiceLayout(tmp_path, service)
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "checks").mkdir()
    (tmp_path / "src" / "pkg" / "main.py").write_text("x = 1\n")
    first = source_fingerprint(layout)
    (tmp_path / "README.md").write_text("docs do not matter")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_other.py").write_text("not configured as tests\n")
    assert source_fingerprint(layout) == first
    (tmp_path / "checks" / "test_main.py").write_text("def test(): pass\n")
    second = source_fingerprint(layout)
    assert second != first
    (tmp_path / "src" / "pkg" / "main.py").write_text("x = 2\n")
    assert source_fingerprint(layout) != second


def test_app_files_are_named_under_the_package(plain: ServiceLayout) -> None:
    files = mutation.app_files(plain)
    assert "routes.py" in files and "__init__.py" in files
    assert all(len(sha) == 64 for sha in files.values())


def test_mutation_document_reads_back_with_the_core_parser() -> None:
    from soakgate.core.evidence import MutationRun, parse_mutation

    document = mutation.mutation_document(
        MutationRun(killed=3, survived=1), revision="r", fingerprint="f"
    )
    assert parse_mutation(json.dumps(document)).score == 75.0


LOCK = """
version = 1
[[package]]
name = "mutmut"
version = "3.8.1"
dependencies = [{ name = "libcst" }, { name = "toml", marker = "python_full_version < '3.11'" },
                { name = "textual" }]
wheels = [{ url = "u", hash = "sha256:aa" }]
[[package]]
name = "libcst"
version = "1.9.0"
wheels = [{ url = "u", hash = "sha256:b1" }, { url = "u", hash = "sha256:b2" }]
[[package]]
name = "toml"
version = "0.10.2"
wheels = [{ url = "u", hash = "sha256:cc" }]
[[package]]
name = "textual"
version = "8.2.8"
dependencies = [{ name = "markdown-it-py", extra = ["linkify"] }]
wheels = [{ url = "u", hash = "sha256:dd" }]
[[package]]
name = "markdown-it-py"
version = "4.3.0"
wheels = [{ url = "u", hash = "sha256:ee" }]
[package.optional-dependencies]
linkify = [{ name = "linkify-it-py" }]
[[package]]
name = "linkify-it-py"
version = "2.2.0"
wheels = [{ url = "u", hash = "sha256:ff" }]
"""
