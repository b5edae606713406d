"""``soakgate readiness`` for real against a package index this test makes: tiny valid wheels
(cp312, cp314, cp314t, abi3, pure), an sdist-only package and a blocked chain app → mid →
blocked, served on loopback as a PEP 691 JSON + PEP 503 HTML index and as an HTML-only one,
and read as a directory, a ``file://`` URL and a flat wheelhouse. The real CLI runs each
time; the second run against an unchanged index downloads no metadata."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import os
import re
import subprocess
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LINUX = "manylinux_2_17_x86_64.manylinux2014_x86_64"
REQUIREMENTS = """\
# required
native==1.0          # only 2.0 has cp314 wheels: upgrade
stable==1.0          # priority: high
purepkg==1.0         # classifiers stop at 3.13
purefine==1.0
ftok==1.0
# groups
sdistonly==1.0       # group: build
app==1.0             # priority: high; group: ml
legacy==1.0          # group: legacy
oldpy==1.0 ; python_version < "3.13"
"""


@dataclass(frozen=True)
class Dist:
    name: str
    version: str
    tags: tuple[str, ...] = ("py3-none-any",)  # one wheel per tag; () for none
    requires: tuple[str, ...] = ()
    requires_python: str | None = None
    classifiers: tuple[str, ...] = ()
    sdist: bool = False


DISTS = [
    Dist("native", "1.0", (f"cp312-cp312-{LINUX}",)),
    Dist("native", "2.0", (f"cp314-cp314-{LINUX}", f"cp314-cp314t-{LINUX}")),
    Dist("stable", "1.0", (f"cp39-abi3-{LINUX}",)),
    Dist("purepkg", "1.0", classifiers=("3.12", "3.13")),
    Dist("purefine", "1.0", classifiers=("3.13", "3.14")),
    Dist("ftok", "1.0", (f"cp314-cp314-{LINUX}", f"cp314-cp314t-{LINUX}")),
    Dist("sdistonly", "1.0", (), sdist=True),
    Dist("app", "1.0", requires=("mid>=1.0", "tomli; python_version < '3.11'")),
    Dist("mid", "1.0", requires=("blocked",)),
    Dist("blocked", "1.0", (f"cp312-cp312-{LINUX}",)),
    Dist("legacy", "1.0", requires_python=">=3.8,<3.14"),
    Dist("oldpy", "1.0", requires_python="<3.13"),
]


# --- the index --------------------------------------------------------------------------------


def metadata_text(dist: Dist) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {dist.name}", f"Version: {dist.version}"]
    if dist.requires_python:
        lines.append(f"Requires-Python: {dist.requires_python}")
    lines += [f"Classifier: Programming Language :: Python :: {c}" for c in dist.classifiers]
    lines += [f"Requires-Dist: {r}" for r in dist.requires]
    return "\n".join(lines) + "\n\n"


def record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def make_wheel(folder: Path, dist: Dist, tag: str) -> Path:
    """A valid wheel: a module, METADATA, WHEEL and RECORD (with every other file's hash)."""
    info = f"{dist.name}-{dist.version}.dist-info"
    pure = tag.endswith("-none-any")
    members = {
        f"{dist.name}/__init__.py": f"VERSION = {dist.version!r}\n".encode(),
        f"{info}/METADATA": metadata_text(dist).encode(),
        f"{info}/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: soakgate-test\nRoot-Is-Purelib: {str(pure).lower()}"
            f"\nTag: {tag}\n"
        ).encode(),
    }
    record = [record_line(path, data) for path, data in members.items()]
    members[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    path = folder / f"{dist.name}-{dist.version}-{tag}.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def make_sdist(folder: Path, dist: Dist) -> Path:
    path = folder / f"{dist.name}-{dist.version}.tar.gz"
    data = metadata_text(dist).encode()
    with tarfile.open(path, "w:gz") as archive:
        member = tarfile.TarInfo(f"{dist.name}-{dist.version}/PKG-INFO")
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class LocalIndex:
    root: Path
    files: Path  # a flat wheelhouse: the wheels, sdists and their .metadata files
    simple: Path  # <name>/index.html pointing at ../../files/

    def project_files(self, name: str) -> list[dict[str, Any]]:
        """PEP 691 entries of a project (the HTML page lists the same)."""
        entries = []
        for dist in (d for d in DISTS if d.name == name):
            for path in sorted(self.files.glob(f"{dist.name}-{dist.version}[-.]*")):
                if path.suffix == ".metadata":
                    continue
                entry: dict[str, Any] = {
                    "filename": path.name,
                    "url": f"../../files/{path.name}",
                    "hashes": {"sha256": sha256(path)},
                    "requires-python": dist.requires_python,
                }
                meta = path.with_name(path.name + ".metadata")
                if meta.exists():
                    entry["core-metadata"] = {"sha256": sha256(meta)}
                entries.append(entry)
        return entries

    def html_page(self, name: str) -> str:
        anchors = []
        for entry in self.project_files(name):
            attrs = f'href="{entry["url"]}#sha256={entry["hashes"]["sha256"]}"'
            if entry["requires-python"]:
                attrs += f' data-requires-python="{html.escape(entry["requires-python"])}"'
            if "core-metadata" in entry:
                attrs += f' data-core-metadata="sha256={entry["core-metadata"]["sha256"]}"'
            anchors.append(f"<a {attrs}>{entry['filename']}</a><br/>")
        return (
            f"<!DOCTYPE html><html><head><title>Links for {name}</title></head><body>"
            f"<h1>Links for {name}</h1>{''.join(anchors)}</body></html>\n"
        )

    def json_page(self, name: str) -> str:
        return json.dumps(
            {"meta": {"api-version": "1.1"}, "name": name, "files": self.project_files(name)}
        )

    def write_pages(self) -> None:
        for name in sorted({d.name for d in DISTS}):
            (self.simple / name).mkdir(parents=True, exist_ok=True)
            (self.simple / name / "index.html").write_text(self.html_page(name))

    def add(self, dist: Dist) -> None:
        """Publish another distribution (the pages change)."""
        DISTS.append(dist)
        _write_dist(self.files, dist)
        self.write_pages()


def _write_dist(folder: Path, dist: Dist) -> None:
    for tag in dist.tags:
        wheel = make_wheel(folder, dist, tag)
        wheel.with_name(wheel.name + ".metadata").write_text(metadata_text(dist))
    if dist.sdist:
        make_sdist(folder, dist)


@pytest.fixture
def local_index(tmp_path: Path) -> Iterator[LocalIndex]:
    files = tmp_path / "index" / "files"
    files.mkdir(parents=True)
    for dist in DISTS:
        _write_dist(files, dist)
    index = LocalIndex(tmp_path / "index", files, tmp_path / "index" / "simple")
    index.write_pages()
    before = list(DISTS)
    yield index
    DISTS[:] = before


class IndexServer:
    """Serves a LocalIndex on 127.0.0.1: PEP 691 JSON when asked (and ``json_api``), else
    PEP 503 HTML, with ETags; counts the requests for pages, metadata and wheel bytes."""

    def __init__(self, index: LocalIndex, json_api: bool = True) -> None:
        self.requests: list[tuple[str, str]] = []  # (kind, path)
        server_side = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[0] == "simple" and len(parts) == 2:
                    server_side.requests.append(("page", self.path))
                    name = parts[1]
                    if not any(d.name == name for d in DISTS):
                        return self.answer(404, b"not found", "text/plain")
                    wants_json = json_api and "vnd.pypi.simple.v1+json" in self.headers.get(
                        "Accept", ""
                    )
                    if wants_json:
                        body = index.json_page(name).encode()
                        kind = "application/vnd.pypi.simple.v1+json"
                    else:
                        body, kind = index.html_page(name).encode(), "text/html"
                    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                    if self.headers.get("If-None-Match") == etag:
                        return self.answer(304, b"", kind, etag)
                    return self.answer(200, body, kind, etag)
                if parts[0] == "files" and len(parts) == 2:
                    path = index.files / parts[1]
                    kind = "metadata" if path.suffix == ".metadata" else "file"
                    server_side.requests.append((kind, self.path))
                    if path.is_file():
                        return self.file(path.read_bytes())
                return self.answer(404, b"not found", "text/plain")

            def file(self, data: bytes) -> None:
                """The file, or the range of it asked for (``bytes=a-b``, ``bytes=-n``)."""
                asked = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
                if not asked:
                    return self.answer(200, data, "application/octet-stream")
                if asked[1]:
                    start, end = int(asked[1]), min(int(asked[2] or len(data) - 1), len(data) - 1)
                else:
                    start, end = max(len(data) - int(asked[2]), 0), len(data) - 1
                span = f"bytes {start}-{end}/{len(data)}"
                self.answer(206, data[start : end + 1], "application/octet-stream", span=span)

            def answer(
                self, code: int, body: bytes, kind: str, etag: str = "", span: str = ""
            ) -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                if span:
                    self.send_header("Content-Range", span)
                if etag:
                    self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if code != 304:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple/"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def count(self, kind: str) -> int:
        return sum(1 for k, _ in self.requests if k == kind)

    def __enter__(self) -> IndexServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


# --- running the CLI --------------------------------------------------------------------------


def readiness(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(REQUIREMENTS)
    env = {**os.environ, "SOAKGATE_HOME": str(tmp_path / "state"), "COLUMNS": "250"}
    env.pop("PIP_INDEX_URL", None)
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "soakgate"), "readiness", str(requirements), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def verdicts(result: subprocess.CompletedProcess[str]) -> dict[str, tuple[str, str]]:
    document = json.loads(result.stdout)
    return {p["name"]: (p["verdict"], p["reason"]) for p in document["packages"]}


EXPECTED_314 = {
    "native": (
        "Verify",
        "upgrade to 2.0 (cp314 wheel)",
    ),
    "stable": ("Yes", "pinned 1.0 has an abi3 wheel"),
    "purepkg": ("Verify", "pinned 1.0 has a pure wheel, but its classifiers stop at 3.13"),
    "purefine": ("Yes", "pinned 1.0 has a pure wheel"),
    "ftok": ("Yes", "pinned 1.0 has a cp314 wheel"),
    "sdistonly": ("Verify", "only an sdist for cp314: builds from source"),
    "app": ("No", "because of blocked (via mid)"),
    "mid": ("No", "because of blocked"),
    "blocked": ("No", "no wheel for cp314 on manylinux_x86_64 (1.0 has cp312 wheels)"),
    "legacy": ("No", "Requires-Python >=3.8,<3.14 excludes 3.14 (every version)"),
}


def test_served_index_judges_caches_and_says_go(local_index: LocalIndex, tmp_path: Path) -> None:
    with IndexServer(local_index) as server:
        first = readiness(tmp_path, "--index", server.url, "--format", "json")
        assert first.returncode == 0, first.stderr
        assert verdicts(first) == EXPECTED_314
        document = json.loads(first.stdout)
        assert document["decision"] == "GO, deferring groups legacy, ml"
        lines = {g["group"]: g["line"] for g in document["groups"]}
        assert lines["ml"] == "NO-GO: ml — app (high priority) No → defer"
        assert lines["build"] == "GO: build — all Yes/Verify (1 Verify) → proceed"
        assert lines["required"] == "GO: required — all Yes/Verify (3 Yes, 2 Verify) → proceed"
        assert document["skipped"] == ["oldpy: marker 'python_version < \"3.13\"' is false on 3.14"]
        by_name = {p["name"]: p for p in document["packages"]}
        assert by_name["native"]["newest_installable"] == "2.0"
        assert by_name["native"]["free_threaded_wheel"] is True
        assert by_name["stable"]["abi3"] is True
        assert by_name["purefine"]["python_classifiers"] == ["3.13", "3.14"]
        assert by_name["mid"]["dependency_of"] == "app"
        # the chosen wheels' metadata, from the PEP 658 files (no wheel chosen for sdistonly,
        # blocked, legacy)
        assert server.count("metadata") == 7 and server.count("file") == 0
        assert "7 downloaded, 0 from the cache" in document["read"]

        server.requests.clear()
        again = readiness(tmp_path, "--index", server.url, "--format", "json")
        assert again.returncode == 0, again.stderr
        assert verdicts(again) == EXPECTED_314
        assert server.count("metadata") == 0 and server.count("file") == 0
        assert server.count("page") == 10  # each asked with its ETag: 304
        assert "10 project pages (10 unchanged)" in json.loads(again.stdout)["read"]

        # A new release changes one page: only its newly chosen file's metadata is read.
        local_index.add(Dist("native", "3.0", (f"cp314-cp314-{LINUX}",)))
        server.requests.clear()
        changed = readiness(tmp_path, "--index", server.url, "--format", "json")
        assert verdicts(changed)["native"] == ("Verify", "upgrade to 3.0 (cp314 wheel)")
        wheel = f"native-3.0-cp314-cp314-{LINUX}.whl"
        assert [p for k, p in server.requests if k == "metadata"] == [f"/files/{wheel}.metadata"]

        table = readiness(tmp_path, "--index", server.url)
        assert table.returncode == 0, table.stderr
        assert "Migration: GO, deferring groups legacy, ml" in table.stdout
        assert "because of blocked (via mid)" in table.stdout


def test_html_only_index_and_directories_answer_the_same(
    local_index: LocalIndex, tmp_path: Path
) -> None:
    with IndexServer(local_index, json_api=False) as server:
        result = readiness(tmp_path, "--index", server.url, "--format", "json")
        assert result.returncode == 0, result.stderr
        assert verdicts(result) == EXPECTED_314
        assert server.count("metadata") == 7
    for where in (str(local_index.simple), local_index.simple.as_uri(), str(local_index.files)):
        if where == str(local_index.files):  # a flat wheelhouse: METADATA from the wheels
            for path in local_index.files.glob("*.metadata"):
                path.unlink()
        result = readiness(tmp_path, "--index", where, "--format", "json")
        assert result.returncode == 0, (where, result.stderr)
        found = verdicts(result)
        if where == str(local_index.files):  # no index page: Requires-Python from METADATA
            assert found.pop("legacy") == (
                "No",
                "Requires-Python >=3.8,<3.14 excludes 3.14 (1.0's metadata)",
            )
            assert found == {k: v for k, v in EXPECTED_314.items() if k != "legacy"}
        else:
            assert found == EXPECTED_314, where
        again = readiness(tmp_path, "--index", where, "--format", "json")
        read = 8 if where == str(local_index.files) else 7  # and legacy's, in a wheelhouse
        assert f"0 downloaded, {read} from the cache" in json.loads(again.stdout)["read"], where


def test_free_threaded_is_no_go_without_cp314t_wheels(
    local_index: LocalIndex, tmp_path: Path
) -> None:
    result = readiness(
        tmp_path, "--index", str(local_index.simple), "--free-threaded", "--format", "markdown"
    )
    assert result.returncode == 1, result.stderr
    assert "Readiness for Python 3.14 free-threaded (cp314t, manylinux_x86_64)" in result.stdout
    assert (
        "| stable | required (high) | 1.0 | 1.0 | none | - | no | no | - | **No** |"
        " only abi3 wheels (they do not load on cp314t); no cp314t wheel |"
    ) in result.stdout
    assert "| ftok | required | 1.0 | 1.0 | 1.0 | cp314t | no | yes | - | **Yes** |" in (
        result.stdout
    )
    assert "| purefine | required | 1.0 | 1.0 | 1.0 | pure | no | - | - | **Yes** |" in (
        result.stdout
    )
    assert "- Migration: NO-GO: stable No (required)" in result.stdout
    assert result.stderr.splitlines()[0] == "error: NO-GO: stable No (required)"


def test_unreachable_index_and_bad_input_exit_2(local_index: LocalIndex, tmp_path: Path) -> None:
    with IndexServer(local_index) as server:
        url = server.url
    result = readiness(tmp_path, "--index", url)  # the server is gone: nothing listens
    assert result.returncode == 2
    first, hint = result.stderr.strip().splitlines()
    assert first.startswith(f"error: index {url} cannot be reached: ConnectError")
    assert hint.startswith("hint: check the index (pip config list, PIP_INDEX_URL)")

    assert readiness(tmp_path, "--index", str(tmp_path / "nowhere")).returncode == 2
    bad = readiness(tmp_path, "--index", str(local_index.simple), "--python", "3.x")
    assert bad.returncode == 2 and "error: --python: should be like 3.14" in bad.stderr


def test_without_pep658_metadata_the_wheels_are_read_by_ranges(
    local_index: LocalIndex, tmp_path: Path
) -> None:
    for path in local_index.files.glob("*.metadata"):
        path.unlink()
    local_index.write_pages()  # no data-core-metadata any more
    with IndexServer(local_index) as server:
        first = readiness(tmp_path, "--index", server.url, "--format", "json")
        assert first.returncode == 0, first.stderr
        assert verdicts(first) == EXPECTED_314  # classifiers and Requires-Dist still read
        assert server.count("metadata") == 0 and server.count("file") >= 7
        assert "7 downloaded" in json.loads(first.stdout)["read"]
        server.requests.clear()
        again = readiness(tmp_path, "--index", server.url, "--format", "json")
        assert verdicts(again) == EXPECTED_314
        assert server.count("file") == 0


def test_the_image_build_refuses_a_no_go_pin_with_the_table(
    local_index: LocalIndex, tmp_path: Path
) -> None:
    """What the image build asks before it downloads a wheelhouse (app.readiness)."""
    from soakgate.app.readiness import NotReady, check_buildable

    fine = tmp_path / "fine.txt"
    fine.write_text("native==2.0\npurefine==1.0\n")
    check_buildable(fine, "3.14", None, index=str(local_index.simple))  # no refusal
    blocked = tmp_path / "blocked.txt"
    blocked.write_text("native==2.0\nblocked==1.0\n")
    with pytest.raises(NotReady) as refused:
        check_buildable(blocked, "3.14", None, index=str(local_index.simple))
    first, *table = refused.value.message.splitlines()
    assert first.startswith("Python 3.14: blocked (")
    assert any(line.startswith("| blocked |") and "**No**" in line for line in table)
    assert "soakgate readiness" in (refused.value.hint or "")
    old = tmp_path / "old.txt"
    old.write_text("blocked==1.0\n")
    check_buildable(old, "3.12", None, index=str(local_index.simple))  # it has cp312 wheels
    # an index that cannot be asked is no refusal: the download says what it says
    check_buildable(blocked, "3.14", None, index=str(tmp_path / "nowhere"))


def test_a_314_base_older_than_3145_is_warned_about(
    local_index: LocalIndex, tmp_path: Path, engine: Any
) -> None:
    """A base image on the engine whose 3.14 predates the GC revert: readiness says so (a
    note in every output), and not for a migration to another Python."""
    from soakgate.core.names import LABEL_BASE, LABEL_PYTHON

    repository = f"soakgate-test-old-{os.getpid()}/python"
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tarfile.TarInfo("etc/os-release")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"x=1"))
    engine.api.import_image_from_data(
        layer.getvalue(),
        repository=repository,
        tag="3.14",
        changes=[f"LABEL {LABEL_BASE}=true", f"LABEL {LABEL_PYTHON}=3.14.2"],
    )
    try:
        with IndexServer(local_index) as server:
            result = readiness(tmp_path, "--index", server.url, "--format", "json")
            assert result.returncode == 0, result.stderr
            notes = json.loads(result.stdout)["notes"]
            warned = [n for n in notes if f"{repository}:3.14" in n]
            assert len(warned) == 1, notes
            assert "3.14.2: older than 3.14.5" in warned[0] and "--rebuild" in warned[0]
            table = readiness(tmp_path, "--index", server.url)
            assert f"base image {repository}:3.14 has Python 3.14.2" in table.stdout
            other = readiness(
                tmp_path, "--index", server.url, "--python", "3.13", "--format", "json"
            )
            assert not [n for n in json.loads(other.stdout)["notes"] if repository in n]
    finally:
        engine.images.remove(f"{repository}:3.14", force=True)


