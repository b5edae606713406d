"""Issue B end to end: both images built by the dev stack on the offline bases, checked with
testinfra; no-change and app-only-change rebuild behaviour; build faults."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import docker
import httpx
import pytest

from soakgate.adapters.state.releases import StateDB
from soakgate.app.verify import run_host_checks
from soakgate.core.release import Release
from soakgate.scratch import TEST_IMAGE, ScratchProject, make_scratch

pytestmark = pytest.mark.integration


def stopped_containers(engine: docker.DockerClient) -> set[str]:
    """Containers that are not running: what a failed classic build would leave behind."""
    found = set()
    for status in ("created", "exited"):
        found |= {c.id for c in engine.containers.list(all=True, filters={"status": status})}
    return found


def changed_steps(project: ScratchProject) -> dict[str, str]:
    """Resource name → op, for every resource a preview of dev would change."""
    preview = project.pulumi("preview", "--stack", "dev", "--json")
    assert preview.returncode == 0, preview.stderr
    steps = json.loads(preview.stdout).get("steps", [])
    return {step["urn"].rsplit("::", 1)[-1]: step["op"] for step in steps if step["op"] != "same"}


def test_both_images_run_and_pass_the_host_checks(
    built: ScratchProject, releases: dict[str, Release], engine: docker.DockerClient, tmp_path: Path
) -> None:
    containers = []
    try:
        apps = []
        for series, release in releases.items():
            name = f"{built.namespace}-image-{series.replace('.', '')}"
            container = engine.containers.run(
                release.digest,
                name=name,
                detach=True,
                read_only=True,
                tmpfs={"/tmp": ""},
                environment={"SOAKGATE_RELEASE": release.digest},
            )
            containers.append(container)
            apps.append(
                {
                    "container": name,
                    "digest": release.digest,
                    "python": release.python,
                    "port": 8000,
                    "health_path": "/health",
                    "role": "image",
                }
            )
        for container, (series, release) in zip(containers, releases.items(), strict=True):
            container.reload()
            address = container.attrs["NetworkSettings"]["IPAddress"]
            version = _wait_json(f"http://{address}:8000/version")
            assert version["python"].startswith(series + ".")
            assert version["python"] == release.python
            assert version["release"] == release.digest
        result = run_host_checks(built.root, {"apps": apps}, tmp_path / "images.xml")
        assert result.ok, result.failed
        assert result.passed == 2 * 6  # digest, Python, non-root, port, health, no compiler
    finally:
        for container in containers:
            container.remove(force=True)


def _wait_json(url: str) -> dict[str, str]:
    for _ in range(100):
        try:
            response = httpx.get(url, timeout=1)
            if response.status_code == 200:
                data: dict[str, str] = response.json()
                return data
        except httpx.HTTPError:
            pass
        import time

        time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def test_releases_are_digest_pinned_non_root_images(
    releases: dict[str, Release], engine: docker.DockerClient
) -> None:
    for series, release in releases.items():
        image = engine.images.get(release.digest)
        assert image.id == release.digest
        assert image.attrs["Config"]["User"] == "10001:10001"
        assert image.attrs["Config"]["Healthcheck"]["Test"][0] == "CMD"
        labels = image.labels
        assert labels["soakgate.python"] == series
        assert labels["org.opencontainers.image.version"] == "1.0.0"
        assert labels["org.opencontainers.image.created"]
        assert f"{TEST_IMAGE}:py{series}" in image.tags


def test_the_jit_variant_is_the_314_release_with_the_jit_switched_on(
    built: ScratchProject, releases: dict[str, Release], engine: docker.DockerClient
) -> None:
    """[images] variants = ["jit"]: the Pulumi program builds it for 3.14 (its interpreter has
    the JIT) and not for 3.12; recorded as the release's variant, never as a release."""
    images = built.stack_outputs("dev")["images"]
    assert isinstance(images, dict)
    assert images["3.12"]["variants"] == {}
    digest = images["3.14"]["variants"]["jit"]
    release = releases["3.14"]
    with StateDB.open(built.state) as db:
        variant = db.variant_of(release.digest, "jit")
        assert digest not in {r.digest for r in db.releases()}
    assert variant is not None and variant.digest == digest
    image = engine.images.get(digest)
    assert "PYTHON_JIT=1" in image.attrs["Config"]["Env"]
    assert image.labels["soakgate.variant"] == "jit"
    assert image.labels["soakgate.variant.of"] == release.image
    assert image.attrs["Config"]["User"] == "10001:10001"  # the release's, unchanged
    assert variant.image in image.tags  # its own tag (the moving py3.14-jit one moves on)
    assert variant.image == f"{release.image}-jit"
    probe = "import sys; print(sys._jit.is_enabled())"
    assert engine.containers.run(digest, ["python", "-c", probe], remove=True).strip() == b"True"
    assert (
        engine.containers.run(release.digest, ["python", "-c", probe], remove=True).strip()
        == b"False"
    )


