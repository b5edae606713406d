"""Validation helpers shared by the configuration parsers (soakgate.toml, its gates and SLOs,
and the ``soakgate:*`` values of ``Pulumi.<stage>.yaml``). Each raises :class:`ConfigInvalid`
naming the value's path; patterns end in ``\\Z`` (``$`` would accept a trailing newline).

    positive_duration("stages.production.rto", "0s")
    # ConfigInvalid: stages.production.rto: should be a positive duration like "1h", got "0s"
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

_DURATION = re.compile(r"([0-9]{1,9})[ \t]*(s|m|h|d)\Z")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_SECONDS = 10 * 366 * 86400  # ten years: anything longer is a typo
# RFC 3986 path (and query) characters: no whitespace, no control characters, no fragment.
_PCHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})"
_URL_PATH = re.compile(rf"/(?!/){_PCHAR}*(?:\?(?:{_PCHAR}|\?)*)?\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}\Z")
# An image reference in Docker's grammar: [host[:port]/]path[:tag][@sha256:…].
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_REF = re.compile(
    rf"(?:[A-Za-z0-9.-]+(?::[0-9]{{1,5}})?/(?=.))?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?\Z"
)
TAG_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\Z")
MAX_INTEGER = 2**53  # larger integers are not numbers a config needs (and overflow floats)


class ConfigInvalid(ValueError):
    """A value in the configuration is wrong; ``path`` names it (``stages.dev.port``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


def show(value: Any) -> str:
    """A value as it is written in TOML/YAML, on one line: ``"0s"``, ``80``, ``true``."""
    try:
        return json.dumps(value, ensure_ascii=True, allow_nan=False)[:80]
    except (TypeError, ValueError):
        return repr(value)[:80]


def _repr(value: Any) -> str:
    return repr(value)[:80]


def parse_duration(path: str, value: Any) -> int:
    """Return seconds for ``"90s"``, ``"15m"``, ``"4h"``, ``"7d"`` (``"0s"`` is 0)."""
    match = _DURATION.match(value) if isinstance(value, str) else None
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)] if match else -1
    if not 0 <= seconds <= MAX_SECONDS:
        raise ConfigInvalid(path, f'expected a duration like "4h" or "30m", got {value!r}')
    return seconds


def positive_duration(path: str, value: Any) -> int:
    """Like :func:`parse_duration`, but zero is refused (budgets and intervals divide by it)."""
    try:
        seconds = parse_duration(path, value)
    except ConfigInvalid:
        seconds = 0
    if seconds <= 0:
        raise ConfigInvalid(path, f'should be a positive duration like "1h", got {show(value)}')
    return seconds


def finite_number(
    path: str, value: Any, low: float, high: float, text_ok: bool = False, integer: bool = False
) -> float:
    """A finite number in ``[low, high]`` (bool is not a number); a numeric string too when
    ``text_ok`` (Pulumi keeps config values as strings)."""
    number: Any = value
    if text_ok and isinstance(value, str):
        pattern = r"[0-9]{1,15}\Z" if integer else r"[0-9]{1,15}(?:\.[0-9]{1,15})?\Z"
        number = float(value) if re.match(pattern, value.strip()) else None
    if (
        isinstance(number, bool)
        or not isinstance(number, int | float)
        or (isinstance(number, int) and abs(number) > MAX_INTEGER)
        or not math.isfinite(number)
    ):
        raise ConfigInvalid(path, f"expected a number, got {_repr(value)}")
    what = "a whole number" if integer else "a number"
    if integer and not float(number).is_integer():
        raise ConfigInvalid(path, f"expected {what}, got {_repr(value)}")
    if not low <= number <= high:
        raise ConfigInvalid(
            path, f"expected {what} between {low:g} and {high:g}, got {_repr(value)}"
        )
    return float(number)


