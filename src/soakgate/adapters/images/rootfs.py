"""Base images without a registry: ``debootstrap`` a Debian root, add Python, ``docker import``.

    builder = DebootstrapBuilder()
    python = builder.find_cpython(None)              # python3.12 on PATH or ~/.pyenv
    digest = recipe_hash(recipe, builder.source_id(recipe, python))
    image = builder.build(recipe, "soakgate/python:3.12", digest, python, print)

Every step runs in a temporary directory that is unmounted and removed afterwards, also on
failure or Ctrl-C; the image is tagged only once it is complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import docker.errors

from soakgate.adapters.docker import engine as docker_engine
from soakgate.adapters.process import Result, run
from soakgate.core.base_recipes import (
    ENV_PATH,
    BaseImage,
    BaseRecipe,
    LocalPython,
    image_changes,
    image_labels,
    is_copied,
    is_stripped,
    mirror_from_sources,
)
from soakgate.core.interpreter_build import (
    LABEL_BUILD,
    PROBE_SCRIPT,
    InterpreterBuildError,
    facts_label,
    parse_build,
    parse_facts,
)
from soakgate.core.names import LABEL_PYTHON, LABEL_RECIPE, digest_ref
from soakgate.errors import CommandFailed, ConfigError, DockerError, MissingPart

Progress = Callable[[str], None]

MIRROR_ENV = "SOAKGATE_DEBIAN_MIRROR"
# debootstrap checks the mirror's Release signature against this keyring, always.
ARCHIVE_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
KEYRING_PACKAGE = "debian-archive-keyring"
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
CPYTHON_OPTION = "--python312-path"
# The environment of commands run inside the new root: nothing of the host's leaks in.
CHROOT_ENV = {"PATH": ENV_PATH, "LANG": "C.UTF-8", "HOME": "/root"}
_PROBE = (
    "import json, sys; print(json.dumps({"
    "'implementation': sys.implementation.name, "
    "'version': '%d.%d.%d' % sys.version_info[:3], "
    "'base_prefix': sys.base_prefix}))"
)


# --- where Debian comes from -------------------------------------------------------------


def debian_mirror(explicit: str | None = None) -> str:
    """Return the Debian mirror: ``explicit``, else $SOAKGATE_DEBIAN_MIRROR, else apt's own."""
    chosen = explicit or os.environ.get(MIRROR_ENV)
    if chosen:
        return chosen.rstrip("/")
    files: dict[str, str] = {}
    for place in APT_SOURCES:
        paths = sorted(place.iterdir()) if place.is_dir() else [place]
        for path in paths:
            if path.suffix in (".list", ".sources") and path.is_file():
                files[str(path)] = path.read_text(errors="replace")
    mirror = mirror_from_sources(files)
    if mirror is None:
        raise ConfigError(
            "no Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d",
            hint=f"set {MIRROR_ENV} (or pass --mirror) to a Debian mirror's URL",
        )
    return mirror


# --- the local CPython 3.12 --------------------------------------------------------------


