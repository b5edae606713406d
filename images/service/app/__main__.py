"""``python -m app``: serve on 0.0.0.0:$PORT (default 8000) with JSON logs."""

from __future__ import annotations

import os

import uvicorn

from app.logs import LOG_CONFIG


def main() -> None:
    """Run uvicorn; its access log is off in favour of the middleware's JSON line."""
    port = int(os.environ.get("PORT") or "8000")
    uvicorn.run(
        "app.main:app",
        host="0.0.0.0",
        port=port,
        log_config=LOG_CONFIG,
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    main()
