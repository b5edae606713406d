"""Is each dependency ready for the next Python? The pure parts of ``soakgate readiness``.

    target = parse_target("3.14", free_threaded=False, platform="manylinux_x86_64")
    wanted = parse_requirements(text, "requirements.txt").wanted   # with their marks
    choice = choose(wanted[0], files, target)      # the version and file the verdict is about
    one = judge(choice, metadata, target)          # Yes / Verify / No and why
    report = build_report([one, ...], target, index="…")   # blockers propagated, go/no-go
    report_markdown(report)                        # or report_document(report) for JSON

A requirement line may carry marks in its comment, ``key: value`` pairs separated by ``;``
(other comment text is ignored)::

    fastapi==0.115.6                   # the API
    torch==2.5.1                       # priority: high; group: ml
    transformers[torch]==4.46.3        # group: ml

``priority`` is ``high``, ``medium`` or ``low`` (it orders the output); ``group`` names a part
of the service that can be migrated later: a group whose package is No is deferred (its own
NO-GO) while the migration as a whole can go on. Unmarked packages are *required*: one No among
them is a NO-GO for the migration. In ``pyproject.toml`` an optional-dependencies extra is a
group of that name.

Verdicts, for one Python (``cp314``) and platform:
- **Yes**: the pinned version (the newest allowed one if unpinned) has a wheel that installs
  there — ``cp314``, ``abi3`` of ``cp3x`` ≤ 3.14, or pure — and its Requires-Python allows it.
- **Verify**: only a newer version has such a wheel (upgrade to it), or only an sdist exists
  (it would build from source), or the wheel is pure and its classifiers name Python versions
  but not this one.
- **No**: no version has a file that installs, or Requires-Python excludes it; or a
  dependency is No ("No because of torch").

Free-threaded (``cp314t``): abi3 wheels do not load there, so a C extension needs a
``cp314t`` wheel; pure wheels still count.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

DEFAULT_PLATFORM = "manylinux_x86_64"
YES, VERIFY, NO = "Yes", "Verify", "No"
PRIORITIES = ("high", "medium", "low")
REQUIRED = "required"  # the name of the unmarked packages' group in the output
# Kinds of file, best first: a wheel built for this exact ABI, the stable ABI, a binary
# without a Python ABI (py3-none-<platform>), a pure wheel, and last an sdist.
KINDS = ("native", "abi3", "platform", "pure", "sdist")
_MARK = re.compile(r"^\s*(priority|group)\s*[:=]\s*([A-Za-z0-9_.-]+)\s*$", re.IGNORECASE)
_INTERPRETER = re.compile(r"^(cp|py)3(\d*)$")
_CLASSIFIER = re.compile(r"^Programming Language :: Python :: 3\.(\d+)$")
_SDIST_ENDINGS = (".tar.gz", ".zip")
_FAMILY_OS = {
    "manylinux": ("linux", "Linux", "posix"),
    "musllinux": ("linux", "Linux", "posix"),
    "linux": ("linux", "Linux", "posix"),
    "macosx": ("darwin", "Darwin", "posix"),
    "win": ("win32", "Windows", "nt"),
}


class ReadinessInputError(ValueError):
    """A requirement, option or file that cannot be used; the message names where."""


# --- the target -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The Python (3.minor, free-threaded or not) and platform the files must install on."""

    minor: int
    free_threaded: bool = False
    platform: str = DEFAULT_PLATFORM

    @property
    def python(self) -> str:
        return f"3.{self.minor}"

    @property
    def abi(self) -> str:
        """``cp314`` or ``cp314t``."""
        return f"cp3{self.minor}" + ("t" if self.free_threaded else "")

    def platform_fits(self, platform: str) -> bool:
        """Whether a wheel's platform tag installs on this target's platform: the same tag,
        ``any``, or the same family and architecture (``manylinux_x86_64`` takes
        ``manylinux_2_17_x86_64`` and ``manylinux2014_x86_64``)."""
        if platform in ("any", self.platform):
            return True
        family, _, arch = self.platform.partition("_")
        if not arch or not platform.startswith(family):
            return False
        return platform.endswith(f"_{arch}") or (
            family == "macosx" and platform.endswith("_universal2")
        )

    def environment(self, extra: str = "") -> dict[str, str]:
        """Marker variables of this Python on this platform."""
        family, _, arch = self.platform.partition("_")
        sys_platform, system, os_name = _FAMILY_OS.get(family, ("linux", "Linux", "posix"))
        return {
            "python_version": self.python,
            "python_full_version": f"{self.python}.0",
            "implementation_name": "cpython",
            "implementation_version": f"{self.python}.0",
            "platform_python_implementation": "CPython",
            "sys_platform": sys_platform,
            "platform_system": system,
            "os_name": os_name,
            "platform_machine": arch or "x86_64",
            "platform_release": "",
            "platform_version": "",
            "extra": extra,
        }

    def allows(self, requires_python: str | None) -> bool:
        """Whether a Requires-Python lets this Python install (an unreadable one is ignored,
        as pip does with a warning)."""
        if not requires_python:
            return True
        try:
            return SpecifierSet(requires_python).contains(self.python, prereleases=True)
        except InvalidSpecifier:
            return True


