"""A refresh against a real HTTP server on 127.0.0.1 that answers like a package index's JSON
API (one vulnerable package, one clean, one unknown), then the audit reading the directory:
fresh, stale, cut off mid-way, changed. No Docker: the image's packages come from a fake."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from soakgate.adapters.evidence.advisories import (
    AdvisoriesIncomplete,
    AdvisoriesStale,
    IndexSettings,
    check_advisories,
    read_refresh,
    refresh_advisories,
)
from soakgate.adapters.evidence.audit import PipAuditRun, load_advisories, sbom_json
from soakgate.adapters.state.evidence import EvidenceStore
from soakgate.adapters.state.releases import StateDB
from soakgate.app.evidence import collect_evidence, load_evidence
from soakgate.core.advisories import MANIFEST
from soakgate.core.config import ProjectConfig
from soakgate.core.project import Project
from soakgate.core.release import Release
from soakgate.errors import ConfigError
from tests.unit.cli_run import run_soakgate

RELEASE = Release("sha256:" + "c" * 64, "3.14.0", "1.0.0", "abc123", "2026-11-26", 1, "svc:3")
INSTALLED = {"Jinja2": "3.1.2", "rich": "13.9.4", "internal-thing": "1.0"}
PACKAGES = {("jinja2", "3.1.2"), ("rich", "13.9.4"), ("internal-thing", "1.0")}
JINJA = {
    "id": "GHSA-h5c8-rqwp-cp95",
    "aliases": ["CVE-2024-22195"],
    "summary": "Jinja vulnerable to HTML attribute injection",
    "details": "The xmlattr filter accepts keys containing spaces.",
    "fixed_in": ["3.1.3"],
    "link": "https://advisories.example/GHSA-h5c8-rqwp-cp95",
    "source": "osv",
    "withdrawn": None,
}
REFRESHED = "2026-11-26T07:40:00Z"
NEXT_DAY = "2026-11-27T07:40:00Z"
TEN_DAYS = "2026-12-06T07:40:00Z"


class FakeIndex:
    """The JSON API of a package index: ``answers`` by path; anything else is a 404."""

    def __init__(self) -> None:
        self.answers: dict[str, dict[str, Any]] = {
            "/pypi/jinja2/3.1.2/json": {
                "info": {"name": "Jinja2", "version": "3.1.2"},
                "vulnerabilities": [JINJA],
            },
            "/pypi/rich/13.9.4/json": {
                "info": {"name": "rich", "version": "13.9.4"},
                "vulnerabilities": [],
            },
        }
        self.delay = 0.0
        self.active = 0
        self.most = 0
        self.lock = threading.Lock()
        index = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with index.lock:
                    index.active += 1
                    index.most = max(index.most, index.active)
                try:
                    time.sleep(index.delay)
                finally:  # counted until the answer starts: once sent, the client asks again
                    with index.lock:
                        index.active -= 1
                try:
                    answer = index.answers.get(self.path)
                    body = json.dumps(answer or {"message": "Not Found"}).encode()
                    self.send_response(200 if answer else 404)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (a time limit): nothing to answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple/"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> FakeIndex:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def index() -> Iterator[FakeIndex]:
    with FakeIndex() as served:
        yield served


def refresh(directory: Path, index: FakeIndex, at: str = REFRESHED, **kwargs: Any) -> Any:
    options: dict[str, Any] = {"timeout": 5.0, "total": 20.0, "clock": lambda: at}
    options.update(kwargs)
    return refresh_advisories(directory, PACKAGES, IndexSettings(index.url), **options)


class ImageOnly:
    """The collectors the audit piece calls: the image's packages, pip-audit offline, bandit."""

    def inventory(self, release: Release) -> dict[str, str]:
        return dict(INSTALLED)

    def pip_audit(self, installed: Mapping[str, str]) -> PipAuditRun:
        skipped = [{"name": n, "skip_reason": "offline"} for n in installed]
        return PipAuditRun(json.dumps({"dependencies": skipped, "fixes": []}), None, "2.10.1")

    def bandit(self, source: Path) -> tuple[str, str | None]:
        return json.dumps({"results": []}), "1.9.4"


def audit(tmp_path: Path, directory: Path, now: str) -> Any:
    return collect_evidence(
        Project(tmp_path, ProjectConfig(), tmp_path / "state"),
        RELEASE,
        baseline=None,
        advisories=directory,
        files={},
        skip={"tests", "mutation", "perf"},
        progress=lambda _: None,
        collectors=ImageOnly(),  # type: ignore[arg-type]
        clock=lambda: now,
    )