@pytest.fixture(scope="module")
def rebuild_project(
    base_images: None,
    toolchain_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
    engine: docker.DockerClient,
) -> ScratchProject:
    project = make_scratch(tmp_path_factory.mktemp("rebuild"), toolchain_env, with_service=True)
    # as on a fresh machine: no wheelhouse yet (a checkout's copy would hide a first-run rebuild)
    shutil.rmtree(project.root / "images" / "service" / ".wheelhouse", ignore_errors=True)
    result = project.soakgate("build", timeout=1200)
    assert result.returncode == 0, result.stdout + result.stderr
    return project


def test_no_change_then_app_only_change_rebuilds_only_the_images(
    rebuild_project: ScratchProject,
) -> None:
    up = rebuild_project.pulumi("up", "--yes", "--stack", "dev")
    assert up.returncode == 0, up.stderr
    assert "unchanged" in up.stdout and "updated" not in up.stdout
    assert changed_steps(rebuild_project) == {}

    before = rebuild_project.stack_outputs("dev")["images"]
    app = rebuild_project.root / "images" / "service" / "app" / "work.py"
    app.write_text(app.read_text() + "\n# one line of change\n")
    assert changed_steps(rebuild_project) == {
        "service-py3.12-image": "update",
        "service-py3.14-image": "update",
        "service-py3.14-jit": "update",  # the variant of the changed release
    }
    up = rebuild_project.pulumi("up", "--yes", "--stack", "dev")
    assert up.returncode == 0, up.stderr
    after = rebuild_project.stack_outputs("dev")["images"]
    assert isinstance(before, dict) and isinstance(after, dict)
    for series in ("3.12", "3.14"):
        assert before[series]["digest"] != after[series]["digest"]
    assert before["3.14"]["variants"]["jit"] != after["3.14"]["variants"]["jit"]
    with StateDB.open(rebuild_project.state) as db:
        variant = db.variant_of(after["3.14"]["digest"], "jit")
    assert variant is not None and variant.digest == after["3.14"]["variants"]["jit"]


def test_broken_dockerfile_fails_cleanly(
    rebuild_project: ScratchProject, engine: docker.DockerClient
) -> None:
    dockerfile = rebuild_project.root / "images" / "service" / "Dockerfile"
    original = dockerfile.read_text()
    tags_before = {
        tag: engine.images.get(tag).id for tag in (f"{TEST_IMAGE}:py3.12", f"{TEST_IMAGE}:py3.14")
    }
    containers_before = stopped_containers(engine)
    dockerfile.write_text(
        original.replace("COPY app/ /opt/service/app/", "COPY no-such-dir/ /opt/service/app/")
    )
    try:
        result = rebuild_project.soakgate("build")
        assert result.returncode != 0
        first = result.stderr.splitlines()[0]
        assert first.startswith("error: build failed")
        assert "no-such-dir" in result.stderr
        assert stopped_containers(engine) == containers_before  # no build container left
        assert {
            tag: engine.images.get(tag).id for tag in tags_before
        } == tags_before  # tags untouched
    finally:
        dockerfile.write_text(original)
    assert changed_steps(rebuild_project) == {}  # the stack state still matches the old build


def test_missing_base_image_names_the_fix(tmp_path: Path, toolchain_env: dict[str, str]) -> None:
    project = make_scratch(tmp_path, toolchain_env, with_service=True)
    config = project.root / "soakgate.toml"
    config.write_text(
        config.read_text().replace('base_prefix = "soakgate/python"', 'base_prefix = "nope/python"')
    )
    result = project.soakgate("build")
    assert result.returncode != 0
    assert "base image nope/python:3.12 not found" in result.stderr
    assert "soakgate images bases" in result.stderr


def test_unknown_python_version_is_refused(tmp_path: Path, toolchain_env: dict[str, str]) -> None:
    project = make_scratch(tmp_path, toolchain_env, with_service=True)
    config = project.root / "soakgate.toml"
    config.write_text(
        config.read_text().replace('pythons = ["3.12", "3.14"]', 'pythons = ["3.12", "3.13"]')
    )
    result = project.soakgate("build")
    assert result.returncode == 2
    assert (
        result.stderr.splitlines()[0]
        == "error: images.pythons: unsupported Python '3.13' (supported: 3.12, 3.14)"
    )
    shutil.rmtree(project.root)
