"""The HTTP server: ``http.server`` threads handing each request to :func:`routes.route`.

server = make_server("127.0.0.1", 0)      # port 0: any free port
threading.Thread(target=server.serve_forever, daemon=True).start()
"""

from __future__ import annotations

import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from plainsvc.routes import MAX_BODY, route

DEFAULT_PORT = 9090


class Handler(BaseHTTPRequestHandler):
    server_version = "plainsvc"
    protocol_version = "HTTP/1.1"
    # headers and body leave in two writes: without TCP_NODELAY a keep-alive client's delayed
    # ACK holds the body back up to 40 ms (Nagle), on some answers and not others
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._answer(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._answer(self.rfile.read(min(length, MAX_BODY + 1)))

    def _answer(self, body: bytes) -> None:
        answer = route(self.command, self.path, body)
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: object) -> None:  # one line a request, stderr
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def port_from(environ: dict[str, str]) -> int:
    """The port to listen on: ``PORT`` from the environment, else 9090."""
    text = environ.get("PORT", "").strip() or str(DEFAULT_PORT)
    port = int(text)
    if not 0 < port < 65536:
        raise ValueError(f"PORT must be 1-65535, not {text}")
    return port


def make_server(host: str, port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def stop(signum: int, frame: object) -> None:
    """SIGTERM ends the server (as PID 1 in a container it is ignored unless handled)."""
    raise SystemExit(0)


def main() -> None:  # pragma: no cover - the image's command
    signal.signal(signal.SIGTERM, stop)
    server = make_server("0.0.0.0", port_from(dict(os.environ)))
    server.serve_forever()