def test_refresh_writes_documents_and_a_record_the_audit_uses(
    tmp_path: Path, index: FakeIndex
) -> None:
    directory = tmp_path / "advisories"
    done = refresh(directory, index)
    assert done.checked == (("jinja2", "3.1.2"), ("rich", "13.9.4"))
    ((name, version, why),) = done.not_checked
    assert (name, version) == ("internal-thing", "1.0") and "HTTP 404" in why
    assert sorted(p.name for p in directory.iterdir()) == ["GHSA-h5c8-rqwp-cp95.json", MANIFEST]
    record = json.loads((directory / MANIFEST).read_text())
    assert record["index"] == index.url and record["refreshed_at"] == REFRESHED
    assert record["advisories"] == 1
    assert {"name": "rich", "version": "13.9.4", "advisories": []} in record["checked"]
    assert read_refresh(directory) == done
    (document,) = load_advisories(directory)  # the record is not read as an advisory
    assert document["affected"][0]["versions"] == ["3.1.2"]

    bundle = audit(tmp_path, directory, NEXT_DAY)
    assert bundle.failures == {}
    evidence = load_evidence(tmp_path / "state", RELEASE)
    assert evidence.audit is not None
    (vuln,) = evidence.audit.vulnerabilities
    assert (vuln.package, vuln.id, vuln.fix_versions) == ("jinja2", JINJA["id"], ("3.1.3",))
    (unaudited,) = evidence.audit.unaudited  # the unknown package: never clean
    assert unaudited.startswith("internal-thing: ") and "HTTP 404" in unaudited
    with EvidenceStore.open(tmp_path / "state") as store:
        details = store.records(RELEASE.digest)["audit"].details
    assert details["advisories_refreshed"] == f"advisories refreshed 1d ago from {index.url}"
    assert "refreshed 1d ago" in details["sources"]["advisories"]


def test_a_stale_directory_fails_the_audit_closed_and_keeps_the_sbom(
    tmp_path: Path, index: FakeIndex
) -> None:
    directory = tmp_path / "advisories"
    refresh(directory, index)
    bundle = audit(tmp_path, directory, TEN_DAYS)
    reason = bundle.failures["audit"]
    assert "\n" not in reason and "refreshed 10d ago" in reason and "older than 7d" in reason
    assert reason.endswith("refresh it with `soakgate advisories refresh`")
    evidence = load_evidence(tmp_path / "state", RELEASE)
    assert evidence.audit is None  # the vulnerability gate fails closed
    with EvidenceStore.open(tmp_path / "state") as store:
        assert "sbom" in store.records(RELEASE.digest)  # what a refresh reads
        assert "audit" in store.failures(RELEASE.digest)
    with pytest.raises(AdvisoriesStale, match="older than 3d"):
        check_advisories(directory, INSTALLED, now=TEN_DAYS, max_age=3 * 86400.0)


def test_a_refresh_cut_off_before_its_record_is_refused(tmp_path: Path, index: FakeIndex) -> None:
    directory = tmp_path / "advisories"
    refresh(directory, index)
    (directory / MANIFEST).unlink()  # what a refresh killed before its last write leaves
    assert load_advisories(directory) != []  # the documents alone …
    bundle = audit(tmp_path, directory, REFRESHED)  # … never count
    assert "never refreshed" in bundle.failures["audit"]
    assert "soakgate advisories refresh" in bundle.failures["audit"]


def test_a_document_changed_since_the_refresh_is_refused(tmp_path: Path, index: FakeIndex) -> None:
    directory = tmp_path / "advisories"
    refresh(directory, index)
    document = directory / "GHSA-h5c8-rqwp-cp95.json"
    document.write_text(document.read_text().replace("3.1.2", "0.0.1"))
    with pytest.raises(AdvisoriesStale, match="changed since the refresh"):
        check_advisories(directory, INSTALLED, now=REFRESHED)
    document.unlink()
    with pytest.raises(AdvisoriesStale, match="gone since the refresh"):
        check_advisories(directory, INSTALLED, now=REFRESHED)


def test_a_second_refresh_is_idempotent_and_drops_what_the_index_no_longer_says(
    tmp_path: Path, index: FakeIndex
) -> None:
    directory = tmp_path / "advisories"
    refresh(directory, index)
    first = {p.name: p.read_bytes() for p in directory.iterdir()}
    again = refresh(directory, index)
    assert {p.name: p.read_bytes() for p in directory.iterdir() if p.name != MANIFEST} == {
        k: v for k, v in first.items() if k != MANIFEST
    }
    assert again.files == read_refresh(directory).files  # type: ignore[union-attr]
    (directory / "hand-made.json").write_text(json.dumps({"id": "LOCAL-1"}))
    index.answers["/pypi/jinja2/3.1.2/json"]["vulnerabilities"] = []
    done = refresh(directory, index)
    assert done.advisories == 0
    assert sorted(p.name for p in directory.iterdir()) == ["hand-made.json", MANIFEST]


