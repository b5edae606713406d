"""The demo's workspace: ``<project>/.soakgate/demo/``, a project of its own (config, program,
host checks, the service's context, state, Pulumi backend), and the soakgate commands run in
it; plus what the engine held before the demo began, so that ``soakgate demo --clean`` takes
away what the demo made and nothing else.

    workspace = Workspace.of(project_root)
    workspace.make(project_root, config, context="images/service")
    result = workspace.soakgate(["deploy", "dev", "--python", "3.12"], log="live-dev")
    found = engine_inventory(client)          # before; clean_engine(client, found, ...) after
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import tomli_w

from soakgate.adapters.atomic_file import write_atomic
from soakgate.adapters.images.wheelhouse import WHEELHOUSE
from soakgate.adapters.process import Result, process_alive
from soakgate.core.config import STAGES
from soakgate.errors import LockHeld, SoakgateError
from soakgate.pulumi.orphan import die_with_parent

DEMO_DIR = Path(".soakgate") / "demo"
JOURNAL = "demo.json"
FOUND = "demo-engine-before.json"  # beside the workspace: --clean needs it last
COPIED = ("Pulumi.yaml", "pyproject.toml", "security-waivers.toml")
IGNORED = shutil.ignore_patterns(
    "__pycache__", ".pytest_cache", ".coverage", ".coverage.*", "mutants", ".mypy_cache"
)


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def of(cls, project: Path) -> Workspace:
        return cls(project / DEMO_DIR)

    @property
    def state(self) -> Path:
        return self.root / ".soakgate"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def exists(self) -> bool:
        return (self.root / "soakgate.toml").is_file()

    @property
    def downloads(self) -> Path:
        """The project's cache of what the demo downloads (hash-checked wheels, index pages):
        outside the workspace, so that ``--clean`` keeps it as pip keeps its own cache."""
        return self.root.parent / "cache" / "demo"

    def make(self, project: Path, config: Mapping[str, Any], context: str) -> None:
        """Copy what a project needs into the workspace and write its soakgate.toml last
        (a workspace without it is half made: the next run makes it again)."""
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        for name in COPIED:
            if (project / name).is_file():
                shutil.copy2(project / name, self.root / name)
        shutil.copytree(project / "infra", self.root / "infra", ignore=IGNORED)
        shutil.copytree(project / "tests" / "hosts", self.root / "tests" / "hosts", ignore=IGNORED)
        shutil.copytree(project / context, self.root / context, ignore=IGNORED)
        for stage in STAGES:
            (self.root / f"Pulumi.{stage}.yaml").write_text(f"config:\n  soakgate:stage: {stage}\n")
        (self.state / "pulumi-state").mkdir(parents=True)
        self.downloads.mkdir(parents=True, exist_ok=True)
        (self.state / "cache").symlink_to(self.downloads, target_is_directory=True)
        kept = self.downloads / WHEELHOUSE
        if kept.is_dir():  # checked against the pins by its stamp before the build uses it
            shutil.copytree(kept, self.root / context / WHEELHOUSE, dirs_exist_ok=True)
        write_atomic(self.root / "soakgate.toml", tomli_w.dumps(dict(config)), mode=0o644)

    def keep_wheelhouse(self, context: str) -> None:
        """Keep the wheelhouse a build downloaded into the workspace's context for the next
        workspace. Only a cache: a demo killed half-way may leave none (the next build
        downloads it again), and a copy that fails costs the next demo that download only."""
        built = self.root / context / WHEELHOUSE
        if not built.is_dir():  # a service with no requirements has none
            return
        kept = self.downloads / WHEELHOUSE
        fresh = kept.with_name(f"{WHEELHOUSE}.new")
        old = kept.with_name(f"{WHEELHOUSE}.old")
        with contextlib.suppress(OSError):
            for leftover in (fresh, old):
                shutil.rmtree(leftover, ignore_errors=True)
            shutil.copytree(built, fresh)
            if kept.exists():
                kept.rename(old)
            fresh.rename(kept)
            shutil.rmtree(old, ignore_errors=True)

    def env(self) -> dict[str, str]:
        """This process's environment (the project's toolchain) with the workspace's state."""
        env = dict(os.environ)
        env.update(
            SOAKGATE_HOME=str(self.state),
            PULUMI_BACKEND_URL=f"file://{self.state / 'pulumi-state'}",
            # the terminal's width, or 160 off a terminal: tables keep digests and paths whole
            COLUMNS=str(shutil.get_terminal_size((160, 40)).columns),
        )
        return env

    def soakgate(
        self,
        args: list[str],
        *,
        log: str,
        on_line: Callable[[str], None] = lambda line: None,
        timeout: float = 1800,
    ) -> Result:
        """Run ``soakgate ARGS`` in the workspace; every line goes to ``logs/<log>.log`` and
        ``on_line``. Killed (with its process group) after ``timeout`` seconds."""
        argv = [str(Path(sys.executable).with_name("soakgate")), *args]
        # SIGTERM to the command when the demo (the thread that started it) dies, however it
        # dies: set by setpriv after the fork, not by Python code run in a threaded parent's
        # child (the demo runs commands from several threads at once)
        setpriv = shutil.which("setpriv")
        bound = [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []
        self.logs.mkdir(parents=True, exist_ok=True)
        lines: list[str] = []
        with open(self.logs / f"{log}.log", "a", encoding="utf-8") as handle:
            handle.write(f"$ soakgate {' '.join(args)}\n")
            child = subprocess.Popen(
                [*bound, *argv],
                cwd=self.root,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,  # its own group: a timeout ends all it started
                preexec_fn=None if bound else die_with_parent,
            )
            timer = threading.Timer(timeout, _kill_group, (child.pid,))
            timer.start()
            try:
                assert child.stdout is not None
                for line in child.stdout:
                    handle.write(line)
                    lines.append(line)
                    on_line(line.rstrip("\n"))
                child.wait()
            except BaseException:  # Ctrl-C: the command stops as it would on its own
                _stop_group(child)
                raise
            finally:
                timer.cancel()
        return Result(tuple(argv), child.returncode, "".join(lines), "")

    def read_journal(self) -> dict[str, Any]:
        try:
            data = json.loads((self.root / JOURNAL).read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise SoakgateError(
                f"the demo's journal {self.root / JOURNAL} is unreadable ({exc})",
                hint="start the demo afresh: soakgate demo --clean, then soakgate demo",
            ) from exc
        return data if isinstance(data, dict) else {}

    def write_journal(self, journal: Mapping[str, Any]) -> None:
        write_atomic(self.root / JOURNAL, json.dumps(journal, indent=2) + "\n")

    def read_found(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.root.parent / FOUND).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def write_found(self, found: Mapping[str, Any]) -> None:
        write_atomic(self.root.parent / FOUND, json.dumps(found, indent=2) + "\n")

    def remove(self) -> None:
        """Stop whatever still runs in the workspace (a soak monitor), then delete it."""
        stop_processes_in(self.root)
        if self.root.exists():
            shutil.rmtree(self.root)
        with contextlib.suppress(FileNotFoundError):
            (self.root.parent / FOUND).unlink()


@contextlib.contextmanager
def demo_lock(project: Path) -> Iterator[None]:
    """One demo (or clean) at a time per project: the kernel's flock, refused at once."""
    path = project / ".soakgate" / "locks" / "demo.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(
                "another soakgate demo (or demo --clean) runs in this project",
                hint="wait for it to finish, then run this again",
            ) from None
        yield
    finally:
        os.close(fd)


def _stop_group(child: subprocess.Popen[str], grace: float = 30.0) -> None:
    """SIGTERM the child's process group, SIGKILL it after ``grace`` seconds."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGTERM)
    try:
        child.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        _kill_group(child.pid)
        child.wait()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def stop_processes_in(root: Path, wait: float = 10.0) -> list[int]:
    """SIGTERM every process whose working directory lies in ``root`` (then SIGKILL those
    still there after ``wait`` seconds); the pids it found."""
    if not root.exists():
        return []
    resolved = root.resolve()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            continue
        if cwd == resolved or cwd.is_relative_to(resolved):
            found.append(int(entry.name))
    for pid in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and any(map(process_alive, found)):
        time.sleep(0.1)
    for pid in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return found


def engine_inventory(client: docker.DockerClient) -> dict[str, Any]:
    """What the engine holds: container and network names, image IDs with their tags, volume
    names (a demo records it before its first step; the clean test compares two of them)."""
    return {
        "containers": sorted(c.name for c in client.containers.list(all=True)),
        "networks": sorted(n.name for n in client.networks.list()),
        "images": {image.id: sorted(image.tags) for image in client.images.list(all=True)},
        "volumes": sorted(v.name for v in client.volumes.list()),
    }


def clean_engine(
    client: docker.DockerClient,
    found: Mapping[str, Any] | None,
    *,
    namespace: str,
    own: tuple[str, ...],
    shared: tuple[str, ...],
) -> list[str]:
    """Remove what the demo made: containers and networks of its ``namespace``, every tag of
    its ``own`` image repositories, and the tags of ``shared`` ones (the bases, the proxy)
    that were not there in ``found`` (a cold demo made them). Nothing else: an image built
    meanwhile under another name stays. The names removed."""
    removed: list[str] = []
    prefix = f"{namespace}-"
    for container in client.containers.list(all=True, ignore_removed=True):
        if container.name.startswith(prefix):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
                removed.append(f"container {container.name}")
    for network in client.networks.list():
        if network.name.startswith(prefix):
            with contextlib.suppress(docker.errors.NotFound):
                network.remove()
                removed.append(f"network {network.name}")
    before = {tag for tags in (found or {}).get("images", {}).values() for tag in tags}
    known = set((found or {}).get("images", {}))
    everything = client.images.list(all=True)
    roots = {
        image.id
        for image in everything
        if any(tag.rsplit(":", 1)[0] in (*own, *shared) for tag in image.tags)
    }
    for image in client.images.list():
        for tag in image.tags:
            repository = tag.rsplit(":", 1)[0]
            if repository in own or (
                found is not None and repository in shared and tag not in before
            ):
                with contextlib.suppress(docker.errors.NotFound):
                    client.images.remove(tag, noprune=False)  # its own untagged layers go too
                    removed.append(f"image {tag}")
    if found is not None:
        # the build cache the demo's builds left: untagged images, new since it began, that
        # descend from its images or the bases (a multi-stage build's first stage)
        for image in _build_leftovers(client, everything, roots, known):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                client.images.remove(image, noprune=False)
                removed.append(f"image {image[7:19]} (build cache)")
    return removed


def _build_leftovers(
    client: docker.DockerClient, images: list[Any], roots: set[str], known: set[str]
) -> list[str]:
    """IDs of the untagged images not in ``known`` whose parent chain reaches one of
    ``roots``, children first (a parent goes only once its children have)."""
    parent = {image.id: image.attrs.get("Parent") or "" for image in images}
    created = {image.id: str(image.attrs.get("Created", "")) for image in images}

    def descends(ident: str) -> bool:
        seen = set()
        while ident and ident not in seen:
            if ident in roots:
                return True
            seen.add(ident)
            ident = parent.get(ident, "")
        return False

    still = {image.id for image in client.images.list(all=True)}
    leftovers = [
        image.id
        for image in images
        if image.id in still and not image.tags and image.id not in known and descends(image.id)
    ]
    return sorted(leftovers, key=lambda ident: created[ident], reverse=True)