def _probe(python: str) -> LocalPython | None:
    result = run([python, "-I", "-c", _PROBE], check=False, timeout=30)
    if not result.ok:
        return None
    try:
        facts = json.loads(result.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return None
    prefix = Path(facts["base_prefix"])
    if (
        facts["implementation"] != "cpython"
        or prefix in (Path("/"), Path("/usr"))
        or not (prefix / "bin" / "python3.12").is_file()
        or not (prefix / "lib" / "python3.12" / "os.py").is_file()
    ):
        return None
    return LocalPython(prefix=str(prefix), version=str(facts["version"]))


def _pyenv_candidates() -> list[Path]:
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found = [path for path in (root / "versions").glob("3.12.*") if path.is_dir()]

    def patch(path: Path) -> tuple[int, str]:
        number = path.name.split(".")[2]
        return (int(number) if number.isdigit() else -1, path.name)

    return [path / "bin" / "python3.12" for path in sorted(found, key=patch, reverse=True)]


def find_cpython(explicit: Path | None = None) -> LocalPython:
    """Find a CPython 3.12 install prefix: ``explicit``, python3.12 on PATH, or pyenv's."""
    if explicit is not None:
        binary = explicit / "bin" / "python3.12" if explicit.is_dir() else explicit
        found = _probe(str(binary)) if binary.exists() else None
        if found is None or not found.version.startswith("3.12."):
            raise ConfigError(
                f"{explicit} is not a CPython 3.12 installation (want PREFIX/bin/python3.12"
                " and PREFIX/lib/python3.12, not Debian's /usr)",
                hint=f"pass {CPYTHON_OPTION} an install prefix such as ~/.pyenv/versions/3.12.1",
            )
        return found
    candidates = [shutil.which("python3.12"), *map(str, _pyenv_candidates())]
    for candidate in candidates:
        if candidate is None:
            continue
        found = _probe(candidate)
        if found is not None and found.version.startswith("3.12."):
            return found
    raise MissingPart(
        "no CPython 3.12 installation found (looked for python3.12 on PATH and"
        " ~/.pyenv/versions/3.12.*); Debian has no Python 3.12 to install",
        hint=f"pass {CPYTHON_OPTION} PREFIX (pyenv installs work: pyenv install 3.12)",
    )


def _cpython_files(python: LocalPython, recipe: BaseRecipe) -> list[str]:
    prefix = Path(python.prefix)
    selected = []
    for directory, dirnames, filenames in os.walk(prefix):
        relative_dir = Path(directory).relative_to(prefix).as_posix()
        relative_dir = "" if relative_dir == "." else relative_dir + "/"
        dirnames[:] = sorted(
            name
            for name in dirnames
            if not (Path(directory) / name).is_symlink()
            and not is_stripped(relative_dir + name, recipe.cpython_strip)
        )
        links = [name for name in dirnames if (Path(directory) / name).is_symlink()]
        for name in sorted([*filenames, *links]):
            relative = relative_dir + name
            if is_copied(relative, recipe.cpython_copy, recipe.cpython_strip):
                selected.append(relative)
    return sorted(selected)


def cpython_digest(python: LocalPython, recipe: BaseRecipe) -> str:
    """Hash what the recipe copies from ``python`` (paths, modes, contents, link targets)."""
    prefix = Path(python.prefix)
    digest = hashlib.sha256(python.version.encode())
    for relative in _cpython_files(python, recipe):
        path = prefix / relative
        info = path.lstat()
        digest.update(f"\0{relative}\0{stat.S_IMODE(info.st_mode):o}\0".encode())
        if path.is_symlink():
            digest.update(os.readlink(path).encode())
        else:
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def _is_elf(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    with path.open("rb") as handle:
        return handle.read(4) == b"\x7fELF"


def install_cpython(python: LocalPython, recipe: BaseRecipe, root: Path) -> list[Path]:
    """Copy the selected files of ``python`` to ``root``/usr/local; return its ELF files."""
    prefix = Path(python.prefix)
    target = root / "usr" / "local"
    elf = []
    for relative in _cpython_files(python, recipe):
        source, destination = prefix / relative, target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), destination)
            continue
        shutil.copy2(source, destination)
        if _is_elf(destination):
            elf.append(destination)
    (target / "lib" / "python3.12" / "site-packages").mkdir(parents=True, exist_ok=True)
    if recipe.strip_debug and elf:
        if shutil.which("strip") is None:
            raise MissingPart(
                "strip (binutils) is needed to drop the debug info of the CPython copy",
                hint="apt-get install binutils",
            )
        run(["strip", "--strip-debug", *map(str, elf)], timeout=300)
    run(["chroot", str(root), "/sbin/ldconfig"], env=CHROOT_ENV, timeout=120)
    return elf


def link_pythons(root: Path, interpreter: str) -> None:
    """Point /usr/local/bin/python and python3 at ``interpreter``."""
    bin_dir = root / "usr" / "local" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    target = Path(interpreter)
    relative = target.name if target.parent == Path("/usr/local/bin") else interpreter
    for name in ("python3", "python"):
        link = bin_dir / name
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(relative, link)


def missing_libraries(root: Path, elf_files: list[Path]) -> dict[str, list[str]]:
    """Run ldd inside ``root`` on ``elf_files``; return {file: [missing sonames]}."""
    if not elf_files:
        return {}
    inside = ["/" + path.relative_to(root).as_posix() for path in elf_files]
    result = run(["chroot", str(root), "/usr/bin/ldd", *inside], env=CHROOT_ENV, check=False)
    missing: dict[str, list[str]] = {}
    current = inside[0]
    for line in result.stdout.splitlines():
        if not line[:1].isspace() and line.endswith(":"):
            current = line[:-1]
        elif "not found" in line:
            missing.setdefault(current, []).append(line.split()[0])
    return missing


# --- the Debian root ---------------------------------------------------------------------


def _log_tail(root: Path, result: Result, lines: int = 6) -> str:
    """The end of debootstrap's own log, then its last words on stderr (the ``E:`` line)."""
    log = root / "debootstrap" / "debootstrap.log"
    text = log.read_text(errors="replace").strip().splitlines() if log.is_file() else []
    tail = text[-lines:]
    tail += [line for line in result.output_tail(2) if line not in tail]
    return "\n".join(tail)


