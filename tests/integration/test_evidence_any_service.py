"""The tests and mutation pieces for real, for a service of another shape than the sample:
plainsvc (standard library only, src/plainsvc, checks/, soakgate's own pytest, numeric user,
/srv/plainsvc), in a container of the release's own image: the figures come from the image's
Python. (The sample's own are in test_evidence.)
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from soakgate.adapters.config_file import load_config
from soakgate.app.evidence import collect_evidence, load_evidence
from soakgate.core.evidence import Evidence
from soakgate.core.project import Project
from soakgate.core.release import Release
from soakgate.scratch import ScratchProject, make_scratch, releases_of

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def plainsvc(
    base_images: None, toolchain_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> ScratchProject:
    """A scratch project of the second sample that built its releases with ``soakgate build``."""
    project = make_scratch(
        tmp_path_factory.mktemp("plainsvc"), toolchain_env, with_service=True, service="plainsvc"
    )
    result = project.soakgate("build", timeout=1200)
    assert result.returncode == 0, result.stdout + result.stderr
    return project


def collect(project: ScratchProject, release: Release) -> tuple[Evidence, dict[str, Any]]:
    """Collect the tests and mutation pieces of ``release`` in ``project`` (no reuse); return
    the evidence and the manifest's entries."""
    config = load_config(project.root)
    bundle = collect_evidence(
        Project(project.root, config, project.state),
        release,
        baseline=None,
        advisories=None,
        files={},
        skip={"audit", "perf"},
        progress=print,
        reuse_mutation=False,
    )
    assert bundle.complete, bundle.failures
    entries: dict[str, Any] = json.loads(bundle.manifest.read_text())["evidence"]
    return load_evidence(project.state, release), entries


def report(name: str, release: Release, evidence: Evidence, entries: dict[str, Any]) -> None:
    assert evidence.tests is not None and evidence.mutation is not None
    print(
        f"{name} {release.python}: {evidence.tests.tests} tests"
        f" ({entries['junit']['details']['seconds']} s), coverage {evidence.coverage:.2f} %,"
        f" mutation {evidence.mutation.score:.2f} % of {evidence.mutation.scored}"
        f" ({entries['mutation']['details']['seconds']} s)"
    )


def assert_ran_in_the_release(release: Release, entries: dict[str, Any]) -> None:
    """Both pieces ran the release's own Python, in a container of its image."""
    assert entries["junit"]["tools"]["python"] == release.python
    assert entries["mutation"]["tools"]["python"] == release.python
    assert entries["mutation"]["tools"]["mutmut"] == "3.8.1"
    details = entries["mutation"]["details"]
    assert details["image"] == release.digest
    assert details["interpreter"].startswith("/")  # the image's interpreter, by its path


def unittest_methods(folder: Path) -> int:
    """The ``test*`` methods of the unittest classes under ``folder`` (no parametrizing)."""
    count = 0
    for path in folder.rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                count += 1
    return count


def coverage_files(project: ScratchProject, release: Release) -> list[str]:
    folder = project.state / "evidence" / release.digest.removeprefix("sha256:")
    return sorted(json.loads((folder / "coverage.json").read_text())["files"])


def test_plainsvc_tests_and_mutation_in_its_own_image(plainsvc: ScratchProject) -> None:
    # its 3.12 release here; its 3.14 one goes through the whole path in test_any_service,
    # and the sample's releases of both Pythons in test_evidence
    release = releases_of(plainsvc)["3.12"]
    evidence, entries = collect(plainsvc, release)
    report("plainsvc", release, evidence, entries)
    assert evidence.tests is not None and evidence.tests.pass_rate == 100.0
    assert evidence.tests.tests == unittest_methods(plainsvc.root / "images/plainsvc/checks")
    assert evidence.coverage is not None and evidence.coverage > 80.0
    # measured in /srv/plainsvc/src/plainsvc of the image, named as in the context
    assert coverage_files(plainsvc, release) == [
        "src/plainsvc/__init__.py",
        "src/plainsvc/__main__.py",
        "src/plainsvc/routes.py",
        "src/plainsvc/server.py",
    ]
    assert evidence.mutation is not None and evidence.mutation.not_checked == 0
    assert evidence.mutation.scored > 20 and evidence.mutation.score > 50.0
    assert_ran_in_the_release(release, entries)
    assert entries["junit"]["tools"]["pytest"] == "9.2.0"  # soakgate's own test tools
