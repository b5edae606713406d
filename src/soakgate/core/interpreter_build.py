"""How an image's Python interpreter was built, and whether two builds compare like with like.

A release compared with another measures its code *and* its interpreter's build: a CPython
configured without PGO and LTO runs pure-Python code 10 to 30 % slower than the same version
built with them, more than a Python upgrade's published gain. So every base image records the
facts of its interpreter (the probe's JSON, label ``soakgate.python.build``), release images
inherit the label from their base, and a comparison says when the two sides are not alike::

    facts = json.loads(output_of_probe)      # PROBE_SCRIPT run by the image's python3
    build = build_from_facts(facts)          # or parse_build(label_text)
    build.summary()     # "CPython 3.14.8 · PGO+LTO · JIT available (off) · shared: no · GCC 14"
    differences(old, new)   # ["PGO: no vs yes", "LTO: no vs yes", "shared libpython: yes vs no"]
    comparison_note(old, new)  # "not like with like: PGO: no vs yes, …" or None

Where the facts come from:

- configure's arguments (``sysconfig`` ``CONFIG_ARGS``): ``--enable-optimizations`` is PGO,
  ``--with-lto`` LTO, ``--enable-experimental-jit`` (not ``=no``) a JIT; the compiler flags
  (``PY_CFLAGS``, ``PY_CFLAGS_NODIST``, ``PY_LDFLAGS_NODIST``) show ``-fprofile-use`` and
  ``-flto`` of builds that pass them by hand.
- shared: whether the running interpreter has a ``libpython`` mapped (``/proc/self/maps``);
  ``Py_ENABLE_SHARED`` only where that cannot be read. Debian installs the sysconfig data of
  its *shared* build, while ``/usr/bin/python3.X`` is its static build: sysconfig says
  shared, the process says otherwise.
- Debian's python3.X packages build that static interpreter with PGO and LTO on their main
  architectures (``debian/rules``: ``with_pgo`` and ``with_lto`` on amd64, arm64, i386, armel,
  armhf, ppc64(el), s390x; ``make profile-opt`` with ``EXTRA_CFLAGS=-flto …``), pass the flags
  to make, not to configure, and strip ``-flto`` and ``-fprofile-use`` from the sysconfig data
  they install (``sysconfig_substflags``), so sysconfig shows neither. (Read in bookworm's
  python3.11 source package; the mirror here served no python3.14 source. Measured here: the
  same workload runs 23 % faster on Debian's 3.11.2 than on pyenv's 3.11.7 built without
  them.) When the interpreter's file belongs to such a package, PGO and LTO are taken from the
  packaging, and the build says so (``optimization_basis``).
- JIT: ``sys._jit.is_available()`` / ``is_enabled()`` (3.14+) in the probed process, so a
  release image with ``ENV PYTHON_JIT=1`` probes as JIT on.
- free-threaded: ``Py_GIL_DISABLED``; compiler: ``platform.python_compiler()``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The image label that holds the probe's facts (JSON); releases inherit it from their base.
LABEL_BUILD = "soakgate.python.build"
FACTS_SCHEMA = 1

# Run as ``python3 -S -c PROBE_SCRIPT`` in the image, not ``-I``/``-E``: those make it ignore
# PYTHON_JIT, whose effect the facts report. Prints one JSON object (the facts).
PROBE_SCRIPT = r"""
import json, os, platform, sys, sysconfig


def var(name):
    value = sysconfig.get_config_var(name)
    return "" if value is None else str(value)


def libpython():
    try:
        with open("/proc/self/maps") as maps:
            return sorted({line.split()[-1] for line in maps if "/libpython" in line})
    except OSError:
        return None


def package_of(path):
    info = "/var/lib/dpkg/info"
    try:
        names = sorted(name for name in os.listdir(info) if name.endswith(".list"))
    except OSError:
        return None
    for name in names:
        try:
            with open(os.path.join(info, name)) as listed:
                if path + "\n" not in listed.readlines():
                    continue
        except OSError:
            continue
        package = name[: -len(".list")].split(":")[0]
        try:
            with open("/var/lib/dpkg/status") as status:
                paragraphs = status.read().split("\n\n")
        except OSError:
            return package
        for paragraph in paragraphs:
            fields = dict(
                line.split(": ", 1) for line in paragraph.splitlines() if ": " in line
            )
            if fields.get("Package") == package and "Version" in fields:
                return package + " " + fields["Version"]
        return package
    return None