def find_debootstrap() -> str | None:
    """Return the path of ``debootstrap`` (on PATH or in /usr/sbin), or None."""
    return shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin:/sbin")


def debootstrap_executable() -> str:
    """Return the path of ``debootstrap``; raise MissingPart with the package to install."""
    executable = find_debootstrap()
    if executable is None:
        raise MissingPart(
            "debootstrap is not installed", hint="./bootstrap (or: apt-get install debootstrap)"
        )
    return executable


def archive_keyring() -> Path:
    """Return the Debian archive keyring; raise MissingPart naming its package when absent."""
    keyring = ARCHIVE_KEYRING
    if not keyring.is_file() or keyring.stat().st_size == 0:
        raise MissingPart(
            f"the Debian archive keyring {keyring} is missing (debootstrap checks signatures)",
            hint=f"./bootstrap (or: apt-get install {KEYRING_PACKAGE})",
        )
    return keyring


def debootstrap_command(
    executable: str,
    keyring: Path,
    *,
    variant: str,
    include: tuple[str, ...],
    suite: str,
    root: Path,
    mirror: str,
    script: str | None = None,
) -> list[str]:
    """The argv of one debootstrap run: main only, Release signature checked against ``keyring``.

    ``--force-check-gpg`` makes an unsigned or badly signed mirror an error, never a warning.
    """
    command = [
        executable,
        f"--keyring={keyring}",
        "--force-check-gpg",
        f"--variant={variant}",
        "--components=main",
        f"--include={','.join(include)}",
        suite,
        str(root),
        mirror,
    ]
    return [*command, script] if script else command


def debootstrap(recipe: BaseRecipe, root: Path, mirror: str) -> None:
    """Bootstrap ``recipe``'s suite into ``root``; fail with the step, the fix and the log."""
    if os.geteuid() != 0:
        raise MissingPart("debootstrap needs root", hint="run soakgate images bases as root")
    command = debootstrap_command(
        debootstrap_executable(),
        archive_keyring(),
        variant=recipe.variant,
        include=recipe.include,
        suite=recipe.suite,
        root=root,
        mirror=mirror,
        script=recipe.script,
    )
    result = run(command, check=False, timeout=3600)
    if not result.ok:
        tail = _log_tail(root, result)
        error = CommandFailed(
            Result(result.command, result.exited, "", tail),
            what=f"debootstrap of {recipe.suite} for Python {recipe.python}",
        )
        error.hint = (
            f"check that {mirror} serves {recipe.suite} with {', '.join(recipe.include)}"
            f" signed by a key in {ARCHIVE_KEYRING} (set {MIRROR_ENV} or --mirror to another"
            " mirror), and that the temp dir is on a filesystem without noexec/nodev (set TMPDIR)"
        )
        raise error


def strip_root(root: Path, patterns: tuple[str, ...]) -> None:
    """Delete what matches ``patterns`` in ``root``, never following links or mounts."""
    device = root.lstat().st_dev
    for directory, dirnames, filenames in os.walk(root):
        relative_dir = Path(directory).relative_to(root).as_posix()
        relative_dir = "" if relative_dir == "." else relative_dir + "/"
        keep = []
        for name in dirnames:
            path = Path(directory) / name
            info = path.lstat()
            if is_stripped(relative_dir + name, patterns):
                if stat.S_ISLNK(info.st_mode):
                    path.unlink()
                elif info.st_dev == device:
                    shutil.rmtree(path)
            elif not stat.S_ISLNK(info.st_mode) and info.st_dev == device:
                keep.append(name)
        dirnames[:] = keep
        for name in filenames:
            if is_stripped(relative_dir + name, patterns):
                (Path(directory) / name).unlink()