def test_requests_are_bounded_in_number_and_time(tmp_path: Path, index: FakeIndex) -> None:
    many = {(f"pkg{i}", "1.0") for i in range(8)}
    index.delay = 0.2
    with pytest.raises(AdvisoriesIncomplete):  # all unknown: asked, two at a time
        refresh_advisories(
            tmp_path / "a", many, IndexSettings(index.url), workers=2, timeout=5.0, total=20.0
        )
    assert 0 < index.most <= 2
    index.delay = 3.0
    started = time.monotonic()
    with pytest.raises(AdvisoriesIncomplete, match=r"none of 3 packages \(.*no answer in time"):
        refresh_advisories(
            tmp_path / "b", PACKAGES, IndexSettings(index.url), timeout=0.5, total=10.0
        )
    assert time.monotonic() - started < 3.0
    started = time.monotonic()
    with pytest.raises(AdvisoriesIncomplete, match=r"not answered within 0\.5 s"):
        refresh_advisories(
            tmp_path / "c", PACKAGES, IndexSettings(index.url), timeout=5.0, total=0.5
        )
    assert time.monotonic() - started < 3.0


def test_an_index_that_answers_nothing_leaves_the_directory_as_it_was(
    tmp_path: Path, index: FakeIndex
) -> None:
    directory = tmp_path / "advisories"
    good = refresh(directory, index)
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    index.answers.clear()  # e.g. a mirror without the JSON API: 404 for everything
    with pytest.raises(AdvisoriesIncomplete, match="left as it was"):
        refresh(directory, index)
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before
    assert read_refresh(directory) == good
    with pytest.raises(ConfigError, match=r"pip's cert /nonexistent/ca\.pem"):
        refresh_advisories(directory, PACKAGES, IndexSettings(index.url, "/nonexistent/ca.pem"))


# --- the commands ---------------------------------------------------------------------------


def test_the_commands_refresh_from_recorded_sboms_and_show_the_age(
    tmp_path: Path,
    index: FakeIndex,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("SOAKGATE_HOME", str(state))
    monkeypatch.setenv("COLUMNS", "200")
    directory = state / "advisories"
    code, out, err = run_soakgate(capsys, "advisories", "show")
    assert code == 1 and "never refreshed" in err and "never" in out
    code, out, err = run_soakgate(capsys, "advisories", "refresh", "--index-url", index.url)
    assert code == 2 and "no release has an SBOM yet" in err

    with StateDB.open(state) as db:
        db.record_release(RELEASE)
    with EvidenceStore.open(state) as store:
        store.put(RELEASE, "sbom", sbom_json(RELEASE, INSTALLED).encode(), name="sbom.cdx.json")
    code, out, err = run_soakgate(capsys, "advisories", "refresh", "--index-url", index.url)
    assert code == 1, err
    (line,) = err.splitlines()[:1]
    assert line.startswith("error: 1 of 3 packages not checked (internal-thing 1.0:")
    assert "GHSA-h5c8-rqwp-cp95" in out and "not checked" in out
    assert (directory / MANIFEST).is_file()

    code, out, err = run_soakgate(capsys, "advisories", "show", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["state"] == "fresh" and shown["index"] == index.url
    assert shown["packages_checked"] == 2 and shown["advisories"] == 1
    assert shown["not_checked"][0]["name"] == "internal-thing"
    record = json.loads((directory / MANIFEST).read_text())
    (directory / MANIFEST).write_text(json.dumps({**record, "refreshed_at": REFRESHED}))
    code, out, err = run_soakgate(capsys, "advisories", "show", "--max-age", "3650d")
    assert code == 0 and "fresh" in out
    code, out, err = run_soakgate(capsys, "advisories", "show")
    assert code == 1 and "stale" in out
    assert err.splitlines()[0].endswith(
        "older than 7d: refresh it with `soakgate advisories refresh`"
    )
    code, out, err = run_soakgate(capsys, "advisories", "show", "--max-age", "week")
    assert code == 2 and err.startswith('error: --max-age: expected a duration like "4h"')

    pins = tmp_path / "requirements.txt"
    pins.write_text("rich==13.9.4\n")
    other = tmp_path / "other"
    code, out, err = run_soakgate(
        capsys, "advisories", "refresh", str(other), "--requirements", str(pins),
        "--index-url", index.url, "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["checked"] == [{"name": "rich", "version": "13.9.4", "advisories": []}]


def test_evidence_collect_refuses_a_bad_max_age_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_soakgate(
        capsys, "evidence", "collect", "abc", "--advisories-max-age", "a week"
    )
    assert code == 2
    assert err.splitlines()[0] == (
        'error: --advisories-max-age: expected a duration like "4h" or "30m", got \'a week\''
    )
