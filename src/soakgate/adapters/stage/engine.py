"""The Docker side of a stage's blue/green slots: start a release in a slot, wait for its
health, switch the proxy, and read back what really runs. No Pulumi here, so the emergency
path (a proxy flip) imports little and takes a fraction of a second.

    engine = StageEngine("staging", conf_dir, proxy_port=18081)
    table = engine.read_slots()
    engine.switch(Switch("green", table.green.digest, 8000, "/healthz"))
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soakgate.adapters.critical_section import uninterruptible
from soakgate.adapters.docker.light import LightDocker
from soakgate.adapters.stage.host_io import Answer as Answer
from soakgate.adapters.stage.host_io import HostIO, LocalHost, http_answer
from soakgate.adapters.stage.secret_files import (
    image_owner,
    remove_secret_files,
    restore_secret_files,
    secret_mount,
    write_secret_files,
)
from soakgate.core.names import (
    LABEL_MANAGED,
    LABEL_RELEASE,
    LABEL_SLOT,
    LABEL_SPEC,
    LABEL_STAGE,
    StageNames,
    digest_ref,
)
from soakgate.core.proxy_conf import (
    Switch,
    UpstreamTarget,
    parse_upstream,
    render_upstream,
)
from soakgate.core.slots import SLOTS, Slot, SlotTable
from soakgate.errors import DeployFailed, DockerError, SwitchRefused

UPSTREAM_FILE = "upstream.conf"
PROXY_PROBE = "/__soakgate/proxy"  # answered by nginx itself, with the slot it routes to
LOG_TAIL = 20
RELOAD_OVERLAP = 0.3  # s: nginx's old and new workers both accept for ~0.1 s after a reload


@dataclass(frozen=True)
class AppSpec:
    """How a stage runs its app containers (everything but the release)."""

    port: int = 8000
    health_path: str = "/health"
    health_timeout: float = 60.0
    memory_mb: int = 256
    cpus: float = 1.0
    envs: dict[str, str] = field(default_factory=dict)
    secrets_tag: str = ""  # keyed fingerprint of the secret values (secret_files.fingerprint)

    def spec_hash(self) -> str:
        fields: dict[str, Any] = {
            "port": self.port,
            "health_path": self.health_path,
            "memory_mb": self.memory_mb,
            "cpus": self.cpus,
            "envs": sorted(self.envs.items()),
        }
        if self.secrets_tag:  # absent when there are none: the hash of a stage without stays
            fields["secrets"] = self.secrets_tag
        payload = json.dumps(fields)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def hardening(memory_mb: int, cpus: float) -> dict[str, Any]:
    """Docker SDK ``containers.run`` arguments every app container runs under (a stage's slots
    and the performance comparison alike): read-only root with a small tmpfs, no capabilities,
    no privilege gain, memory and CPU limits."""
    return {
        "read_only": True,
        "tmpfs": {"/tmp": "rw,noexec,nosuid,size=64m"},
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "mem_limit": f"{memory_mb}m",
        "nano_cpus": int(cpus * 1e9),
    }


def run_kwargs(
    names: StageNames,
    slot: str,
    digest: str,
    spec: AppSpec,
    name: str,
    volumes: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """Docker SDK ``containers.run`` arguments of a hardened app container; ``volumes`` mounts
    its secret files (never environment variables: ``docker inspect`` shows those)."""
    extra: dict[str, Any] = {"volumes": volumes} if volumes else {}
    return {
        **extra,
        "image": digest,
        "name": name,
        "detach": True,
        "environment": {
            **spec.envs,
            "SOAKGATE_RELEASE": digest,
            "SOAKGATE_STAGE": names.stage,
            "PORT": str(spec.port),
        },
        "labels": {
            LABEL_MANAGED: "true",
            LABEL_STAGE: names.stage,
            LABEL_SLOT: slot,
            LABEL_RELEASE: digest,
            LABEL_SPEC: spec.spec_hash(),
        },
        "network": names.network,
        **hardening(spec.memory_mb, spec.cpus),
        "restart_policy": {"Name": "unless-stopped"},
        "log_config": {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}},
    }


def http_get(
    host: str, port: int, path: str, timeout: float = 2.0
) -> tuple[int, str | None] | None:
    """(status, X-Soakgate-Slot header) of one GET on a fresh connection; None when nothing
    answers. The standard library's client: the flip path must not wait for httpx's import."""
    answer = http_answer(host, port, path, timeout)
    return None if answer is None else (answer.status, answer.slot)


def _remove(client: Any, name: str) -> bool:
    """Stop and remove a container of ``client``'s engine; False when it was already gone."""
    import docker.errors

    try:
        client.containers.get(name).remove(force=True)
    except docker.errors.NotFound:
        return False
    return True


