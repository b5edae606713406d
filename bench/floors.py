"""Floors: the least a benchmark figure could cost on this machine, measured in the same run
(median of RUNS each, after one untimed warm-up) so every figure can be read against them.

    floors = measure_floors()
    floors["nginx_reload"]["seconds"]     # the median; None, with a "why", when not measured

- ``nginx_reload``: ``nginx -s reload`` exec'd in a running proxy container, configured as a
  stage runs it (the emergency flip's floor);
- ``container_run``: ``docker run --rm`` of the proxy image running ``true`` (a deploy's floor:
  a container started and stopped);
- ``http_get``: one HTTP GET over loopback to a tiny in-process server (a probe's floor).

A missing engine or image gives ``{"seconds": None, "why": ...}``, never an exception.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from soakgate.adapters.images.proxy_image import PROXY_IMAGE

RUNS = 5
READY_SECONDS = 10.0  # for a fresh proxy container's nginx to answer a reload
DRAIN_SECONDS = 0.3  # between reloads: let nginx's old workers go
API_VERSION = "auto"  # as soakgate's engine adapter: older engines refuse the SDK's default

Floor = dict[str, Any]


class FloorFailed(Exception):
    """A floor that could not be measured; its message says why."""


def measured(what: str, samples: list[float]) -> Floor:
    return {
        "what": what,
        "seconds": round(statistics.median(samples), 4),
        "runs": [round(sample, 4) for sample in samples],
    }


def unmeasured(what: str, why: str) -> Floor:
    return {"what": what, "seconds": None, "why": why}


def sample(action: Callable[[], None], runs: int, pause: float = 0.0) -> list[float]:
    """Seconds of ``runs`` calls of ``action``, after one untimed warm-up call."""
    action()
    samples = []
    for _ in range(runs):
        time.sleep(pause)
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


def engine_client() -> Any:
    """A Docker SDK client for the engine DOCKER_HOST names (default: the local socket)."""
    import docker

    return docker.from_env(version=API_VERSION, timeout=60)


def engine_version() -> str:
    """The Docker engine's version, or "unavailable"."""
    try:
        return str(engine_client().version()["Version"])
    except Exception:  # no engine, no SDK, an odd answer: it is only a description
        return "unavailable"


def nginx_reload(client: Any, image: str = PROXY_IMAGE, runs: int = RUNS) -> Floor:
    """``nginx -s reload`` in a running proxy container started with a stage's nginx.conf
    (the image's own /etc/nginx config does not start: its log directory is stripped)."""
    from soakgate.adapters.stage.engine import UPSTREAM_FILE
    from soakgate.core.proxy_conf import CONF_DIR, NO_UPSTREAM, render_nginx_conf, render_upstream
    from soakgate.pulumi.stage import PROXY_UID

    what = f"nginx -s reload exec'd in a running {image} container"
    conf = f"{CONF_DIR}/nginx.conf"
    reload = ["nginx", "-c", conf, "-s", "reload"]
    container = None
    with tempfile.TemporaryDirectory(prefix="bench-floor-proxy-") as work:
        conf_dir = Path(work)
        (conf_dir / "nginx.conf").write_text(render_nginx_conf())
        (conf_dir / UPSTREAM_FILE).write_text(render_upstream(NO_UPSTREAM))
        for path in conf_dir.iterdir():
            path.chmod(0o644)
        conf_dir.chmod(0o755)  # read by the container's unprivileged nginx
        try:
            client.images.get(image)
            container = client.containers.run(
                image,
                ["nginx", "-c", conf, "-g", "daemon off;"],
                detach=True,
                name=f"soakgate-bench-floor-{os.getpid()}",
                user=PROXY_UID,
                read_only=True,
                tmpfs={"/tmp": "rw,nosuid,size=32m"},
                network_mode="none",
                volumes={str(conf_dir): {"bind": CONF_DIR, "mode": "ro"}},
                labels={"soakgate.bench": "floor"},
            )

            def exec_reload() -> None:
                result = container.exec_run(reload)
                if result.exit_code != 0:
                    output = (result.output or b"").decode(errors="replace").strip()
                    raise FloorFailed(f"{' '.join(reload)} exited {result.exit_code}: {output}")

            deadline = time.monotonic() + READY_SECONDS
            while True:  # until nginx has written its pid file
                try:
                    exec_reload()
                    break
                except FloorFailed:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            return measured(what, sample(exec_reload, runs, pause=DRAIN_SECONDS))
        except Exception as exc:  # a missing image or engine is a null floor, not a crash
            return unmeasured(what, reason(exc))
        finally:
            if container is not None:
                with contextlib.suppress(Exception):  # already gone
                    container.remove(force=True)


def container_run(client: Any, image: str = PROXY_IMAGE, runs: int = RUNS) -> Floor:
    """``docker run --rm IMAGE true``: a container created, started, waited for, removed."""
    what = f"docker run --rm {image} true"
    try:
        client.images.get(image)
        return measured(
            what,
            sample(lambda: client.containers.run(image, ["true"], remove=True), runs),
        )
    except Exception as exc:
        return unmeasured(what, reason(exc))


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def http_get(runs: int = RUNS) -> Floor:
    """One GET on a new loopback connection to an in-process ``http.server`` thread."""
    what = "HTTP GET over loopback (new connection) to an in-process http.server"
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    except OSError as exc:
        return unmeasured(what, reason(exc))
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def get() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/health")
            answer = connection.getresponse()
            answer.read()
            if answer.status != 200:
                raise FloorFailed(f"the loopback server answered {answer.status}")
        finally:
            connection.close()

    try:
        return measured(what, sample(get, runs))
    except Exception as exc:
        return unmeasured(what, reason(exc))
    finally:
        server.shutdown()
        server.server_close()


def reason(exc: BaseException) -> str:
    """One line saying why a floor was not measured."""
    name = type(exc).__name__
    if name == "ImageNotFound":
        return f"image not on this engine ({exc}); `soakgate up` or ./bootstrap makes it"
    return f"{name}: {exc}".splitlines()[0]


def measure_floors(image: str = PROXY_IMAGE, runs: int = RUNS) -> dict[str, Floor]:
    """All three floors; the Docker ones null with the reason when no engine answers."""
    try:
        client = engine_client()
        client.ping()
    except Exception as exc:
        why = f"no Docker engine: {reason(exc)}"
        docker_floors = {
            "nginx_reload": unmeasured(f"nginx -s reload in a running {image} container", why),
            "container_run": unmeasured(f"docker run --rm {image} true", why),
        }
    else:
        try:
            docker_floors = {
                "nginx_reload": nginx_reload(client, image, runs),
                "container_run": container_run(client, image, runs),
            }
        finally:
            client.close()
    return {**docker_floors, "http_get": http_get(runs)}