jit = getattr(sys, "_jit", None)
executable = os.path.realpath(sys.executable)
print(json.dumps({
    "schema": 1,
    "implementation": sys.implementation.name,
    "version": platform.python_version(),
    "compiler": platform.python_compiler().strip(),
    "machine": platform.machine(),
    "executable": executable,
    "config_args": var("CONFIG_ARGS"),
    "cflags": var("PY_CFLAGS"),
    "cflags_nodist": var("PY_CFLAGS_NODIST"),
    "ldflags_nodist": var("PY_LDFLAGS_NODIST"),
    "py_enable_shared": bool(sysconfig.get_config_var("Py_ENABLE_SHARED")),
    "gil_disabled": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "libpython": libpython(),
    "jit_available": bool(jit.is_available()) if jit else None,
    "jit_enabled": bool(jit.is_enabled()) if jit else None,
    "package": package_of(executable),
}, sort_keys=True))
"""

# Debian's python3.X: the static interpreter is built with PGO and LTO on these machines
# (platform.machine() of amd64, arm64, i386, armel/armhf, ppc64, ppc64el, s390x).
DEBIAN_OPTIMIZED_MACHINES = ("x86_64", "aarch64", "i686", "armv7l", "ppc64", "ppc64le", "s390x")
_DEBIAN_INTERPRETER = re.compile(r"python3\.\d+-minimal \S+")
_COMPILER = re.compile(r"(GCC|Clang|clang|MSC|ICC)\D*(\d+)")
_JIT_ARG = re.compile(r"--enable-experimental-jit(?:=([^'\s]+))?")


class InterpreterBuildError(ValueError):
    """The facts of an interpreter build are malformed; the message names the fault."""


@dataclass(frozen=True)
class InterpreterBuild:
    """The facts of one interpreter build that change how fast the same code runs."""

    implementation: str  # "cpython"
    version: str  # "3.14.8"
    compiler: str  # "GCC 14.2.0"
    machine: str  # "x86_64"
    config_args: str
    pgo: bool
    lto: bool
    shared: bool  # the interpreter runs from a shared libpython
    jit_available: bool
    jit_enabled: bool  # in the probed process (PYTHON_JIT of the image included)
    free_threaded: bool
    package: str = ""  # "python3.14-minimal 3.14.8-1" when a Debian package owns it
    optimization_basis: str = "configure"  # where PGO/LTO were read: configure or packaging

    @property
    def implementation_name(self) -> str:
        return {"cpython": "CPython", "pypy": "PyPy"}.get(self.implementation, self.implementation)

    @property
    def series(self) -> str:
        """``3.14`` of ``3.14.8``."""
        return ".".join(self.version.split(".")[:2])

    @property
    def compiler_major(self) -> str:
        """``GCC 14`` of ``GCC 14.2.0``; the whole string when it names no known compiler."""
        found = _COMPILER.search(self.compiler)
        if found is None:
            return self.compiler or "unknown"
        return f"{found.group(1).replace('clang', 'Clang')} {found.group(2)}"

    @property
    def optimization(self) -> str:
        """``PGO+LTO``, ``PGO``, ``LTO`` or ``no PGO/LTO``."""
        parts = [name for name, on in (("PGO", self.pgo), ("LTO", self.lto)) if on]
        return "+".join(parts) if parts else "no PGO/LTO"

    @property
    def jit(self) -> str:
        if not self.jit_available:
            return "no JIT"
        return "JIT on" if self.jit_enabled else "JIT available (off)"

    def summary(self) -> str:
        """One line: ``CPython 3.14.8 · PGO+LTO · JIT available (off) · shared: no · GCC 14``."""
        parts = [
            f"{self.implementation_name} {self.version}",
            self.optimization,
            self.jit,
            f"shared: {_yes(self.shared)}",
        ]
        if self.free_threaded:
            parts.append("free-threaded")
        parts.append(self.compiler_major)
        return " · ".join(parts)

    def details(self) -> list[tuple[str, str]]:
        """(field, value) rows for a side-by-side table."""
        basis = (
            f"{self.optimization} per Debian's packaging of {self.package}"
            " (its static interpreter; sysconfig describes the shared build)"
            if self.optimization_basis == "packaging"
            else "configure arguments and compiler flags"
        )
        return [
            ("interpreter", f"{self.implementation_name} {self.version}"),
            ("PGO", _yes(self.pgo)),
            ("LTO", _yes(self.lto)),
            ("PGO/LTO from", basis),
            ("shared libpython", _yes(self.shared)),
            ("JIT", self.jit),
            ("free-threaded", _yes(self.free_threaded)),
            ("compiler", self.compiler or "unknown"),
            ("machine", self.machine),
            ("package", self.package or "none (not from a Debian package)"),
            ("configure", self.config_args or "(none)"),
        ]

    def fingerprint(self) -> str:
        """16 hex digits that name this build (its fields, canonical JSON)."""
        encoded = json.dumps(dataclasses.asdict(self), sort_keys=True).encode()
        return hashlib.sha256(encoded).hexdigest()[:16]


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _text(facts: Mapping[str, Any], key: str, required: bool = False) -> str:
    value = facts.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise InterpreterBuildError(f"interpreter build facts: {key} should be a string")
    return value


def _flag(facts: Mapping[str, Any], key: str) -> bool | None:
    value = facts.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise InterpreterBuildError(f"interpreter build facts: {key} should be true or false")
    return value


def _jit_configured(config_args: str) -> bool:
    found = _JIT_ARG.search(config_args)
    return found is not None and found.group(1) != "no"


def build_from_facts(facts: Mapping[str, Any]) -> InterpreterBuild:
    """The build the probe's facts describe (see the module docstring for each rule)."""
    if not isinstance(facts, Mapping):
        raise InterpreterBuildError("interpreter build facts should be a JSON object")
    schema = facts.get("schema")
    if schema != FACTS_SCHEMA:
        raise InterpreterBuildError(
            f"interpreter build facts: schema {schema!r}, this soakgate reads {FACTS_SCHEMA}"
        )
    version = _text(facts, "version", required=True)
    if not re.fullmatch(r"\d+\.\d+\.\d+\S*", version):
        raise InterpreterBuildError(f"interpreter build facts: version {version!r} is no version")
    config_args = _text(facts, "config_args")
    flags = " ".join(_text(facts, key) for key in ("cflags", "cflags_nodist", "ldflags_nodist"))
    pgo = "--enable-optimizations" in config_args or bool(
        re.search(r"-fprofile-(?:instr-)?use", flags)
    )
    lto = "--with-lto" in config_args or bool(re.search(r"-flto\b", flags))
    package = _text(facts, "package")
    machine = _text(facts, "machine")
    basis = "configure"
    if (
        not (pgo and lto)
        and _DEBIAN_INTERPRETER.fullmatch(package)
        and machine in DEBIAN_OPTIMIZED_MACHINES
    ):
        pgo = lto = True
        basis = "packaging"
    libpython = facts.get("libpython")
    if libpython is not None and not isinstance(libpython, list):
        raise InterpreterBuildError("interpreter build facts: libpython should be a list")
    shared = bool(libpython) if libpython is not None else bool(_flag(facts, "py_enable_shared"))
    jit_available = _flag(facts, "jit_available")
    if jit_available is None:  # before 3.14: no sys._jit, configure tells
        jit_available = _jit_configured(config_args)
    return InterpreterBuild(
        implementation=_text(facts, "implementation", required=True),
        version=version,
        compiler=_text(facts, "compiler"),
        machine=machine,
        config_args=config_args,
        pgo=pgo,
        lto=lto,
        shared=shared,
        jit_available=jit_available,
        jit_enabled=bool(_flag(facts, "jit_enabled")),
        free_threaded=bool(_flag(facts, "gil_disabled")),
        package=package,
        optimization_basis=basis,
    )