def normalize_root(root: Path, epoch: int) -> None:
    """Make build-date dependent files stable: the password ages in /etc/shadow."""
    shadow = root / "etc" / "shadow"
    if shadow.is_file():
        day = str(epoch // 86400)
        lines = []
        for line in shadow.read_text().splitlines():
            fields = line.split(":")
            if len(fields) > 2 and fields[2].isdigit():
                fields[2] = day
            lines.append(":".join(fields))
        shadow.write_text("\n".join(lines) + "\n")


def probe_python(root: Path, imports: tuple[str, ...]) -> str:
    """Run /usr/local/bin/python3 inside ``root``, import ``imports``; return its version."""
    code = f"import sys, {', '.join(imports)}; print('%d.%d.%d' % sys.version_info[:3])"
    command = ["chroot", str(root), "/usr/local/bin/python3", "-I", "-B", "-c", code]
    result = run(command, env=CHROOT_ENV, check=False, timeout=120)
    if not result.ok:
        error = CommandFailed(result, what="the Python of the new root")
        error.hint = "a runtime library is missing from the recipe, or the CPython is broken"
        raise error
    return result.stdout.strip().splitlines()[-1]


def probe_build(root: Path) -> str:
    """Run the interpreter build probe inside ``root`` (with /proc mounted, so that the
    process shows whether it maps a libpython); return the facts' label text."""
    proc = root / "proc"
    proc.mkdir(exist_ok=True)
    run(["mount", "-t", "proc", "proc", str(proc)], timeout=30)
    try:
        command = ["chroot", str(root), "/usr/local/bin/python3", "-S", "-B", "-c", PROBE_SCRIPT]
        result = run(command, env=CHROOT_ENV, check=False, timeout=120)
    finally:
        run(["umount", str(proc)], check=False, timeout=30)
    if str(proc) in _mounts_under(root):
        raise DockerError(
            f"{proc} is still mounted after the build probe; not writing the image",
            hint=f"umount {proc}",
        )
    if not result.ok:
        error = CommandFailed(result, what="the interpreter build probe in the new root")
        error.hint = "the root's python3 cannot run the standard library's sysconfig"
        raise error
    try:
        return facts_label(parse_facts(result.stdout))
    except InterpreterBuildError as exc:
        raise DockerError(f"the build probe in the new root: {exc}") from None


# --- the tar and the image ---------------------------------------------------------------


def _walk_sorted(root: Path, relative: str = "") -> Iterator[tuple[Path, str]]:
    with os.scandir(root / relative if relative else root) as entries:
        names = sorted(entry.name for entry in entries)
    for name in names:
        child = f"{relative}/{name}" if relative else name
        path = root / child
        yield path, child
        if path.is_dir() and not path.is_symlink():
            yield from _walk_sorted(root, child)


def write_tar(root: Path, destination: Path, epoch: int) -> str:
    """Write ``root`` as a tar with sorted entries and fixed mtimes; return its sha256.

    ``.py`` files keep their mtime, which their byte-compiled caches record.
    """
    with tarfile.open(destination, "w", format=tarfile.PAX_FORMAT) as tar:
        for path, name in _walk_sorted(root):
            info = tar.gettarinfo(str(path), arcname=name)
            if info is None:  # sockets
                continue
            info.uname = info.gname = ""
            if not (info.isfile() and name.endswith(".py")):
                info.mtime = epoch
            else:
                info.mtime = int(info.mtime)
            if info.isreg():
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    digest = hashlib.sha256()
    with destination.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def _imported_id(response: str) -> str:
    image_id = ""
    for line in response.splitlines():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "error" in message or "errorDetail" in message:
            raise DockerError(f"docker import failed: {message.get('error', message)}")
        status = str(message.get("status", ""))
        if status.startswith("sha256:"):
            image_id = status
    if not image_id:
        raise DockerError(f"docker import gave no image id: {response.strip()[:200]}")
    return image_id


def import_tar(tar_path: Path, reference: str, changes: list[str]) -> str:
    """``docker import`` the tar (streamed from disk), then tag it; return the image id."""
    engine = docker_engine.client()
    try:
        previous = engine.images.get(reference).id
    except docker.errors.ImageNotFound:
        previous = None
    try:
        response = engine.api.import_image_from_file(str(tar_path), changes=changes)
    except docker.errors.APIError as exc:
        raise DockerError(f"docker import of {reference} failed: {exc.explanation}") from exc
    image_id = _imported_id(response if isinstance(response, str) else json.dumps(response))
    repository, _, tag = reference.rpartition(":")
    try:
        engine.api.tag(image_id, repository, tag, force=True)
    except docker.errors.APIError as exc:
        with contextlib.suppress(docker.errors.APIError):
            engine.images.remove(image_id)
        raise DockerError(f"tagging {reference} failed: {exc.explanation}") from exc
    if previous and previous != image_id:
        with contextlib.suppress(docker.errors.APIError):  # still used by a container
            engine.images.remove(previous)
    return image_id


def inspect_base(reference: str) -> BaseImage | None:
    """Return the base image ``reference``, or None when the engine has none."""
    try:
        image = docker_engine.client().images.get(reference)
    except docker.errors.ImageNotFound:
        return None
    labels = image.labels or {}
    return BaseImage(
        reference=reference,
        image_id=str(image.id),
        size=int(image.attrs.get("Size", 0)),
        python_version=labels.get(LABEL_PYTHON, ""),
        recipe=labels.get(LABEL_RECIPE, ""),
        build=labels.get(LABEL_BUILD, ""),
    )


def pull_slim(version: str, reference: str) -> BaseImage:
    """Pull ``python:<version>-slim`` from the registry and tag it as ``reference``."""
    source = f"python:{version}-slim"
    engine = docker_engine.client()
    try:
        image = engine.images.pull("python", tag=f"{version}-slim")
    except docker.errors.DockerException as exc:
        reason = str(getattr(exc, "explanation", None) or exc).splitlines()[0][:200]
        raise DockerError(
            f"cannot pull {source}: {reason}",
            hint="without a registry, build offline: soakgate images bases (no --from-registry)",
        ) from exc
    repository, _, tag = reference.rpartition(":")
    image.tag(repository, tag)
    env = dict(item.partition("=")[::2] for item in image.attrs["Config"].get("Env") or [])
    return BaseImage(
        reference=reference,
        image_id=str(image.id),
        size=int(image.attrs.get("Size", 0)),
        python_version=env.get("PYTHON_VERSION", ""),
        recipe="",
    )


# --- the workspace -----------------------------------------------------------------------


def _mounts_under(directory: Path) -> list[str]:
    points = []
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[1])
            if point.startswith(f"{directory}/"):
                points.append(point)
    return sorted(points, key=len, reverse=True)