class StageEngine:
    """Blue/green operations of one stage on one Docker host (this machine's by default)."""

    def __init__(
        self,
        stage: str,
        conf_dir: Path,
        proxy_port: int,
        namespace: str = "",
        io: HostIO | None = None,
    ) -> None:
        self.stage = stage
        self.names = StageNames(stage, namespace)
        self.conf_dir = conf_dir  # on the host (relative: to its user's login directory)
        self.proxy_port = proxy_port
        self.io: HostIO = io or LocalHost()

    @property
    def light(self) -> LightDocker:
        """This machine's engine, for the local flip path and its tests."""
        if not isinstance(self.io, LocalHost):
            raise DockerError(f"{self.stage} on {self.io.label} has no local engine")
        return self.io.light

    def _where(self) -> str:
        return f" on {self.io.label}" if self.io.label else ""

    # --- reading -------------------------------------------------------------------------
    def upstream_text(self) -> str | None:
        return self.io.read_text(self.conf_dir / UPSTREAM_FILE)

    def upstream(self) -> UpstreamTarget | None:
        text = self.upstream_text()
        return None if text is None else parse_upstream(text)

    def live_slot(self) -> str | None:
        """The slot the running proxy routes to, as nginx itself says (its loaded config)."""
        answer = self.io.proxy_get(self.proxy_port, PROXY_PROBE, timeout=1.0)
        slot = answer.slot if answer is not None else None
        return slot if slot in SLOTS else None

    def _slot(self, slot: str) -> Slot:
        data = self.io.inspect(self.names.app(slot))
        if data is None:
            return Slot(slot)
        labels = data["Config"].get("Labels") or {}
        return Slot(
            slot,
            data["Id"],
            labels.get(LABEL_RELEASE),
            labels.get(LABEL_SPEC),
            data["State"]["Status"] == "running",
        )

    def read_slots(self) -> SlotTable:
        """What really runs: both app containers and where the proxy's upstream points (the
        upstream file's marker; when that file is unreadable, the running proxy's word)."""
        text = self.upstream_text()
        target = parse_upstream(text) if text is not None else None
        if target is not None:
            active = target.slot if target.slot in SLOTS else None
        else:
            active = self.live_slot() if text is not None else None
        return SlotTable(self._slot("blue"), self._slot("green"), active)

    def address(self, name: str) -> str:
        """The address the engine gave ``name`` on the stage network now (it changes across
        engine restarts: only probes use it, never the proxy)."""
        data = self.io.inspect(name)
        if data is None:
            raise DeployFailed(f"container {name} is gone{self._where()}")
        networks = data.get("NetworkSettings", {}).get("Networks") or {}
        address = (networks.get(self.names.network) or {}).get("IPAddress")
        if not address:
            raise DeployFailed(f"container {name} has no address on {self.names.network}")
        return str(address)

    # --- deploying (the Docker SDK is imported here only: the flip path does without) ------
    def start_candidate(
        self, slot: str, digest: str, spec: AppSpec, secrets: Mapping[str, str] | None = None
    ) -> str:
        """Start ``digest`` beside the slot (as ``<slot>-next``), its ``secrets`` as files at
        /run/secrets (owned by the image's USER); return the container name."""
        import docker.errors

        client = self.io.docker()
        name = self.names.candidate(slot)
        _remove(client, name)  # left by an interrupted deploy
        try:
            volumes = None
            if secrets:
                if not self.io.local:
                    raise DeployFailed(
                        f"{self.stage}{self._where()}: secret files reach only this machine's"
                        " engine so far",
                        hint=f"pulumi config rm soakgate:secretEnv --stack {self.stage}",
                    )
                user = client.images.get(digest).attrs["Config"].get("User")
                volumes = write_secret_files(
                    self.names, slot, secrets, image_owner(user or ""), tag=spec.secrets_tag
                )
            client.containers.run(**run_kwargs(self.names, slot, digest, spec, name, volumes))
        except docker.errors.ImageNotFound:
            where = self._where() or " on this Docker host"
            raise DeployFailed(
                f"release {digest} is not present{where}",
                hint=f"send it: soakgate hosts send {self.stage}" if self.io.label else "",
            ) from None
        except docker.errors.APIError as exc:
            _remove(client, name)
            raise DeployFailed(f"cannot start {name}{self._where()}: {exc.explanation}") from exc
        return name

    def wait_healthy(self, name: str, spec: AppSpec) -> float:
        """Poll the container's health path until it answers 200; return the seconds it took.

        Fails with the container's last log lines when it exits or the timeout passes.
        """
        started = time.monotonic()
        deadline = started + spec.health_timeout
        address = self.address(name)
        while time.monotonic() < deadline:
            state = self.io.inspect(name)
            if state is None or state["State"]["Status"] not in ("created", "running"):
                break
            answer = self.io.get(address, spec.port, spec.health_path)
            if answer is not None and answer.status == 200:
                return time.monotonic() - started
            time.sleep(0.2)
        logs = self.logs_tail(name)
        _remove(self.io.docker(), name)
        raise DeployFailed(
            f"{name}{self._where()}: health check {spec.health_path} did not pass within"
            f" {spec.health_timeout:.0f} s; traffic stays where it was. Last log lines:\n{logs}"
        )

    def logs_tail(self, name: str) -> str:
        import docker.errors

        try:
            container = self.io.docker().containers.get(name)
        except docker.errors.NotFound:
            return "(container gone)"
        output: bytes = container.logs(tail=LOG_TAIL)
        return output.decode(errors="replace").rstrip()

    def adopt_candidate(self, slot: str) -> str:
        """Replace the slot's old container by its healthy candidate; return the new id. The
        old container's secret files go with it."""
        client = self.io.docker()
        name = self.names.app(slot)
        _remove(client, name)
        candidate = client.containers.get(self.names.candidate(slot))
        candidate.rename(name)
        data = self.io.inspect(name)
        remove_secret_files(self.names, slot, keep=secret_mount(data) if data else None)
        return str(candidate.id)

    def _secret_dirs(self, spec: AppSpec) -> list[tuple[str, Path, str]]:
        """(slot, secret directory, image USER) of the slots that run with ``spec``'s values."""
        found: list[tuple[str, Path, str]] = []
        if not self.io.local:
            return found  # no secret files on SSH hosts (start_candidate refuses them)
        for slot in SLOTS:
            data = self.io.inspect(self.names.app(slot))
            if data is None:
                continue
            config = data.get("Config") or {}
            directory = secret_mount(data)
            if directory is not None and (config.get("Labels") or {}).get(LABEL_SPEC) == (
                spec.spec_hash()
            ):
                found.append((slot, directory, str(config.get("User") or "")))
        return found

    def secrets_lost(self, spec: AppSpec, secrets: Mapping[str, str]) -> list[str]:
        """The slots running with these values whose secret files are gone (a reboot)."""
        return [
            slot
            for slot, directory, _ in self._secret_dirs(spec)
            if secrets
            if not all((directory / name).is_file() for name in secrets)
        ]

    def restore_secrets(self, spec: AppSpec, secrets: Mapping[str, str]) -> list[str]:
        """Write the secret files again of every slot that runs with these values (same spec
        hash) and lost them (a reboot empties /dev/shm); the slots it wrote for."""
        if not secrets:
            return []
        return [
            slot
            for slot, directory, user in self._secret_dirs(spec)
            if restore_secret_files(directory, secrets, image_owner(user))
        ]

    # --- switching -----------------------------------------------------------------------
    def write_upstream(self, target: UpstreamTarget | str) -> None:
        """Replace the upstream file atomically, readable by the proxy's unprivileged nginx
        (0644: it holds no secret)."""
        text = target if isinstance(target, str) else render_upstream(target)
        self.io.write_text(self.conf_dir / UPSTREAM_FILE, text)

    def probe_slot(self, slot: str, port: int, health_path: str, timeout: float = 1.0) -> str:
        """One health GET straight at the slot's container; "" when it answers 200, else what
        it answered."""
        name = self.names.app(slot)
        try:
            address = self.address(name)
        except DeployFailed as gone:
            return gone.message
        answer = self.io.get(address, port, health_path, timeout=timeout)
        if answer is None:
            return f"{name} does not answer {health_path}"
        return "" if answer.status == 200 else f"{name} answered {health_path} {answer.status}"

    def switch(self, move: Switch) -> float:
        """Point the proxy at ``move.slot`` and reload it gracefully (in-flight requests finish).

        A compare-and-swap: with ``move.expect``, refuses (``SwitchRefused``, nothing changed)
        when the proxy's upstream is no longer that target; the slot gets one health probe
        first and is refused when it fails. Returns when a request through the proxy answers 200
        from the new slot: the seconds from the switch to that first verified response. When
        no such answer comes, the previous upstream is put back and the proxy reloaded.
        """
        slot, expect = move.slot, move.expect
        before = self.upstream_text()
        if expect is not None:
            current = parse_upstream(before) if before is not None else None
            if current != expect:
                now = (
                    f"slot {current.slot}, {digest_ref(current.digest)}"
                    if current
                    else "unreadable"
                )
                raise SwitchRefused(
                    f"the {self.stage} proxy{self._where()} changed meanwhile (now {now};"
                    f" expected slot {expect.slot}, {digest_ref(expect.digest)}): nothing switched",
                    hint=f"see soakgate status {self.stage}, then decide again",
                )
        problem = self.probe_slot(slot, move.port, move.health_path, move.probe_timeout)
        if problem:
            raise SwitchRefused(
                f"the {slot} slot of {self.stage}{self._where()} is not healthy ({problem}):"
                " nothing switched",
                hint=f"look at its logs: docker logs {self.names.app(slot)}",
            )
        started = time.monotonic()
        target = UpstreamTarget(slot, self.names.app(slot), move.port, move.digest)
        old_workers = self.io.accepting_workers(self.names.proxy)
        with uninterruptible():  # a status must never name a slot the proxy does not serve
            self.write_upstream(target)
            try:
                self.io.reload(self.names.proxy)
            except BaseException:
                self._put_back(before)  # the file names what nginx serves, as it did before
                raise
        try:
            seconds = self.wait_served_by(slot, move.health_path, move.timeout, started)
            self.wait_old_workers_quiet(slot, move.health_path, old_workers, started + move.timeout)
            return seconds
        except DeployFailed as failed:
            back = self._revert(before, move.health_path)
            raise DeployFailed(f"{failed.message}; {back}", hint=failed.hint) from None

    def _put_back(self, before: str | None) -> None:
        """Best effort: the upstream file as it was (the reload that would load it failed)."""
        if before is None:
            return
        with contextlib.suppress(Exception):  # the host may be gone: the re-run reads truth
            self.write_upstream(before)

    def _revert(self, before: str | None, health_path: str) -> str:
        """Put the previous upstream back after a switch that did not serve; say how it went."""
        previous = parse_upstream(before) if before is not None else None
        if before is None or previous is None:
            return "there was no previous upstream to go back to"
        old_workers = self.io.accepting_workers(self.names.proxy)
        with uninterruptible():
            self.write_upstream(before)
            self.io.reload(self.names.proxy)
        if previous.slot not in SLOTS:
            return "the previous upstream is back"
        started = time.monotonic()
        try:
            self.wait_served_by(previous.slot, health_path, 5.0, started)
            self.wait_old_workers_quiet(previous.slot, health_path, old_workers, started + 5.0)
        except DeployFailed:
            return f"the proxy points at {previous.slot} again, which does not answer either"
        return f"traffic is back on {previous.slot}"

    def wait_served_by(self, slot: str, health_path: str, timeout: float, started: float) -> float:
        """Poll the health path through the proxy until the ``slot`` answers it with 200."""
        deadline = started + timeout
        while time.monotonic() < deadline:
            answer = self.io.proxy_get(self.proxy_port, health_path)
            if answer is not None and (answer.status, answer.slot) == (200, slot):
                return time.monotonic() - started
            time.sleep(0.02)
        raise DeployFailed(
            f"the {self.stage} proxy{self._where()} did not serve the {slot} slot"
            f" within {timeout:.0f} s after the switch"
        )

    def wait_old_workers_quiet(
        self, slot: str, health_path: str, old_workers: frozenset[int] | None, deadline: float
    ) -> None:
        """Return once no request can reach the slot switched away from. After a reload nginx
        lets its old worker accept beside the new one for ~100 ms (its master sleeps before
        telling the old one to quit), so the first answer from ``slot`` is not yet the last
        from the other. Waits until the old workers stop accepting; where the proxy's
        processes cannot be seen, until ``slot`` alone has answered for longer than that."""
        if old_workers is not None:
            while time.monotonic() < deadline:
                accepting = self.io.accepting_workers(self.names.proxy)
                if accepting is None or not old_workers & accepting:
                    return
                time.sleep(0.01)
        else:
            alone_since = time.monotonic()
            while time.monotonic() < deadline:
                answer = self.io.proxy_get(self.proxy_port, health_path)
                if answer is None or (answer.status, answer.slot) != (200, slot):
                    alone_since = time.monotonic()
                elif time.monotonic() - alone_since >= RELOAD_OVERLAP:
                    return
                time.sleep(0.02)
        raise DeployFailed(
            f"the {self.stage} proxy's previous workers still took requests"
            " when the switch's time ran out"
        )

    def remove_candidate(self, slot: str) -> None:
        """Remove the slot's candidate (``<slot>-next``), if any."""
        _remove(self.io.docker(), self.names.candidate(slot))

    def converge(self, release: str, port: int, health_path: str) -> list[str]:
        """One host is never split from itself: nothing to do (see HostsEngine.converge)."""
        return []

    def remove_all(self) -> None:
        client = self.io.docker()
        for slot in SLOTS:
            _remove(client, self.names.candidate(slot))
            _remove(client, self.names.app(slot))
            if self.io.local:
                remove_secret_files(self.names, slot)
