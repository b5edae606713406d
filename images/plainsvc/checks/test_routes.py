"""The answers, as data."""

from __future__ import annotations

import json
import unittest

from plainsvc.routes import (
    JSON,
    MAX_BODY,
    MAX_LIMIT,
    TEXT,
    Answer,
    count_primes,
    parse_limit,
    route,
)


def data(answer: Answer) -> object:
    return json.loads(answer.body)


class CountPrimes(unittest.TestCase):
    def test_small_limits(self) -> None:
        self.assertEqual(
            [count_primes(n) for n in range(-1, 12)], [0, 0, 0, 1, 2, 2, 3, 3, 4, 4, 4, 4, 5]
        )

    def test_squares_of_primes_are_not_primes(self) -> None:
        self.assertEqual(count_primes(25), 9)
        self.assertEqual(count_primes(49), 15)
        self.assertEqual(count_primes(121), 30)

    def test_larger_limits(self) -> None:
        self.assertEqual(count_primes(100), 25)
        self.assertEqual(count_primes(1000), 168)
        self.assertEqual(count_primes(100_000), 9592)


class ParseLimit(unittest.TestCase):
    def test_default_and_given(self) -> None:
        self.assertEqual(parse_limit(""), 1000)
        self.assertEqual(parse_limit("limit=7"), 7)
        self.assertEqual(parse_limit("limit=1&limit=9"), 9)
        self.assertEqual(parse_limit(f"limit={MAX_LIMIT}"), MAX_LIMIT)

    def test_refused(self) -> None:
        with self.assertRaisesRegex(ValueError, "^limit must be a whole number, not '-3'$"):
            parse_limit("limit=-3")
        with self.assertRaisesRegex(ValueError, "^limit must be a whole number, not 'x'$"):
            parse_limit("limit=x")
        with self.assertRaisesRegex(ValueError, f"^limit must be at most {MAX_LIMIT}$"):
            parse_limit(f"limit={MAX_LIMIT + 1}")


class Route(unittest.TestCase):
    def test_health(self) -> None:
        self.assertEqual(route("GET", "/healthz", b""), Answer(200, b'{"status": "ok"}', JSON))

    def test_primes(self) -> None:
        answer = route("GET", "/primes?limit=10", b"")
        self.assertEqual((answer.status, data(answer)), (200, {"limit": 10, "primes": 4}))
        self.assertEqual(answer.content_type, JSON)
        self.assertEqual(data(route("GET", "/primes", b"")), {"limit": 1000, "primes": 168})

    def test_bad_limit_is_a_400(self) -> None:
        answer = route("GET", "/primes?limit=ten", b"")
        self.assertEqual(answer.status, 400)
        self.assertEqual(data(answer), {"error": "limit must be a whole number, not 'ten'"})

    def test_reverse(self) -> None:
        self.assertEqual(
            route("POST", "/reverse", "abç".encode()), Answer(200, "çba".encode(), TEXT)
        )
        self.assertEqual(route("POST", "/reverse", b"\xff").body, "\ufffd".encode())
        self.assertEqual(route("POST", "/reverse", b"x" * MAX_BODY).status, 200)

    def test_a_body_too_large_is_a_413(self) -> None:
        answer = route("POST", "/reverse", b"x" * (MAX_BODY + 1))
        self.assertEqual(answer.status, 413)
        self.assertEqual(data(answer), {"error": f"body larger than {MAX_BODY} bytes"})

    def test_wrong_method_is_a_405(self) -> None:
        for method, path in (("POST", "/healthz"), ("POST", "/primes"), ("GET", "/reverse")):
            answer = route(method, path, b"")
            self.assertEqual(answer.status, 405, path)
            self.assertEqual(data(answer), {"error": f"{method} not allowed on {path}"})

    def test_unknown_path_is_a_404(self) -> None:
        answer = route("GET", "/nowhere?x=1", b"")
        self.assertEqual((answer.status, data(answer)), (404, {"error": "no such path: /nowhere"}))