def parse_facts(text: str) -> dict[str, Any]:
    """The facts object of the probe's output (its last line) or of the label's text."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        raise InterpreterBuildError("interpreter build facts: empty")
    try:
        facts = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise InterpreterBuildError(f"interpreter build facts: not JSON ({exc.msg})") from None
    if not isinstance(facts, dict):
        raise InterpreterBuildError("interpreter build facts should be a JSON object")
    return facts


def parse_build(text: str) -> InterpreterBuild:
    """The build of the probe's output or of a ``soakgate.python.build`` label."""
    return build_from_facts(parse_facts(text))


def facts_label(facts: Mapping[str, Any]) -> str:
    """The label text of ``facts``: compact, sorted JSON (checked to describe a build)."""
    build_from_facts(facts)
    return json.dumps(dict(facts), sort_keys=True, separators=(",", ":"))


def differences(a: InterpreterBuild, b: InterpreterBuild) -> list[str]:
    """What makes the two builds run the same code at different speeds, ``a`` first.

    The version is not one of them (it is what a Python upgrade compares); neither is a JIT
    that is available but off on one side and absent on the other (it runs no code then).
    """
    found = []
    if a.implementation != b.implementation:
        found.append(f"implementation: {a.implementation_name} vs {b.implementation_name}")
    for name, left, right in (
        ("PGO", a.pgo, b.pgo),
        ("LTO", a.lto, b.lto),
        ("shared libpython", a.shared, b.shared),
        ("free-threaded", a.free_threaded, b.free_threaded),
    ):
        if left != right:
            found.append(f"{name}: {_yes(left)} vs {_yes(right)}")
    left_jit, right_jit = a.jit_available and a.jit_enabled, b.jit_available and b.jit_enabled
    if left_jit != right_jit:
        found.append(f"JIT: {'on' if left_jit else 'off'} vs {'on' if right_jit else 'off'}")
    if a.compiler_major != b.compiler_major:
        found.append(f"compiler: {a.compiler_major} vs {b.compiler_major}")
    return found


def like_with_like(a: InterpreterBuild, b: InterpreterBuild) -> bool:
    """Whether the two builds differ in nothing :func:`differences` names."""
    return not differences(a, b)


def comparison_note(a: InterpreterBuild, b: InterpreterBuild) -> str | None:
    """One line for a comparison of a release on ``a`` with one on ``b``; None when alike."""
    found = differences(a, b)
    if not found:
        return None
    return (
        f"not like with like: {', '.join(found)} ({a.summary()} vs {b.summary()});"
        " part of the difference is the interpreter's build (soakgate images calibrate)"
    )
