"""The pure parts of an advisory directory: index answers → OSV documents, the refresh record,
and the judgement of its age and coverage (an injected clock)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from soakgate.adapters.evidence.advisories import (
    configured_index,
    json_api_root,
    pinned_packages,
    public_url,
    release_url,
)
from soakgate.adapters.evidence.audit import PipAuditRun, audit_packages
from soakgate.core.advisories import (
    MANIFEST,
    MAX_AGE,
    AdvisoryError,
    Refresh,
    advisory_file,
    index_vulnerabilities,
    judge_freshness,
    osv_documents,
    parse_refresh,
    uncovered,
    written_by_refresh,
)
from soakgate.core.evidence import match_advisories, parse_advisory
from soakgate.errors import ConfigError

AT = "2026-11-26T07:40:00Z"
JINJA = {
    "id": "GHSA-h5c8-rqwp-cp95",
    "aliases": ["CVE-2024-22195"],
    "summary": "Jinja vulnerable to HTML attribute injection",
    "details": "The xmlattr filter …",
    "fixed_in": ["3.1.3"],
    "link": "https://advisories.example/GHSA-h5c8-rqwp-cp95",
    "withdrawn": None,
}


def answer(version: str, *vulns: dict[str, Any]) -> dict[str, Any]:
    return {"info": {"name": "Jinja2", "version": version}, "vulnerabilities": list(vulns)}


# --- the index ------------------------------------------------------------------------------


def test_the_json_api_root_is_the_simple_url_without_simple() -> None:
    assert json_api_root("https://mirror.example/pypi/simple/") == "https://mirror.example/pypi"
    assert json_api_root("http://127.0.0.1:8080/simple") == "http://127.0.0.1:8080"
    assert json_api_root("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    with pytest.raises(AdvisoryError, match="not an http"):
        json_api_root("file:///srv/wheels")
    root = "http://127.0.0.1:8080"
    assert release_url(root, "Jinja2", "3.1.2") == f"{root}/pypi/jinja2/3.1.2/json"
    assert release_url(root, "a_b", "1.0+local/x") == f"{root}/pypi/a-b/1.0%2Blocal%2Fx/json"


def test_passwords_in_index_urls_are_never_shown() -> None:
    assert public_url("https://me:s3cret@mirror.example/simple/") == (
        "https://me:***@mirror.example/simple/"
    )
    assert public_url("https://mirror.example/simple/") == "https://mirror.example/simple/"


def test_an_answer_without_vulnerability_data_is_not_a_clean_answer() -> None:
    assert index_vulnerabilities(answer("3.1.2"), "jinja2", "3.1.2") == []
    assert index_vulnerabilities(answer("3.1.2", JINJA), "jinja2", "3.1.2")[0]["id"] == JINJA["id"]
    with pytest.raises(AdvisoryError, match="no vulnerabilities list"):
        index_vulnerabilities({"info": {"version": "3.1.2"}}, "jinja2", "3.1.2")
    with pytest.raises(AdvisoryError, match=r"answered about version '3\.1\.6'"):
        index_vulnerabilities(answer("3.1.6"), "jinja2", "3.1.2")
    with pytest.raises(AdvisoryError, match=r"vulnerabilities\[0\] has no id"):
        index_vulnerabilities(answer("3.1.2", {"summary": "x"}), "jinja2", "3.1.2")
    with pytest.raises(AdvisoryError, match="fixed_in should be a list"):
        index_vulnerabilities(answer("3.1.2", {**JINJA, "fixed_in": "3.1.3"}), "jinja2", "3.1.2")
    with pytest.raises(AdvisoryError, match="not a JSON object"):
        index_vulnerabilities([], "jinja2", "3.1.2")
    assert index_vulnerabilities(answer("1.0.0"), "x", "1.0") == []  # same version, PEP 440


# --- OSV documents --------------------------------------------------------------------------


def test_an_answer_becomes_an_osv_document_the_matcher_reads() -> None:
    documents = osv_documents({("jinja2", "3.1.2"): [JINJA]}, modified=AT, source="http://x")
    (document,) = documents.values()
    assert parse_advisory(json.dumps(document)) == document
    (affected,) = document["affected"]
    assert affected["package"] == {"ecosystem": "PyPI", "name": "jinja2", "purl": "pkg:pypi/jinja2"}
    assert affected["versions"] == ["3.1.2"]
    assert affected["ranges"] == [
        {"type": "ECOSYSTEM", "events": [{"introduced": "3.1.2"}, {"fixed": "3.1.3"}]}
    ]
    assert document["aliases"] == ["CVE-2024-22195"] and document["modified"] == AT
    assert document["references"][0]["url"] == JINJA["link"] and "withdrawn" not in document
    assert written_by_refresh(document) and not written_by_refresh({"id": "x"})
    (vuln,) = match_advisories({"Jinja2": "3.1.2"}, [document]).vulnerabilities
    assert (vuln.id, vuln.fix_versions) == (JINJA["id"], ("3.1.3",))
    assert match_advisories({"jinja2": "3.1.3"}, [document]).vulnerabilities == ()


def test_one_document_per_advisory_with_every_checked_version() -> None:
    two_lines = {**JINJA, "fixed_in": ["2.11.3", "3.1.3"], "aliases": ["CVE-2", "CVE-1"]}
    documents = osv_documents(
        {("jinja2", "3.1.2"): [two_lines], ("jinja2", "2.10"): [{**JINJA, "fixed_in": ["3.1.3"]}]},
        modified=AT,
        source="http://x",
    )
    (document,) = documents.values()
    (affected,) = document["affected"]
    assert affected["versions"] == ["2.10", "3.1.2"]
    assert affected["database_specific"]["fixed_in"] == ["2.11.3", "3.1.3"]
    events = affected["ranges"][0]["events"]
    assert events == [
        {"introduced": "2.10"},
        {"fixed": "2.11.3"},
        {"introduced": "3.1.2"},
        {"fixed": "3.1.3"},
    ]
    assert document["aliases"] == ["CVE-1", "CVE-2", "CVE-2024-22195"]
    # no range claims the versions between the two lines
    assert match_advisories({"jinja2": "3.0.0"}, [document]).vulnerabilities == ()
    assert match_advisories({"jinja2": "2.11.0"}, [document]).vulnerabilities != ()


def test_without_a_fix_only_the_checked_version_is_listed() -> None:
    documents = osv_documents(
        {("jinja2", "3.1.2"): [{**JINJA, "fixed_in": [], "withdrawn": "2026-01-01T00:00:00Z"}]},
        modified=AT,
        source="http://x",
    )
    (document,) = documents.values()
    assert document["affected"][0]["ranges"] == [] and document["withdrawn"]
    assert match_advisories({"jinja2": "3.1.2"}, [document]).vulnerabilities == ()  # withdrawn


def test_advisory_file_names_are_safe() -> None:
    assert advisory_file("PYSEC-2023-48") == "PYSEC-2023-48.json"
    odd = advisory_file("../etc/passwd")
    assert "/" not in odd and not odd.startswith(".") and odd.endswith(".json")
    assert advisory_file("refreshed") != MANIFEST


# --- the record and its judgement -----------------------------------------------------------


def refresh(at: str = AT) -> Refresh:
    return Refresh(
        at,
        "http://127.0.0.1:9/simple/",
        (("jinja2", "3.1.2"), ("rich", "13.9.4")),
        (("internal-thing", "1.0", "the index does not know this version (HTTP 404)"),),
        {"GHSA-h5c8-rqwp-cp95.json": "0" * 64},
        1.5,
        {("jinja2", "3.1.2"): ("GHSA-h5c8-rqwp-cp95",)},
    )


def test_the_refresh_record_reads_back() -> None:
    record = refresh()
    assert parse_refresh(json.dumps(record.document())) == record
    assert record.document()["advisories"] == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "is not JSON"),
        ('{"format": 2}', "not a format 1 refresh record"),
        ('{"format": 1, "refreshed_at": "yesterday"}', "ISO 8601"),
        ('{"format": 1, "refreshed_at": "2026-11-26T07:40:00Z", "files": {}}', "no index"),
        (
            '{"format": 1, "refreshed_at": "2026-11-26T07:40:00Z", "index": "x", "files": {},'
            ' "checked": [{"name": "a"}]}',
            "should list name and version",
        ),
    ],
)
def test_a_broken_refresh_record_is_refused(text: str, message: str) -> None:
    with pytest.raises(AdvisoryError, match=message):
        parse_refresh(text)


def test_age_is_judged_against_the_clock() -> None:
    fresh = judge_freshness(refresh(), now="2026-11-29T09:40:00Z", max_age=MAX_AGE)
    assert not fresh.stale and fresh.age == 3 * 86400 + 7200
    assert fresh.line == "advisories refreshed 3d 2h ago from http://127.0.0.1:9/simple/"
    old = judge_freshness(refresh(), now="2026-12-03T07:40:01Z", max_age=MAX_AGE)
    assert old.stale and old.line.endswith("ago from http://127.0.0.1:9/simple/: older than 7d")
    assert judge_freshness(refresh(), now="2026-12-03T07:40:00Z", max_age=MAX_AGE).stale is False
    never = judge_freshness(None, now=AT, max_age=MAX_AGE)
    assert never.stale and "never refreshed" in never.line and never.age is None
    future = judge_freshness(refresh("2026-11-27T07:40:00Z"), now=AT, max_age=MAX_AGE)
    assert future.stale and "in the future" in future.line


def test_packages_the_refresh_did_not_check_are_named() -> None:
    installed = {"Jinja2": "3.1.2", "rich": "13.9.4.0", "internal_thing": "1.0", "idna": "3.10"}
    missing = uncovered(refresh(), installed)
    assert set(missing) == {"internal-thing", "idna"}
    assert "did not answer" in missing["internal-thing"] and "HTTP 404" in missing["internal-thing"]
    assert "soakgate advisories refresh" in missing["idna"]
    assert uncovered(refresh(), {"jinja2": "3.1.3"}) != {}  # another version is not covered


def test_the_audit_leaves_uncovered_packages_unaudited() -> None:
    document = osv_documents({("jinja2", "3.1.2"): [JINJA]}, modified=AT, source="x")
    skipped = json.dumps(
        {"dependencies": [{"name": n, "skip_reason": "offline"} for n in ("jinja2", "idna")]}
    )
    result = audit_packages(
        {"jinja2": "3.1.2", "idna": "3.10"},
        advisories=list(document.values()),
        uncovered={"idna": "3.10 not in the advisory refresh"},
        pip_audit=PipAuditRun(skipped),
    )
    assert [v.id for v in result.audit.vulnerabilities] == [JINJA["id"]]
    (entry,) = result.audit.unaudited
    assert entry.startswith("idna: ") and "not in the advisory refresh" in entry
    assert "1 packages not covered" in result.sources["advisories"]


# --- what to check --------------------------------------------------------------------------


def test_pins_are_read_from_requirement_files(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(
        "# pinned\n"
        "--index-url http://127.0.0.1:9/simple/\n"
        "Jinja2==3.1.2 \\\n"
        "    --hash=sha256:aaaa \\\n"
        "    --hash=sha256:bbbb\n"
        'rich==13.9.4 ; python_version >= "3.11"  # the console\n'
        "\n"
    )
    assert pinned_packages(path) == {("jinja2", "3.1.2"), ("rich", "13.9.4")}
    path.write_text("jinja2>=3\n")
    with pytest.raises(ConfigError, match=r"requirements.txt:1: jinja2 is not pinned"):
        pinned_packages(path)
    path.write_text("ok==1\nnot a requirement!\n")
    with pytest.raises(ConfigError, match=r":2: not a requirement"):
        pinned_packages(path)


def test_the_index_comes_from_the_option_then_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    settings = {"global.index-url": "http://127.0.0.1:9/simple/", "global.cert": "/ca.pem"}
    assert configured_index(None, settings).url == "http://127.0.0.1:9/simple/"
    assert configured_index(None, settings).cert == "/ca.pem"
    chosen = configured_index("http://127.0.0.1:8/simple/", settings)
    assert chosen.url == "http://127.0.0.1:8/simple/"
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:7/simple/")
    assert configured_index(None, settings).url == "http://127.0.0.1:7/simple/"
    with pytest.raises(ConfigError, match="--index-url: index URL 'ftp://x' is not an http"):
        configured_index("ftp://x", {})