@contextlib.contextmanager
def workspace(parent: str | None = None) -> Iterator[Path]:
    """A temporary directory, unmounted and removed on exit (also on failure or Ctrl-C)."""
    directory = Path(tempfile.mkdtemp(prefix="soakgate-base-", dir=parent))
    try:
        yield directory
    finally:
        for point in _mounts_under(directory):
            run(["umount", "-l", point], check=False)
        left = _mounts_under(directory)
        if left:
            raise DockerError(
                f"{directory} still has mounts ({', '.join(left)}); not removing it",
                hint=f"umount them, then rm -rf {directory}",
            )
        shutil.rmtree(directory, ignore_errors=True)


# --- the builder (the port app.bases uses) -------------------------------------------------


class DebootstrapBuilder:
    """Builds base images with debootstrap and ``docker import``, or pulls them."""

    def __init__(self, mirror: str | None = None, workdir: str | None = None) -> None:
        self.mirror = mirror
        self.workdir = workdir

    def find_cpython(self, path: Path | None) -> LocalPython:
        return find_cpython(path)

    def source_id(self, recipe: BaseRecipe, python: LocalPython | None) -> str:
        return cpython_digest(python, recipe) if python is not None else ""

    def inspect(self, reference: str) -> BaseImage | None:
        return inspect_base(reference)

    def pull(self, version: str, reference: str) -> BaseImage:
        return pull_slim(version, reference)

    def build(
        self,
        recipe: BaseRecipe,
        reference: str,
        digest: str,
        python: LocalPython | None,
        progress: Progress,
    ) -> BaseImage:
        """Make the image of ``recipe`` and tag it ``reference``; nothing is tagged on failure."""
        mirror = debian_mirror(self.mirror)
        with workspace(self.workdir) as work:
            root = work / "root"
            progress(f"debootstrap {recipe.suite} ({recipe.variant}) from {mirror}")
            debootstrap(recipe, root, mirror)
            if python is not None:
                progress(f"copy CPython {python.version} from {python.prefix} to /usr/local")
                elf = install_cpython(python, recipe, root)
                missing = missing_libraries(root, elf)
                if missing:
                    listed = "; ".join(
                        f"{Path(path).name}: {', '.join(names)}"
                        for path, names in sorted(missing.items())
                    )
                    raise ConfigError(
                        f"the CPython copy needs libraries the {recipe.suite} root lacks: {listed}",
                        hint="add their Debian packages to the 3.12 recipe's include list",
                    )
            link_pythons(root, recipe.interpreter)
            progress("strip docs, locales, apt lists and caches")
            strip_root(root, recipe.root_strip)
            normalize_root(root, recipe.epoch)
            version = probe_python(root, recipe.smoke_imports)
            progress(f"Python {version} imports {', '.join(recipe.smoke_imports)}")
            build = probe_build(root)
            progress(f"interpreter: {parse_build(build).summary()}")
            tar_path = work / "rootfs.tar"
            layer = write_tar(root, tar_path, recipe.epoch)
            progress(f"docker import {tar_path.stat().st_size / 1e6:.0f} MB ({digest_ref(layer)})")
            changes = image_changes(recipe, image_labels(recipe, version, digest, build))
            image_id = import_tar(tar_path, reference, changes)
        found = inspect_base(reference)
        if found is None or found.image_id != image_id:
            raise DockerError(f"{reference} vanished right after its import")
        return found
