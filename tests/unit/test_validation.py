"""The shared validators: what they accept, what they refuse, and that patterns end in \\Z."""

from __future__ import annotations

from typing import Any

import pytest

from soakgate.core.validation import (
    ConfigInvalid,
    check_document,
    digest,
    env_map,
    finite_number,
    image_ref,
    port_number,
    positive_duration,
    url_path,
)

HEX = "0123456789abcdef" * 4


@pytest.mark.parametrize("value", ["/health", "/health?deep=1", "/a/b-c_d.e~f", "/%20x", "/"])
def test_url_paths_accepted(value: str) -> None:
    assert url_path("p", value) == value


@pytest.mark.parametrize(
    "value",
    ["health", "/a b", "/a\tb", "/a\r\nX: y", "/a\n", "//host/x", "/a#frag", "/%zz", "/é", 7, ""],
)
def test_url_paths_refused(value: Any) -> None:
    with pytest.raises(ConfigInvalid, match=r"^p: expected an absolute URL path"):
        url_path("p", value)


@pytest.mark.parametrize(
    "value",
    ["soakgate/proxy:nginx", "python:3.12-slim", "localhost:5000/x", f"x@sha256:{HEX}", "a__b"],
)
def test_image_refs_accepted(value: str) -> None:
    assert image_ref("p", value) == value


@pytest.mark.parametrize("value", ["UPPER", "a b", "nginx;id", "/x", "x/", "x:", "x:tag\n", ""])
def test_image_refs_refused(value: str) -> None:
    with pytest.raises(ConfigInvalid, match=r"^p: expected an image name"):
        image_ref("p", value)


def test_digest_refuses_a_trailing_newline() -> None:
    assert digest("p", f"sha256:{HEX}") == f"sha256:{HEX}"
    with pytest.raises(ConfigInvalid):
        digest("p", f"sha256:{HEX}\n")


@pytest.mark.parametrize(
    ("value", "text_ok", "expected"),
    [(8080, False, 8080), ("8080", True, 8080), (" 8080 ", True, 8080)],
)
def test_ports_accepted(value: Any, text_ok: bool, expected: int) -> None:
    assert port_number("p", value, text_ok=text_ok) == expected


@pytest.mark.parametrize(
    ("value", "text_ok"),
    [
        (True, False),
        (8080.0, False),
        ("8080", False),
        ("8080\n1", True),
        ("0x1f90", True),
        (0, False),
        (65536, False),
        ("٨٠٨٠", True),
    ],
)
def test_ports_refused(value: Any, text_ok: bool) -> None:
    with pytest.raises(ConfigInvalid, match=r"^p: expected a port number 1-65535"):
        port_number("p", value, text_ok=text_ok)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "expected a number, got nan"),
        (float("inf"), "expected a number, got inf"),
        ("nan", "expected a number, got 'nan'"),
        ("1e3", "expected a number, got '1e3'"),
        (True, "expected a number, got True"),
        (2**60, "expected a number, got 1152921504606846976"),
        (0.05, "expected a number between 0.1 and 64, got 0.05"),
    ],
)
def test_numbers_are_finite_and_in_range(value: Any, message: str) -> None:
    with pytest.raises(ConfigInvalid) as raised:
        finite_number("p", value, 0.1, 64, text_ok=True)
    assert str(raised.value) == f"p: {message}"


def test_whole_numbers() -> None:
    assert finite_number("p", "512", 1, 1024, text_ok=True, integer=True) == 512
    with pytest.raises(ConfigInvalid, match=r"expected a whole number, got 2\.5"):
        finite_number("p", 2.5, 1, 1024, integer=True)


def test_positive_duration() -> None:
    assert positive_duration("p", "90s") == 90
    for value in ("0s", "0d", "", None, 5):
        with pytest.raises(ConfigInvalid, match=r'^p: should be a positive duration like "1h"'):
            positive_duration("p", value)


def test_env_map() -> None:
    assert env_map("p", {"A": 1, "B_2": "x", "c": 1.5}) == {"A": "1", "B_2": "x", "c": "1.5"}
    for bad in ({"1A": "x"}, {"A-B": "x"}, {"A": None}, {"A": True}, {"A": "x\x00"}, ["A"]):
        with pytest.raises(ConfigInvalid):
            env_map("p", bad)


def test_check_document_finds_nan_anywhere() -> None:
    check_document("", {"a": [1, {"b": 2.5}], "c": "nan"})
    with pytest.raises(ConfigInvalid, match=r"^a\[1\]\.b: expected a finite number, got nan$"):
        check_document("", {"a": [1, {"b": float("nan")}]})
    with pytest.raises(ConfigInvalid, match=r"^x: number out of range"):
        check_document("", {"x": 10**30})
