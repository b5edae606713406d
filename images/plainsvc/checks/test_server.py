"""The server over a real socket (port 0: any free one)."""

from __future__ import annotations

import threading
import unittest
import urllib.error
import urllib.request

from plainsvc.server import DEFAULT_PORT, make_server, port_from, stop


class Server(unittest.TestCase):
    def setUp(self) -> None:
        self.server = make_server("127.0.0.1", 0)
        self.addCleanup(self.server.server_close)
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 5)
        self.addCleanup(self.server.shutdown)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def test_daemon_threads(self) -> None:
        self.assertTrue(self.server.daemon_threads)

    def test_get(self) -> None:
        with urllib.request.urlopen(f"{self.base}/healthz", timeout=5) as response:
            self.assertEqual(response.status, 200)
            self.assertEqual(response.headers["Content-Type"], "application/json")
            self.assertEqual(response.headers["Content-Length"], "16")
            self.assertEqual(response.read(), b'{"status": "ok"}')

    def test_post(self) -> None:
        request = urllib.request.Request(f"{self.base}/reverse", data=b"hello", method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            self.assertEqual(response.read(), b"olleh")
            self.assertEqual(response.headers["Content-Type"], "text/plain; charset=utf-8")

    def test_post_without_a_body(self) -> None:
        request = urllib.request.Request(f"{self.base}/reverse", method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            self.assertEqual(response.read(), b"")

    def test_error_status(self) -> None:
        with self.assertRaises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(f"{self.base}/nowhere", timeout=5)
        self.assertEqual(raised.exception.code, 404)
        raised.exception.close()


class Port(unittest.TestCase):
    def test_from_the_environment(self) -> None:
        self.assertEqual(port_from({}), DEFAULT_PORT)
        self.assertEqual(DEFAULT_PORT, 9090)
        self.assertEqual(port_from({"PORT": " "}), 9090)
        self.assertEqual(port_from({"PORT": "8123"}), 8123)
        self.assertEqual(port_from({"PORT": "1"}), 1)
        self.assertEqual(port_from({"PORT": "65535"}), 65535)

    def test_refused(self) -> None:
        for text in ("0", "65536"):
            with self.assertRaisesRegex(ValueError, f"^PORT must be 1-65535, not {text}$"):
                port_from({"PORT": text})


class Stop(unittest.TestCase):
    def test_sigterm_exits_cleanly(self) -> None:
        with self.assertRaises(SystemExit) as raised:
            stop(15, None)
        self.assertEqual(raised.exception.code, 0)