def test_compare_refuses_the_free_threaded_variant_with_the_readiness_table(
    local_index: LocalIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``soakgate compare --variant free-threaded`` asks the service's wheels first: the
    refusal (no free-threaded interpreter, or a package with no cp314t wheel) carries the
    table; with the interpreter and every wheel there, it measures."""
    import dataclasses

    from soakgate.adapters.state.releases import StateDB
    from soakgate.app.compare import CompareRequest, compare
    from soakgate.core.config import ProjectConfig, ServiceConfig
    from soakgate.core.project import Project
    from soakgate.core.release import Release
    from soakgate.core.variants import VariantUnavailable
    from tests.unit.test_compare import build

    monkeypatch.setenv("PIP_INDEX_URL", str(local_index.simple))
    monkeypatch.setenv("SOAKGATE_HOME", str(tmp_path / "state"))
    context = tmp_path / "svc"
    context.mkdir()
    (context / "requirements.txt").write_text("ftok==1.0\nstable==1.0\n")
    config = ProjectConfig(service=ServiceConfig(context="svc", requirements=("requirements.txt",)))
    project = Project(tmp_path, config, tmp_path / "state")
    release = Release("sha256:" + "e" * 64, "3.14.8", "1.0", "abc", "2026-12-06", 1, "svc:1")
    with StateDB.open(project.state) as db:
        db.record_release(release)
    gil = build()  # Debian's 3.14: PGO+LTO, JIT available, the GIL
    measured: list[str] = []

    def measure(*args: Any, **kwargs: Any) -> Any:
        measured.append("yes")
        raise RuntimeError("measured")

    request = CompareRequest(release.digest[:19], variant="free-threaded")
    with pytest.raises(VariantUnavailable) as no_interpreter:
        compare(project, request, measure=measure, build_of=lambda _: gil)
    first, *table = no_interpreter.value.message.splitlines()
    assert first.startswith("variant free-threaded: the interpreter of B has the GIL")
    assert any(line.startswith("| stable |") and "**No**" in line for line in table)
    assert any(line.startswith("| ftok |") and "**Yes**" in line for line in table)

    free = dataclasses.replace(gil, free_threaded=True)
    with pytest.raises(VariantUnavailable) as no_wheel:
        compare(project, request, measure=measure, build_of=lambda _: free)
    first = no_wheel.value.message.splitlines()[0]
    assert first.startswith("variant free-threaded: no Python 3.14t wheel for stable (only abi3")
    assert "--free-threaded" in no_wheel.value.hint
    assert measured == []

    (context / "requirements.txt").write_text("ftok==1.0\npurefine==1.0\n")
    with pytest.raises(RuntimeError, match="measured"):
        compare(project, request, measure=measure, build_of=lambda _: free)
    assert measured == ["yes"]