def parse_target(python: str, free_threaded: bool = False, platform: str = "") -> Target:
    """``--python 3.14`` (``3.14t`` means free-threaded too) and ``--platform``, checked."""
    match = re.fullmatch(r"3\.(\d{1,2})(t?)", python.strip())
    if not match:
        raise ReadinessInputError(f"--python: should be like 3.14, got {python!r}")
    chosen = platform.strip() or DEFAULT_PLATFORM
    if not re.fullmatch(r"[a-z0-9]+(_[A-Za-z0-9]+)+", chosen):
        raise ReadinessInputError(
            f"--platform: should be like {DEFAULT_PLATFORM} or win_amd64, got {platform!r}"
        )
    return Target(int(match[1]), free_threaded or bool(match[2]), chosen)


# --- what the project wants -------------------------------------------------------------------


@dataclass(frozen=True)
class Wanted:
    """One requirement to judge: of the project (marked or not) or a dependency of one."""

    name: str  # canonical
    spec: str  # the requirement as written, e.g. ``torch==2.5.1``
    priority: str | None = None
    group: str | None = None
    source: str = ""  # file:line
    dependency_of: str | None = None  # canonical name of the package that pulled it in

    @property
    def requirement(self) -> Requirement:
        return Requirement(self.spec)

    @property
    def pinned(self) -> Version | None:
        """The version of an exact pin (``==1.2``, ``===1.2``), else None."""
        specifiers = list(self.requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator not in ("==", "==="):
            return None
        text = specifiers[0].version
        if "*" in text:
            return None
        try:
            return Version(text)
        except InvalidVersion:
            return None


@dataclass(frozen=True)
class RequirementsFile:
    """What one requirements file says: requirements, ``-r`` includes, lines left out."""

    wanted: tuple[Wanted, ...]
    includes: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()


def parse_marks(comment: str, where: str) -> tuple[str | None, str | None]:
    """(priority, group) of a requirement's comment: ``priority: high; group: ml``."""
    priority = group = None
    for part in comment.split(";"):
        match = _MARK.match(part)
        if not match:
            continue
        key, value = match[1].lower(), match[2]
        if key == "priority":
            if value.lower() not in PRIORITIES:
                raise ReadinessInputError(
                    f"{where}: priority should be {', '.join(PRIORITIES)}, got {value!r}"
                )
            priority = value.lower()
        else:
            group = value
    return priority, group


def _logical_lines(text: str) -> Iterable[tuple[int, str, str]]:
    """(line number, requirement text, comment) with ``\\`` continuations joined. A comment
    starts at a ``#`` at the line's start or after whitespace (``url#sha256=`` is not one)."""
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        start = start or number
        body, comment = raw, ""
        match = re.search(r"(^|\s)#", raw)
        if match:
            body, comment = raw[: match.start()], raw[match.end() :]
        if body.rstrip().endswith("\\") and not comment:
            pending += body.rstrip()[:-1] + " "
            continue
        yield start, (pending + body).strip(), comment.strip()
        pending, start = "", 0
    if pending.strip():
        yield start, pending.strip(), ""


def parse_requirements(text: str, source: str) -> RequirementsFile:
    """The requirements of a requirements file (pinned or not, markers, marks in comments);
    ``-r FILE`` includes are returned for the caller to read; other options are ignored and a
    direct URL (``name @ url``) is left out, since no index serves it."""
    wanted: list[Wanted] = []
    includes: list[str] = []
    skipped: list[str] = []
    for number, line, comment in _logical_lines(text):
        where = f"{source}:{number}"
        if not line:
            continue
        if line.startswith("-"):
            option, _, value = line.partition(" ")
            if option in ("-r", "--requirement"):
                includes.append(value.strip())
            elif option.startswith("--requirement="):
                includes.append(option.partition("=")[2])
            continue
        spec = re.split(r"\s--?[a-z]", " " + line)[0].strip() or line  # drop --hash= etc.
        try:
            requirement = Requirement(spec)
        except InvalidRequirement as exc:
            raise ReadinessInputError(f"{where}: not a requirement: {spec[:80]} ({exc})") from None
        if requirement.url:
            skipped.append(f"{requirement.name}: a direct URL, not from an index ({where})")
            continue
        priority, group = parse_marks(comment, where)
        wanted.append(Wanted(canonicalize_name(requirement.name), spec, priority, group, where))
    return RequirementsFile(tuple(wanted), tuple(includes), tuple(skipped))


def parse_pyproject(data: Mapping[str, Any], source: str) -> tuple[Wanted, ...]:
    """``[project].dependencies`` (required) and ``optional-dependencies`` (one group each)."""
    project = data.get("project")
    if not isinstance(project, Mapping):
        raise ReadinessInputError(f"{source}: has no [project] table")
    lists: list[tuple[str | None, Any]] = [(None, project.get("dependencies", []))]
    optional = project.get("optional-dependencies", {})
    if not isinstance(optional, Mapping):
        raise ReadinessInputError(f"{source}: project.optional-dependencies should be a table")
    lists += sorted(optional.items())
    found: list[Wanted] = []
    for group, specs in lists:
        where = f"{source}: project." + (
            f"optional-dependencies.{group}" if group else "dependencies"
        )
        if not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
            raise ReadinessInputError(f"{where}: should be a list of strings")
        for spec in specs:
            try:
                requirement = Requirement(spec)
            except InvalidRequirement:
                raise ReadinessInputError(f"{where}: not a requirement: {spec[:80]}") from None
            if not requirement.url:
                found.append(Wanted(canonicalize_name(requirement.name), spec, None, group, where))
    return tuple(found)


def applicable(wanted: Iterable[Wanted], target: Target) -> tuple[list[Wanted], list[str]]:
    """The requirements whose markers hold on ``target`` (the first of a name wins, its marks
    merged with later ones), and a line for each one left out."""
    kept: dict[str, Wanted] = {}
    left_out: list[str] = []
    for one in wanted:
        marker = one.requirement.marker
        if marker is not None and not marker.evaluate(target.environment()):
            left_out.append(f"{one.name}: marker '{marker}' is false on {target.python}")
            continue
        first = kept.get(one.name)
        if first is None:
            kept[one.name] = one
        else:
            kept[one.name] = replace(
                first, priority=first.priority or one.priority, group=first.group or one.group
            )
    return list(kept.values()), left_out


# --- files on the index -----------------------------------------------------------------------


@dataclass(frozen=True)
class IndexFile:
    """One file a project page lists."""

    filename: str
    url: str
    requires_python: str | None = None
    yanked: bool = False
    key: str = ""  # identity of its content (hash, or size and mtime): metadata cache key
    has_metadata: bool = False  # the index serves its core metadata (PEP 658/714)


@dataclass(frozen=True)
class Metadata:
    """The parts of a distribution's core metadata the readiness check uses."""

    requires_dist: tuple[str, ...] = ()
    classifiers: tuple[str, ...] = ()
    requires_python: str | None = None

    def document(self) -> dict[str, Any]:
        return {
            "requires_dist": list(self.requires_dist),
            "classifiers": list(self.classifiers),
            "requires_python": self.requires_python,
        }

    @classmethod
    def from_document(cls, data: Mapping[str, Any]) -> Metadata:
        return cls(
            tuple(data.get("requires_dist") or ()),
            tuple(data.get("classifiers") or ()),
            data.get("requires_python"),
        )


def parse_metadata(data: bytes) -> Metadata:
    """Core metadata (a wheel's METADATA or a PEP 658 ``.metadata`` file)."""
    raw, _ = parse_email(data)
    return Metadata(
        tuple(raw.get("requires_dist", ())),
        tuple(raw.get("classifiers", ())),
        raw.get("requires_python"),
    )


def file_kind(filename: str, target: Target) -> str | None:
    """The best way a file installs on ``target`` (one of KINDS), None when it does not."""
    if filename.endswith(_SDIST_ENDINGS):
        return "sdist"
    if not filename.endswith(".whl"):
        return None
    try:
        tags = parse_wheel_filename(filename)[3]
    except InvalidWheelFilename:
        return None
    kinds = [kind for kind in (tag_kind(tag, target) for tag in tags) if kind]
    return min(kinds, key=KINDS.index) if kinds else None


def tag_kind(tag: Tag, target: Target) -> str | None:
    """How one wheel tag fits ``target``, as pip's compatible tags for ``cp3x(t)`` say."""
    match = _INTERPRETER.match(tag.interpreter)
    if not match or not target.platform_fits(tag.platform):
        return None
    implementation, minor = match[1], int(match[2]) if match[2] else None
    if tag.abi == target.abi:
        return "native" if implementation == "cp" and minor == target.minor else None
    if tag.abi == "abi3":
        fits = implementation == "cp" and minor is not None and 2 <= minor <= target.minor
        return "abi3" if fits and not target.free_threaded else None
    if tag.abi != "none":
        return None
    if implementation == "cp" and minor != target.minor:
        return None
    if minor is not None and minor > target.minor:
        return None
    return "pure" if tag.platform == "any" else "platform"


def _version_of(filename: str) -> Version | None:
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        return parse_sdist_filename(filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


def _wheel_abis(files: Iterable[IndexFile]) -> list[str]:
    """The ABIs (``cp312``, ``abi3`` …) the wheels of a version were built for."""
    found = set()
    for file in files:
        if file.filename.endswith(".whl"):
            try:
                found |= {tag.abi for tag in parse_wheel_filename(file.filename)[3]}
            except InvalidWheelFilename:
                continue
    return sorted(found)


# --- choosing and judging ---------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """The version and file a verdict is about, before its metadata is read."""

    wanted: Wanted
    verdict: str
    reason: str
    pinned: str | None = None
    newest: str | None = None
    installable: str | None = None  # the newest version with a wheel that installs
    version: str | None = None  # the version judged
    file: IndexFile | None = None
    kind: str | None = None
    free_threaded_wheel: bool = False  # the judged version has a cp3xt wheel
    attention: bool = False  # Verify that a dependent inherits: built from source, or a
    # version outside the requirement needed


def _free_threaded_wheel(files: Iterable[IndexFile], target: Target) -> bool:
    threaded = replace(target, free_threaded=True)
    return any(file_kind(f.filename, threaded) == "native" for f in files)


def choose(wanted: Wanted, files: Sequence[IndexFile] | None, target: Target) -> Choice:
    """The verdict as far as the index's file list tells it, and the file to read metadata
    of. ``files`` None means the index does not know the project."""
    if not files:
        return Choice(wanted, NO, "not on the index")
    by_version: dict[Version, list[IndexFile]] = {}
    for file in files:
        version = _version_of(file.filename)
        if version is not None:
            by_version.setdefault(version, []).append(file)
    if not by_version:
        return Choice(wanted, NO, "the index lists no wheel or sdist")
    pinned = wanted.pinned
    versions = sorted(by_version)
    offered = [v for v in versions if v == pinned or not all(f.yanked for f in by_version[v])]
    finals = [v for v in offered if not v.is_prerelease]
    newest = (finals or offered or versions)[-1]
    allowed = list(wanted.requirement.specifier.filter(offered))
    judged = pinned if pinned is not None else (allowed[-1] if allowed else None)

    def usable(version: Version) -> list[tuple[IndexFile, str]]:
        """Files of ``version`` that install on ``target``, best first (yanked files only
        for an exact pin, as pip does)."""
        found = []
        for file in by_version.get(version, []):
            kind = file_kind(file.filename, target)
            if kind is None or not target.allows(file.requires_python):
                continue
            if file.yanked and version != pinned:
                continue
            found.append((file, kind))
        return sorted(found, key=lambda pair: KINDS.index(pair[1]))

    def wheel(version: Version) -> tuple[IndexFile, str] | None:
        return next(((f, k) for f, k in usable(version) if k != "sdist"), None)

    with_wheel = [v for v in versions if wheel(v) and _final_or(v, judged)]
    installable = with_wheel[-1] if with_wheel else None
    facts = Choice(
        wanted,
        NO,
        "",
        pinned=str(pinned) if pinned is not None else None,
        newest=str(newest),
        installable=str(installable) if installable is not None else None,
    )

    def chosen(
        version: Version, verdict: str, reason: str, pick: tuple[IndexFile, str], attention: bool
    ) -> Choice:
        return replace(
            facts,
            verdict=verdict,
            reason=reason,
            attention=attention,
            version=str(version),
            file=pick[0],
            kind=pick[1],
            free_threaded_wheel=_free_threaded_wheel(by_version[version], target),
        )

    if judged is not None and judged in by_version and (pick := wheel(judged)):
        what = "pinned" if pinned is not None else "newest allowed"
        return chosen(
            judged, YES, f"{what} {judged} has {_a(_kind_text(pick[1], target))}", pick, False
        )
    missing = "" if judged is None or judged in by_version else f"{judged} not on the index; "
    older = [v for v in allowed if v != judged and wheel(v) and _final_or(v, judged)]
    if pinned is None and older:
        pick = wheel(older[-1])
        assert pick is not None
        reason = (
            f"newest allowed {judged} has no {target.abi} wheel;"
            f" pip would install {older[-1]} ({_kind_text(pick[1], target)})"
        )
        return chosen(older[-1], VERIFY, reason, pick, False)
    if installable is not None and (judged is None or installable > judged):
        pick = wheel(installable)
        assert pick is not None
        outside = installable not in allowed
        limit = f" (outside {wanted.requirement.specifier})" if outside and pinned is None else ""
        reason = f"{missing}upgrade to {installable}{limit} ({_kind_text(pick[1], target)})"
        return chosen(installable, VERIFY, reason, pick, outside)
    later = [v for v in versions if (judged is None or v >= judged) and _final_or(v, judged)]
    for version in reversed(later):
        sdist = next(((f, k) for f, k in usable(version) if k == "sdist"), None)
        if sdist:
            upgrade = f"upgrade to {version}; " if judged is not None and version > judged else ""
            reason = f"{missing}{upgrade}only an sdist for {target.abi}: builds from source"
            return chosen(version, VERIFY, reason, sdist, True)
    return replace(facts, reason=missing + _why_not(by_version, judged or newest, target))


def _final_or(version: Version, judged: Version | None) -> bool:
    """Pre-releases count only when the judged version is that one."""
    return not version.is_prerelease or version == judged


def _a(text: str) -> str:
    return ("an " if text[0] in "aeiou" else "a ") + text


def _kind_text(kind: str, target: Target) -> str:
    return {
        "native": f"{target.abi} wheel",
        "abi3": "abi3 wheel",
        "platform": "py3-none wheel",
        "pure": "pure wheel",
        "sdist": "sdist",
    }[kind]


def _why_not(
    by_version: Mapping[Version, list[IndexFile]], version: Version, target: Target
) -> str:
    """Why no file of any version installs, told from ``version``'s files."""
    files = by_version.get(version) or by_version[max(by_version)]
    shown = version if version in by_version else max(by_version)
    if all(not target.allows(f.requires_python) for fs in by_version.values() for f in fs):
        limits = sorted({f.requires_python or "" for f in files})
        return f"Requires-Python {', '.join(limits)} excludes {target.python} (every version)"
    abis = _wheel_abis(files)
    if target.free_threaded and "abi3" in abis:
        return f"only abi3 wheels (they do not load on {target.abi}); no {target.abi} wheel"
    names = ", ".join("py3-none" if abi == "none" else abi for abi in abis)
    built = f" ({shown} has {names} wheels)" if abis else ""
    return f"no wheel for {target.abi} on {target.platform}{built}"


@dataclass(frozen=True)
class Assessment:
    """The verdict on one package, with what it was judged on."""

    name: str
    spec: str
    verdict: str
    reason: str
    pinned: str | None = None
    newest: str | None = None
    installable: str | None = None
    version: str | None = None
    filename: str | None = None
    kind: str | None = None
    free_threaded_wheel: bool = False
    requires_python: str | None = None
    python_classifiers: tuple[str, ...] | None = None  # None: metadata not available
    requires: tuple[str, ...] = ()  # its Requires-Dist that apply on the target, no markers
    priority: str | None = None
    group: str | None = None
    dependency_of: str | None = None
    blocked_by: tuple[str, ...] = ()  # the dependencies that made it No (or Verify)
    attention: bool = False  # a dependent inherits this Verify (see Choice)

    @property
    def abi3(self) -> bool:
        return self.kind == "abi3"

    @property
    def requires_names(self) -> tuple[str, ...]:
        """Canonical names of ``requires``."""
        return tuple(canonicalize_name(Requirement(spec).name) for spec in self.requires)


def python_classifiers(classifiers: Iterable[str]) -> tuple[str, ...]:
    """The ``3.x`` versions a package's Trove classifiers name, in order."""
    minors = sorted({int(m[1]) for c in classifiers if (m := _CLASSIFIER.match(c.strip()))})
    return tuple(f"3.{minor}" for minor in minors)


def dependencies(metadata: Metadata, target: Target, extras: Iterable[str] = ()) -> list[Wanted]:
    """The Requires-Dist that apply on ``target`` with ``extras`` requested."""
    chosen = ["", *sorted(canonicalize_name(e) for e in extras)]
    found: dict[str, Wanted] = {}
    for spec in metadata.requires_dist:
        try:
            requirement = Requirement(spec)
        except (InvalidRequirement, InvalidMarker):
            continue
        marker = requirement.marker
        if marker is not None and not any(
            _holds(marker, target.environment(extra)) for extra in chosen
        ):
            continue
        if not requirement.url:
            name = canonicalize_name(requirement.name)
            extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
            found.setdefault(name, Wanted(name, f"{name}{extras}{requirement.specifier}"))
    return list(found.values())


def _holds(marker: Marker, environment: dict[str, str]) -> bool:
    try:
        return marker.evaluate(environment)
    except Exception:  # an undefined or invalid comparison: the dependency does not apply
        return False


def judge(choice: Choice, metadata: Metadata | None, target: Target) -> Assessment:
    """The verdict on ``choice`` with its core metadata (None when not available)."""
    wanted = choice.wanted
    verdict, reason = choice.verdict, choice.reason
    file = choice.file
    requires_python = file.requires_python if file else None
    classifiers = None
    requires: tuple[str, ...] = ()
    if metadata is not None:
        requires_python = requires_python or metadata.requires_python
        classifiers = python_classifiers(metadata.classifiers)
        extras = wanted.requirement.extras
        requires = tuple(d.spec for d in dependencies(metadata, target, extras))
        if verdict != NO and not target.allows(metadata.requires_python):
            verdict = NO
            reason = (
                f"Requires-Python {metadata.requires_python} excludes {target.python}"
                f" ({choice.version}'s metadata)"
            )
        elif (
            verdict == YES
            and choice.kind in ("pure", "platform")
            and classifiers
            and target.python not in classifiers
        ):
            verdict = VERIFY
            newest = classifiers[-1]
            reason = f"{reason}, but its classifiers stop at {newest}"
    return Assessment(
        name=wanted.name,
        spec=wanted.spec,
        verdict=verdict,
        reason=reason,
        pinned=choice.pinned,
        newest=choice.newest,
        installable=choice.installable,
        version=choice.version,
        filename=file.filename if file else None,
        kind=choice.kind,
        free_threaded_wheel=choice.free_threaded_wheel,
        requires_python=requires_python,
        python_classifiers=classifiers,
        requires=requires,
        priority=wanted.priority,
        group=wanted.group,
        dependency_of=wanted.dependency_of,
        attention=choice.attention and verdict == VERIFY,
    )


# --- the dependency graph ---------------------------------------------------------------------


def _paths(
    start: str, by_name: Mapping[str, Assessment], found: Callable[[Assessment], bool]
) -> dict[str, list[str]]:
    """{name: path from ``start`` to it} for every dependency of ``start`` (direct or not)
    that is ``found``, not looking past those (breadth first: the shortest paths)."""
    paths: dict[str, list[str]] = {}
    seen = {start}
    queue = [[start]]
    while queue:
        path = queue.pop(0)
        for name in by_name[path[-1]].requires_names:
            if name in seen or name not in by_name:
                continue
            seen.add(name)
            if found(by_name[name]):
                paths[name] = [*path, name]
            else:
                queue.append([*path, name])
    return paths


def _via(path: Sequence[str]) -> str:
    """`` (via mid → other)``: the packages between a package and a blocker of it."""
    return f" (via {' → '.join(path[1:-1])})" if len(path) > 2 else ""


def propagate(assessments: Sequence[Assessment]) -> list[Assessment]:
    """Each package that depends (directly or not) on a package that is No by itself is No
    because of it: ``because of torch`` (``torch (via mid)`` when the way is longer). A Yes or
    Verify whose dependency needs a build from source or a version outside what is required
    is Verify because of that one (its own reason after it)."""
    by_name = {a.name: a for a in assessments}
    result = []
    for one in assessments:
        blockers = {} if one.verdict == NO else _paths(one.name, by_name, _no)
        if blockers:
            reason = "because of " + ", ".join(
                f"{name}{_via(path)}" for name, path in sorted(blockers.items())
            )
            one = replace(one, verdict=NO, reason=reason, blocked_by=tuple(sorted(blockers)))
        else:
            needs = _paths(one.name, by_name, lambda a: a.attention)
            if needs:
                reason = "because of " + "; ".join(
                    f"{by_name[name].spec}{_via(path)}: {by_name[name].reason}"
                    for name, path in sorted(needs.items())
                )
                if one.verdict == VERIFY:
                    reason += f"; and {one.reason}"
                one = replace(one, verdict=VERIFY, reason=reason, blocked_by=tuple(sorted(needs)))
        result.append(one)
    return result


def _no(assessment: Assessment) -> bool:
    return assessment.verdict == NO


# --- go / no-go --------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupDecision:
    group: str  # REQUIRED for the unmarked packages
    go: bool
    line: str
    blockers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    go: bool
    line: str
    groups: tuple[GroupDecision, ...] = ()

    @property
    def deferred(self) -> tuple[str, ...]:
        return tuple(g.group for g in self.groups if not g.go and g.group != REQUIRED)


def _priority_rank(priority: str | None) -> int:
    return PRIORITIES.index(priority) if priority in PRIORITIES else len(PRIORITIES)


def _ordered(assessments: Iterable[Assessment]) -> list[Assessment]:
    """The project's own packages (required first, then by group), by priority and name;
    dependencies after them."""
    return sorted(
        assessments,
        key=lambda a: (
            a.dependency_of is not None,
            a.group is not None,
            a.group or "",
            _priority_rank(a.priority),
            a.name,
        ),
    )


def decide(assessments: Iterable[Assessment]) -> Decision:
    """A go / no-go line per group of the project's own packages and one for the migration:
    a No among the required packages stops it; a group's No defers only that group."""
    groups: dict[str, list[Assessment]] = {}
    for one in _ordered(a for a in assessments if a.dependency_of is None):
        groups.setdefault(one.group or REQUIRED, []).append(one)
    decisions = []
    for group, members in groups.items():
        blockers = [a for a in members if a.verdict == NO]
        counts = ", ".join(
            f"{n} {v}" for v in (YES, VERIFY) if (n := sum(a.verdict == v for a in members))
        )
        if not blockers:
            line = f"GO: {group} — all Yes/Verify ({counts}) → proceed"
        else:
            names = ", ".join(
                a.name + (f" ({a.priority} priority)" if a.priority else "") for a in blockers
            )
            then = "fix before migrating" if group == REQUIRED else "defer"
            line = f"NO-GO: {group} — {names} No → {then}"
        decisions.append(GroupDecision(group, not blockers, line, tuple(a.name for a in blockers)))
    required = next((d for d in decisions if d.group == REQUIRED), None)
    deferred = [d.group for d in decisions if not d.go and d.group != REQUIRED]
    if required is not None and not required.go:
        line = f"NO-GO: {', '.join(required.blockers)} No (required)"
        return Decision(False, line, tuple(decisions))
    if deferred:
        word = "group" if len(deferred) == 1 else "groups"
        return Decision(True, f"GO, deferring {word} {', '.join(deferred)}", tuple(decisions))
    return Decision(True, "GO", tuple(decisions))


# --- the report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    target: Target
    index: str
    packages: tuple[Assessment, ...]
    decision: Decision
    skipped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def build_report(
    assessments: Sequence[Assessment],
    target: Target,
    index: str,
    skipped: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> Report:
    """The packages with blockers propagated, ordered, and their go / no-go."""
    packages = tuple(_ordered(propagate(assessments)))
    return Report(target, index, packages, decide(packages), tuple(skipped), tuple(notes))


def columns(target: Target) -> list[str]:
    """The table's column titles (the rows of ``table_rows``)."""
    return [
        "Package",
        "Group",
        "Pinned",
        "Newest",
        f"Newest for {target.abi}",
        "Wheel",
        "abi3",
        f"cp3{target.minor}t wheel",
        "Requires-Python",
        "Verdict",
        "Reason",
    ]


def _wheel_text(one: Assessment, target: Target) -> str:
    if one.kind is None:
        return "-"
    text = _kind_text(one.kind, target).removesuffix(" wheel")
    return f"{text} ({one.version})" if one.version != one.pinned else text


def _shown(one: Assessment) -> bool:
    """A dependency is shown when it is what makes a package No or Verify."""
    return one.dependency_of is None or (one.verdict == NO and not one.blocked_by) or one.attention


def table_rows(report: Report, dependencies_too: bool = False) -> list[list[str]]:
    """One row per package of the project and per dependency that makes one No or Verify
    (every dependency with ``dependencies_too``), in ``columns`` order."""
    rows = []
    for one in report.packages:
        if not (dependencies_too or _shown(one)):
            continue
        group = one.group or (REQUIRED if one.dependency_of is None else "")
        if one.dependency_of is not None:
            group = f"dependency of {one.dependency_of}"
        if one.priority:
            group = f"{group} ({one.priority})"
        rows.append(
            [
                one.name,
                group or "-",
                one.pinned or "-",
                one.newest or "-",
                one.installable or "none",
                _wheel_text(one, report.target),
                _yes(one.abi3),
                "-" if one.kind in ("pure", "platform") else _yes(one.free_threaded_wheel),
                one.requires_python or "-",
                one.verdict,
                one.reason,
            ]
        )
    return rows


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def decision_lines(report: Report) -> list[str]:
    """The go / no-go line of each group, then the migration's."""
    return [g.line for g in report.decision.groups] + [f"Migration: {report.decision.line}"]


def report_markdown(report: Report) -> str:
    """The table and the go / no-go lines as Markdown."""
    target = report.target
    head = columns(target)
    lines = [
        f"Readiness for Python {target.python}"
        + (" free-threaded" if target.free_threaded else "")
        + f" ({target.abi}, {target.platform})",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]
    for row in table_rows(report):
        cells = [cell.replace("|", "\\|") for cell in row]
        cells[-2] = f"**{cells[-2]}**"
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- {line}" for line in decision_lines(report)]
    if report.skipped:
        lines += ["", "Left out: " + "; ".join(report.skipped)]
    lines += [f"\n{note}" for note in report.notes]
    return "\n".join(lines) + "\n"


def report_document(report: Report) -> dict[str, Any]:
    """The report as JSON-able data."""
    target = report.target
    return {
        "python": target.python,
        "free_threaded": target.free_threaded,
        "abi": target.abi,
        "platform": target.platform,
        "index": report.index,
        "go": report.decision.go,
        "decision": report.decision.line,
        "groups": [
            {"group": g.group, "go": g.go, "line": g.line, "blockers": list(g.blockers)}
            for g in report.decision.groups
        ],
        "packages": [
            {
                "name": a.name,
                "requirement": a.spec,
                "verdict": a.verdict,
                "reason": a.reason,
                "pinned": a.pinned,
                "newest": a.newest,
                "newest_installable": a.installable,
                "version": a.version,
                "file": a.filename,
                "kind": a.kind,
                "abi3": a.abi3,
                "free_threaded_wheel": a.free_threaded_wheel,
                "requires_python": a.requires_python,
                "python_classifiers": (
                    list(a.python_classifiers) if a.python_classifiers is not None else None
                ),
                "requires": list(a.requires),
                "priority": a.priority,
                "group": a.group,
                "dependency_of": a.dependency_of,
                "blocked_by": list(a.blocked_by),
            }
            for a in report.packages
        ],
        "skipped": list(report.skipped),
        "notes": list(report.notes),
    }