def port_number(path: str, value: Any, low: int = 1, text_ok: bool = False) -> int:
    """An integer TCP port in ``low``-65535 (``true`` and ``8080.5`` are not ports)."""
    problem = f"expected a port number {low}-65535, got {_repr(value)}"
    if isinstance(value, str) and text_ok and re.match(r"[0-9]{1,5}\Z", value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 65535:
        raise ConfigInvalid(path, problem)
    return value


def url_path(path: str, value: Any) -> str:
    """An absolute URL path (``/health``, ``/health?deep=1``): no whitespace, no control
    characters, no ``//`` start, at most 1024 characters."""
    if not isinstance(value, str) or len(value) > 1024 or not _URL_PATH.match(value):
        raise ConfigInvalid(
            path,
            'expected an absolute URL path like "/health" (no spaces or control characters),'
            f" got {show(value)}",
        )
    return value


def plain_text(path: str, value: Any, limit: int = 200) -> str:
    """A non-empty single-line string without control characters."""
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ConfigInvalid(path, f"expected a non-empty string, got {show(value)}")
    if _CONTROL.search(value):
        raise ConfigInvalid(path, f"control characters are not allowed, got {show(value)}")
    return value


def relative_path(path: str, value: Any) -> str:
    """A path inside the project, lexically: relative, no ``..`` part, no control characters
    (the adapter that loads the file also checks where it resolves to)."""
    text = plain_text(path, value, limit=1024)
    parts = text.replace("\\", "/").split("/")
    if text.startswith(("/", "~")) or ".." in parts:
        raise ConfigInvalid(
            path, f"should be a path inside the project (relative, no ..), got {show(value)}"
        )
    return text


def digest(path: str, value: Any) -> str:
    """An image digest ``sha256:<64 hex digits>``."""
    if not isinstance(value, str) or not DIGEST.match(value):
        raise ConfigInvalid(
            path, f"expected an image digest sha256:<64 hex digits>, got {show(value)}"
        )
    return value


def image_ref(path: str, value: Any) -> str:
    """A local image name with an optional tag (``soakgate/proxy:nginx``)."""
    if not isinstance(value, str) or len(value) > 255 or not IMAGE_REF.match(value):
        raise ConfigInvalid(
            path, f"expected an image name like soakgate/service[:tag], got {show(value)}"
        )
    return value


def env_map(path: str, value: Any) -> dict[str, str]:
    """A map of environment variable NAME: value (scalars; no NUL in values)."""
    if not isinstance(value, Mapping):
        raise ConfigInvalid(path, f"expected a map of NAME: value, got {show(value)}")
    result: dict[str, str] = {}
    for name, raw in value.items():
        if not isinstance(name, str) or not ENV_NAME.match(name):
            raise ConfigInvalid(path, f"{_repr(name)} is not a variable name (A-Z, 0-9, _)")
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise ConfigInvalid(f"{path}.{name}", f"expected a string or number, got {show(raw)}")
        if isinstance(raw, float) and not math.isfinite(raw):
            raise ConfigInvalid(f"{path}.{name}", f"expected a finite number, got {show(raw)}")
        if isinstance(raw, str) and "\x00" in raw:
            raise ConfigInvalid(f"{path}.{name}", "NUL characters are not allowed")
        result[name] = str(raw)
    return result


def check_document(path: str, value: Any, depth: int = 0) -> None:
    """Refuse what no key of a config needs, anywhere in a parsed document: nan and inf, and
    integers beyond 2**53 (they overflow the floats the parsers compute with)."""
    if depth > 32:
        raise ConfigInvalid(path, "nested too deeply")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigInvalid(path, f"expected a finite number, got {value!r}")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
        raise ConfigInvalid(path, f"number out of range, got {str(value)[:20]}…")
    if isinstance(value, Mapping):
        for key, item in value.items():
            check_document(f"{path}.{key}" if path else str(key), item, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_document(f"{path}[{index}]", item, depth + 1)
