"""A package index's JSON API on loopback that answers from OSV documents, so the tests can
run the real ``soakgate advisories refresh`` without reaching any registry.

    with AdvisoryIndex(ROOT / "tests" / "data" / "osv") as index:
        project.soakgate("advisories", "refresh", str(out), "--index-url", index.url, ...)

Every ``/pypi/<name>/<version>/json`` is answered: with the advisories among the documents that
affect that version (matched by soakgate's own OSV matcher), else with none.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from soakgate.core.evidence import match_advisories

_PATH = re.compile(r"^/pypi/([^/]+)/([^/]+)/json$")


def _fixed(document: dict[str, Any]) -> list[str]:
    return [
        event["fixed"]
        for affected in document.get("affected", [])
        for ranges in affected.get("ranges", [])
        if ranges.get("type") == "ECOSYSTEM"
        for event in ranges.get("events", [])
        if "fixed" in event
    ]


def json_api_entry(document: dict[str, Any]) -> dict[str, Any]:
    """An OSV document as the index's JSON API lists it under ``vulnerabilities``."""
    return {
        "id": document["id"],
        "aliases": document.get("aliases", []),
        "details": document.get("details", ""),
        "summary": document.get("summary"),
        "fixed_in": _fixed(document),
        "link": f"https://osv.dev/vulnerability/{document['id']}",
        "withdrawn": None,
    }


class AdvisoryIndex:
    """Serves the JSON API on 127.0.0.1 (a free port) while entered."""

    def __init__(self, osv: Path) -> None:
        self.documents = [json.loads(path.read_text()) for path in sorted(osv.glob("*.json"))]
        self.asked: list[tuple[str, str]] = []
        index = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                match = _PATH.match(self.path)
                answer = index.answer(*match.groups()) if match else None
                body = json.dumps(answer or {"message": "Not Found"}).encode()
                self.send_response(200 if answer else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple/"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def answer(self, name: str, version: str) -> dict[str, Any]:
        self.asked.append((name, version))
        affecting = [
            json_api_entry(document)
            for document in self.documents
            if match_advisories({name: version}, [document]).vulnerabilities
        ]
        return {"info": {"name": name, "version": version}, "vulnerabilities": affecting}

    def __enter__(self) -> AdvisoryIndex:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
