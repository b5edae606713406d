"""bandit's report and the waiver file, parsed (core.security)."""

from __future__ import annotations

import json
import tomllib
from datetime import date

import pytest

from soakgate.core.security import (
    BanditUnreadable,
    CodeIssue,
    Waiver,
    parse_bandit,
    parse_waivers,
    split_waivers,
    waiver_for,
)
from soakgate.core.validation import ConfigInvalid

REPORT = {
    "results": [
        {
            "test_id": "B602",
            "issue_severity": "HIGH",
            "issue_confidence": "HIGH",
            "filename": "/work/svc/app/run.py",
            "line_number": 7,
            "issue_text": "subprocess call with shell=True identified",
        },
        {"test_id": "B101", "issue_severity": "LOW", "issue_confidence": "high"},
    ]
}


def test_bandit_findings_are_read_with_paths_relative_to_the_context() -> None:
    first, second = parse_bandit(json.dumps(REPORT), root="/work/svc")
    assert first == CodeIssue(
        "B602", "HIGH", "HIGH", "app/run.py", 7, "subprocess call with shell=True identified"
    )
    assert first.ids() == {"B602", "B602:app/run.py"}
    assert (second.severity, second.confidence, second.file) == ("LOW", "HIGH", "?")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope", "not JSON"),
        ("{}", "no results list"),
        ('{"results": [{}]}', "has no test_id"),
        (
            '{"results": [], "errors": [{"filename": "/x/app", "reason": "No such file"}]}',
            "bandit could not scan /x/app: No such file",
        ),
    ],
)
def test_an_unreadable_report_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(BanditUnreadable, match=message):
        parse_bandit(text)


WAIVERS = """
[[waiver]]
id = "B602:app/run.py"
reason = "fixed argv"
expires = 2027-01-31

[[waiver]]
id = "GHSA-h5c8-rqwp-cp95"
reason = "not reachable"
expires = 2026-12-01
"""


def test_waivers_split_on_their_expiry_date() -> None:
    waivers = parse_waivers(tomllib.loads(WAIVERS))
    assert waivers[0] == Waiver("B602:app/run.py", "fixed argv", date(2027, 1, 31))
    active, expired = split_waivers(waivers, date(2026, 12, 4))
    assert [w.id for w in active] == ["B602:app/run.py"]
    assert [w.id for w in expired] == ["GHSA-h5c8-rqwp-cp95"]
    assert split_waivers(waivers, date(2027, 1, 31))[0] == ()  # void from its expiry day on
    assert waiver_for({"B602", "B602:app/run.py"}, active) == waivers[0]
    assert waiver_for({"B602:app/other.py"}, active) is None


@pytest.mark.parametrize(
    ("text", "path", "problem"),
    [
        ('[[waiver]]\nid = "B1"\nreason = "x"\n', "waiver[0].expires", "expected a TOML date"),
        ('[[waiver]]\nid = "B1"\nreason = " "\nexpires = 2027-01-01\n', "waiver[0].reason", ""),
        ('[[waiver]]\nid = "B1"\nreason = "x"\nexpires = "2027"\n', "waiver[0].expires", ""),
        (
            '[[waiver]]\nid = "B1"\nreason = "x"\nexpires = 2027-01-01\nby = "ana"\n',
            "waiver[0].by",
            "unknown key",
        ),
        ("waivers = []\n", "waivers", "unknown key"),
    ],
)
def test_a_bad_waiver_names_its_entry(text: str, path: str, problem: str) -> None:
    with pytest.raises(ConfigInvalid) as raised:
        parse_waivers(tomllib.loads(text))
    assert raised.value.path == path and problem in str(raised.value)
