"""Issue I: on a fresh clone, the README's plain Pulumi path (``pulumi stack select --create
dev && pulumi up --stack dev``) builds the service for both Pythons and deploys dev from the
committed ``Pulumi.dev.yaml`` alone; every build is on the ledger."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest

from soakgate.core.release import Release
from soakgate.scratch import ROOT, TEST_IMAGE, ScratchProject, make_scratch, releases_of

pytestmark = pytest.mark.integration
IMAGE = "soakgate-test/fresh-clone"


@pytest.fixture
def fresh(
    base_images: None,
    tmp_path: Path,
    toolchain_env: dict[str, str],
    engine: docker.DockerClient,
) -> Iterator[ScratchProject]:
    project = make_scratch(tmp_path, toolchain_env, with_service=True)
    shutil.copy2(ROOT / "Pulumi.dev.yaml", project.root / "Pulumi.dev.yaml")
    # an image name of its own: its build must not move the session's releases' tags
    config = project.root / "soakgate.toml"
    config.write_text(config.read_text().replace(f'image = "{TEST_IMAGE}"', f'image = "{IMAGE}"'))
    try:
        yield project
    finally:
        project.destroy(engine)
        # only its own tags: a build of the same content is the same image as the session's
        # releases, which keep their tags (removing a tag of a tagged image only untags it)
        for image in engine.images.list(name=IMAGE):
            for tag in [tag for tag in image.tags if tag.startswith(f"{IMAGE}:")]:
                with contextlib.suppress(docker.errors.APIError):
                    engine.images.remove(tag)


def test_plain_pulumi_up_of_dev_builds_both_images_and_deploys(
    fresh: ScratchProject, releases: dict[str, Release], engine: docker.DockerClient
) -> None:
    select = fresh.pulumi("stack", "select", "--create", "dev")
    assert select.returncode == 0, select.stdout + select.stderr
    up = fresh.run("pulumi", "up", "--yes", "--stack", "dev", "--non-interactive", timeout=1500)
    assert up.returncode == 0, up.stdout + up.stderr
    releases = releases_of(fresh)
    assert set(releases) == {"3.12", "3.14"}, releases
    assert all(release.image.startswith(f"{IMAGE}:") for release in releases.values())
    outputs = fresh.stack_outputs("dev")
    assert outputs["active_release"] == releases["3.14"].digest
    version = httpx.get(f"{fresh.url('dev')}/version", timeout=5).json()
    assert version["release"] == releases["3.14"].digest
    assert version["python"].startswith("3.14.")
    history = fresh.soakgate("history", "--json")
    assert history.returncode == 0, history.stderr
    events = [event for event in json.loads(history.stdout) if event["kind"] == "build"]
    builds = [event for event in events if "variant" not in event["data"]]
    assert {event["to_release"] for event in builds} == {r.digest for r in releases.values()}
    assert {event["data"]["python"] for event in builds} == {r.python for r in releases.values()}
    # and the jit variant ([images] variants) of the 3.14 release, on the ledger as its variant
    variants = [event for event in events if "variant" in event["data"]]
    assert [(e["data"]["variant"], e["data"]["of"]) for e in variants] == [
        ("jit", releases["3.14"].digest)
    ]
    again = fresh.pulumi("preview", "--expect-no-changes", "--stack", "dev")
    assert again.returncode == 0, again.stdout + again.stderr


def test_the_fresh_clone_leaves_the_session_releases_as_they_were(
    releases: dict[str, Release], engine: docker.DockerClient
) -> None:
    """Runs after the test above (file order): its clean-up untagged only its own tags."""
    for release in releases.values():
        image = engine.images.get(release.digest)
        assert not [tag for tag in image.tags if tag.startswith(f"{IMAGE}:")], image.tags
        assert f"{TEST_IMAGE}:py{release.python_series}" in image.tags, image.tags
