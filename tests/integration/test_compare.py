"""``soakgate compare`` for real: two builds of the same code are not told apart, a copy that
a generic throttle slows (the drill's launcher: stopped 30 % of every 10 ms, nothing asked of
the service) is "slower", a variant runs with its setting, and bad requests change nothing.
The 10-of-10 figures at a 10 % slowdown come from ``bench/compare.py``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import docker
import numpy as np
import pytest
from PIL import Image

from soakgate.adapters.docker import throttle_launcher
from soakgate.adapters.docker.engine import build_from
from soakgate.adapters.state.releases import StateDB
from soakgate.core.release import Release
from soakgate.core.throttle import throttle_lines
from soakgate.scratch import ROOT, ScratchProject

from .browser import screenshot

pytestmark = pytest.mark.integration
REPORTS = ROOT / "reports"
SHORT = ("--seconds", "10", "--max-seconds", "30", "--threshold", "10", "--test-rounds", "0")


def derived(release: Release, lines: list[str], tag: str, engine: docker.DockerClient) -> Release:
    image = build_from(release.digest, lines, tag)
    size = int(engine.images.get(str(image.id)).attrs["Size"])
    return Release(str(image.id), release.python, "compare", "test", release.created, size, tag)


def throttled(release: Release, cpus: float, engine: docker.DockerClient) -> Release:
    config = engine.images.get(release.digest).attrs["Config"]
    lines = throttle_lines(
        throttle_launcher.source(), config.get("Entrypoint"), config.get("Cmd"), cpus, period=0.01
    )
    return derived(release, lines, f"soakgate-test/compare:throttled-{cpus:g}", engine)


def compared(project: ScratchProject, *args: str) -> dict[str, object]:
    result = project.soakgate("compare", *SHORT, *args, "--json", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    document: dict[str, object] = json.loads(result.stdout)
    return document


def verdicts(document: dict[str, object]) -> dict[tuple[str, str], str]:
    figures = document["figures"]
    assert isinstance(figures, list)
    return {(f["name"], f["kind"]): f["verdict"] for f in figures}


def test_same_code_is_not_told_apart_and_a_throttled_copy_is_slower(
    scratch: ScratchProject,
    releases: dict[str, Release],
    engine: docker.DockerClient,
    tmp_path: Path,
) -> None:
    release = releases["3.14"]
    rebuild = ['LABEL soakgate.test="rebuild"']  # the same code, another image
    again = derived(release, rebuild, "soakgate-test/compare:same", engine)
    slow = throttled(release, 0.7, engine)
    scratch.record([again, slow])

    same = compared(scratch, release.digest, again.digest)
    assert same["verdict"] not in ("slower", "faster"), same["figures"]
    kinds = {kind for _, kind in verdicts(same)}
    assert {"all requests", "GET /work/cpu?n=30000", "GET /work/fanout?tasks=2000"} <= kinds
    assert {name for name, _ in verdicts(same)} >= {
        "throughput",
        "p99",
        "start-up",
        "memory idle",
        "memory under load",
        "image size",
    }

    slower = compared(scratch, release.digest, slow.digest)
    assert slower["verdict"] == "slower", slower["figures"]
    assert verdicts(slower)[("throughput", "all requests")] == "slower"

    folders = sorted((scratch.state / "compare").iterdir())
    assert len(folders) == 2
    for folder in folders:
        assert sorted(p.name for p in folder.iterdir()) == [
            "comparison.json",
            "comparison.md",
            "comparison.svg",
        ]
    written = json.loads((folders[-1] / "comparison.json").read_text())
    assert written["verdict"] == "slower"
    assert "**Verdict: slower**" in (folders[-1] / "comparison.md").read_text()
    assert "<svg" in (folders[-1] / "comparison.svg").read_text()

    # the migration's page of both, as a browser shows it
    page = scratch.root / "migration.html"
    written = scratch.soakgate("compare", "--report", str(page))
    assert written.returncode == 0, written.stdout + written.stderr
    text = page.read_text()
    assert text.count('class="card"') == 2 and "Expected by the roadmap" in text
    png = tmp_path / "migration.png"
    screenshot(page, png, (1200, 1800), tmp_path / "profile")
    image = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3).astype(np.int32)
    red = (np.abs(image - np.array([0xCF, 0x22, 0x2E])).max(axis=1) <= 12).mean()
    assert (image.min(axis=1) < 240).mean() > 0.03  # text and plots, not a blank page
    assert red > 0.0002  # the slower comparison's red verdict and interval
    REPORTS.mkdir(exist_ok=True)
    shutil.copy2(png, REPORTS / "migration-report-screenshot.png")


def test_a_variant_runs_with_its_setting(
    scratch: ScratchProject, releases: dict[str, Release], engine: docker.DockerClient
) -> None:
    release = releases["3.14"]
    document = compared(scratch, release.digest, "--variant", "eager-tasks")
    method = document["method"]
    assert isinstance(method, dict)
    assert method["environment"] == {"a": {}, "b": {"SERVICE_EAGER_TASKS": "1"}}
    assert document["variant"] == "eager-tasks"
    assert not list(engine.containers.list(all=True, filters={"name": scratch.namespace}))


def test_the_jit_variant_runs_the_image_the_pulumi_program_built(
    built: ScratchProject,
    scratch: ScratchProject,
    releases: dict[str, Release],
    engine: docker.DockerClient,
) -> None:
    release = releases["3.14"]
    with StateDB.open(built.state) as db:
        variant = db.variant_of(release.digest, "jit")
    assert variant is not None
    with StateDB.open(scratch.state) as db:
        db.record_variant(variant)
    document = compared(scratch, release.digest, "--variant", "jit", "--test-rounds", "3")
    suite = next(f for f in document["figures"] if f["name"] == "test suite")  # type: ignore[attr-defined]
    assert suite["unit"] == "s" and suite["kind"] == ""
    assert len(suite["detail"]["a"]) == 3 and len(suite["detail"]["b"]) == 3
    assert all(0 < t < 120 for t in [*suite["detail"]["a"], *suite["detail"]["b"]])
    assert suite["verdict"] in ("faster", "slower", "no difference", "inconclusive")
    assert "test suite" in document["method"]  # type: ignore[operator]
    assert document["b"] == {
        "release": variant.digest,
        "label": f"{release.python} {release.short} + jit",
    }
    assert document["a"] == {
        "release": release.digest,
        "label": f"{release.python} {release.short}",
    }
    method = document["method"]
    assert isinstance(method, dict)
    assert method["environment"] == {"a": {}, "b": {}}  # PYTHON_JIT=1 is in the image
    notes = document["notes"]
    assert isinstance(notes, list)
    assert f"B: variant image {variant.image} ({variant.digest[7:19]})" in notes
    assert notes[-1] == "interpreters built alike"
    assert not list(engine.containers.list(all=True, filters={"name": scratch.namespace}))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "compare needs two releases, or one and --variant"),
        (("--variant", "turbo"), "unknown variant 'turbo'"),
        (("--variant", "jit", "--threshold", "0"), "--threshold 0: expected a percentage"),
        (("--variant", "jit", "--seconds", "2"), "--seconds 2: expected at least 5"),
    ],
)
def test_bad_requests_are_refused_before_anything_runs(
    args: tuple[str, ...],
    message: str,
    scratch: ScratchProject,
    releases: dict[str, Release],
    engine: docker.DockerClient,
) -> None:
    result = scratch.soakgate("compare", releases["3.14"].digest, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert not Path(scratch.state / "compare").exists()
    assert not list(engine.containers.list(all=True, filters={"name": scratch.namespace}))
