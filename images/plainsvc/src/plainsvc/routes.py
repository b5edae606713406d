"""What each request answers, as data: ``route(method, path, body) -> Answer``. No I/O.

route("GET", "/primes?limit=10", b"")      # Answer(200, b'{"limit": 10, "primes": 4}', ...)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

MAX_LIMIT = 200_000
MAX_BODY = 65_536
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = JSON


def as_json(status: int, data: object) -> Answer:
    return Answer(status, json.dumps(data, sort_keys=True).encode())


def count_primes(limit: int) -> int:
    """How many primes are at most ``limit`` (a sieve of Eratosthenes)."""
    if limit < 2:
        return 0
    sieve = bytearray([1]) * (limit + 1)
    sieve[0] = sieve[1] = 0
    for n in range(2, int(limit**0.5) + 1):
        if sieve[n]:
            sieve[n * n :: n] = bytes(len(range(n * n, limit + 1, n)))
    return sum(sieve)


def parse_limit(query: str) -> int:
    """The ``limit`` of a query string: a whole number 0..MAX_LIMIT (ValueError otherwise)."""
    values = parse_qs(query).get("limit", ["1000"])
    text = values[-1]
    if not text.isdigit():
        raise ValueError(f"limit must be a whole number, not {text[:20]!r}")
    limit = int(text)
    if limit > MAX_LIMIT:
        raise ValueError(f"limit must be at most {MAX_LIMIT}")
    return limit


def route(method: str, target: str, body: bytes) -> Answer:
    """The answer to one request."""
    parts = urlsplit(target)
    if parts.path == "/healthz" and method == "GET":
        return as_json(200, {"status": "ok"})
    if parts.path == "/primes" and method == "GET":
        try:
            limit = parse_limit(parts.query)
        except ValueError as exc:
            return as_json(400, {"error": str(exc)})
        return as_json(200, {"limit": limit, "primes": count_primes(limit)})
    if parts.path == "/reverse" and method == "POST":
        if len(body) > MAX_BODY:
            return as_json(413, {"error": f"body larger than {MAX_BODY} bytes"})
        return Answer(200, body.decode("utf-8", "replace")[::-1].encode(), TEXT)
    if parts.path in ("/healthz", "/primes", "/reverse"):
        return as_json(405, {"error": f"{method} not allowed on {parts.path}"})
    return as_json(404, {"error": f"no such path: {parts.path}"})
