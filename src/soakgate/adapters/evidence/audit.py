"""Vulnerability audit of what is installed *in the release's image*, and bandit on the code.

1. List the distributions the image's Python sees (``importlib.metadata`` in a throwaway
   container, no network) and write them as a CycloneDX 1.5 JSON SBOM.
2. Match them against an OSV advisory directory (``--advisories DIR``, refreshed by
   ``soakgate advisories refresh``: see ``advisories.py``), and ask pip-audit
   (PyPI's vulnerability data) when it answers. A package is audited when at least one of the
   two checked it; pip-audit skips every package when offline, and those packages stay
   *unaudited*, which fails the gate closed — never "no known vulnerabilities" for nothing
   checked.
3. ``bandit -r app -f json`` on the service's source, kept with its severities.

    installed = installed_distributions("sha256:…")               # {"fastapi": "0.165.0", …}
    sbom = sbom_json(release, installed)
    advisories = load_advisories(Path("tests/data/osv"))
    result = audit_packages(installed, advisories=advisories, pip_audit=run_pip_audit(installed))
    audit_document(installed, result.audit)                        # pip-audit JSON, for the gate
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from soakgate.adapters.evidence.tests import run_in_image
from soakgate.adapters.process import run
from soakgate.adapters.state.evidence import CollectFailed, one_line
from soakgate.core.advisories import MANIFEST as REFRESH_RECORD
from soakgate.core.evidence import (
    Audit,
    EvidenceError,
    Vulnerability,
    combine_audits,
    match_advisories,
    parse_advisory,
    parse_pip_audit,
)
from soakgate.core.names import digest_ref
from soakgate.core.release import Release

PIP_AUDIT_TIMEOUT = 300.0
BANDIT_TIMEOUT = 300.0
INVENTORY_SCRIPT = (
    "import importlib.metadata as m, json\n"
    "seen = {}\n"
    "for d in m.distributions():\n"
    "    name = d.metadata['Name']\n"
    "    if name and name not in seen:\n"
    "        seen[name] = d.version\n"
    "print(json.dumps(seen, sort_keys=True))\n"
)


@dataclass(frozen=True)
class PipAuditRun:
    """What pip-audit said: its JSON (when it wrote one) or why it gave none."""

    output: str | None
    error: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class AuditResult:
    """The combined audit and a line per source on what it checked."""

    audit: Audit
    sources: dict[str, str] = field(default_factory=dict)
    relevant_advisories: tuple[dict[str, Any], ...] = ()


# --- the image's packages and the SBOM ------------------------------------------------------


def installed_distributions(image: str) -> dict[str, str]:
    """{name: version} of every distribution the image's Python can import."""
    code, stdout, stderr = run_in_image(image, ["python", "-c", INVENTORY_SCRIPT])
    if code != 0:
        raise CollectFailed(
            f"cannot list the packages in {digest_ref(image)} (exit {code}): {one_line(stderr)}"
        )
    try:
        found = json.loads(stdout)
    except json.JSONDecodeError:
        raise CollectFailed(f"the package list of {digest_ref(image)} is not JSON") from None
    if not isinstance(found, dict):
        raise CollectFailed(f"the package list of {digest_ref(image)} is not a JSON object")
    # none at all (a standard-library service on a Python without pip): nothing to audit
    return {str(name): str(version) for name, version in found.items()}


def sbom_json(release: Release, installed: Mapping[str, str]) -> str:
    """A CycloneDX 1.5 JSON SBOM: the image as the described component, one library per
    distribution with its PyPI package URL."""
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot5
    from packageurl import PackageURL

    bom = Bom()
    root = Component(
        name=release.image.rsplit(":", 1)[0],
        version=release.app_version,
        type=ComponentType.CONTAINER,
        bom_ref=release.digest,
        description=f"Python {release.python}, revision {release.revision}",
    )
    bom.metadata.component = root
    libraries = []
    for name, version in sorted(installed.items(), key=lambda item: canonicalize_name(item[0])):
        purl = PackageURL(type="pypi", name=canonicalize_name(name), version=version)
        library = Component(
            name=name,
            version=version,
            type=ComponentType.LIBRARY,
            purl=purl,
            bom_ref=purl.to_string(),
        )
        bom.components.add(library)
        libraries.append(library)
    bom.register_dependency(root, libraries)
    text: str = JsonV1Dot5(bom).output_as_string(indent=2)
    return text


def sbom_packages(text: str | bytes) -> dict[str, str]:
    """{name: version} of the PyPI components of a CycloneDX JSON SBOM."""
    document = json.loads(text)
    found = {}
    for component in document.get("components", []):
        purl = str(component.get("purl", ""))
        if purl.startswith("pkg:pypi/") and component.get("version"):
            found[str(component["name"])] = str(component["version"])
    return found


def pinned_requirements(installed: Mapping[str, str]) -> str:
    """``name==version`` lines (what pip-audit is asked about)."""
    return "".join(f"{name}=={version}\n" for name, version in sorted(installed.items()))


# --- pip-audit ------------------------------------------------------------------------------


def pip_audit_argv(requirements: Path) -> list[str]:
    """pip-audit on exact pins, without resolving or installing anything."""
    return [
        sys.executable,
        "-m",
        "pip_audit",
        "-r",
        str(requirements),
        "--format",
        "json",
        "--no-deps",
        "--disable-pip",
        "--progress-spinner",
        "off",
    ]


def run_pip_audit(installed: Mapping[str, str], timeout: float = PIP_AUDIT_TIMEOUT) -> PipAuditRun:
    """Ask pip-audit about the exact pins; a run that fails is reported, not raised."""
    version = run([sys.executable, "-m", "pip_audit", "--version"], check=False)
    tool_version = version.stdout.split()[-1] if version.ok and version.stdout.split() else None
    with tempfile.TemporaryDirectory(prefix="soakgate-audit-") as folder:
        requirements = Path(folder) / "requirements.txt"
        requirements.write_text(pinned_requirements(installed))
        result = run(pip_audit_argv(requirements), timeout=timeout, check=False)
    if result.stdout.strip().startswith("{"):
        return PipAuditRun(result.stdout, None, tool_version)
    tail = result.output_tail(1)
    return PipAuditRun(
        None,
        f"pip-audit failed (exit {result.exited}): {tail[0] if tail else 'no output'}",
        tool_version,
    )


# --- OSV advisories -------------------------------------------------------------------------


def load_advisories(directory: Path) -> list[dict[str, Any]]:
    """Every OSV advisory (``*.json``, recursively, but the refresh record ``refreshed.json``)
    in ``directory``; CollectFailed naming the first file that is not one. None at all is
    fine here: whether the directory counts is ``advisories.check_advisories``' to say."""
    if not directory.is_dir():
        raise CollectFailed(f"--advisories {directory}: not a directory")
    advisories = []
    for path in sorted(directory.rglob("*.json")):
        if path.parent == directory and path.name == REFRESH_RECORD:
            continue
        try:
            advisories.append(parse_advisory(path.read_bytes()))
        except EvidenceError as exc:
            raise CollectFailed(f"{path}: {exc}") from None
    return advisories


def relevant(
    advisories: Iterable[Mapping[str, Any]], installed: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The advisories naming a PyPI package that is installed (kept in the bundle, so the
    severities can be read again later without the advisory directory)."""
    names = {canonicalize_name(name) for name in installed}
    kept = []
    for advisory in advisories:
        for affected in advisory.get("affected") or []:
            package = affected.get("package") if isinstance(affected, dict) else None
            if (
                isinstance(package, dict)
                and package.get("ecosystem") == "PyPI"
                and canonicalize_name(str(package.get("name", ""))) in names
            ):
                kept.append(dict(advisory))
                break
    return kept


# --- combining ------------------------------------------------------------------------------


def audit_packages(
    installed: Mapping[str, str],
    *,
    advisories: Sequence[Mapping[str, Any]] | None,
    advisories_label: str = "",
    uncovered: Mapping[str, str] | None = None,
    pip_audit: PipAuditRun | None,
) -> AuditResult:
    """Combine the two sources. A package is unaudited when no source checked it; the reasons
    of every source that tried are kept. ``uncovered`` ({name: why}) are the packages the
    advisory directory's refresh did not check: the advisories do not audit them."""
    packages: dict[str, str] = {canonicalize_name(name): v for name, v in installed.items()}
    checked: set[str] = set()
    why: dict[str, list[str]] = {name: [] for name in packages}
    sources: dict[str, str] = {}
    found = Audit()
    kept: list[dict[str, Any]] = []

    if advisories is None:
        sources["advisories"] = "none given (--advisories DIR)"
        for name in packages:
            why[name].append("no OSV advisories given (--advisories DIR)")
    else:
        matched = match_advisories(installed, advisories)
        kept = relevant(advisories, installed)
        missing = {canonicalize_name(name): reason for name, reason in (uncovered or {}).items()}
        unchecked = {entry.split(":", 1)[0] for entry in matched.unaudited} | set(missing)
        checked |= set(packages) - unchecked
        for entry in matched.unaudited:
            name, reason = entry.split(":", 1)
            why[name].append(reason.strip())
        for name, reason in missing.items():
            if name in why:
                why[name].append(f"advisories: {reason}")
        found = combine_audits(found, Audit(matched.vulnerabilities))
        origin = f" from {advisories_label}" if advisories_label else ""
        not_covered = f", {len(missing)} packages not covered" if missing else ""
        sources["advisories"] = (
            f"{len(advisories)} OSV advisories{origin}, {len(kept)} about installed packages,"
            f" {len(matched.vulnerabilities)} matched{not_covered}"
        )

    if pip_audit is None:
        sources["pip-audit"] = "not run"
    elif pip_audit.output is None:
        sources["pip-audit"] = pip_audit.error or "failed"
        for name in packages:
            why[name].append(pip_audit.error or "pip-audit failed")
    else:
        try:
            answered = parse_pip_audit(pip_audit.output)
        except EvidenceError as exc:
            answered = None
            sources["pip-audit"] = f"unreadable output: {exc}"
            for name in packages:
                why[name].append(f"pip-audit output unreadable: {exc}")
        if answered is not None:
            skipped = {entry.split(":", 1)[0] for entry in answered.unaudited}
            audited_here = set(packages) - skipped
            checked |= audited_here
            for entry in answered.unaudited:
                name, reason = entry.split(":", 1)
                if name in why:
                    why[name].append(f"pip-audit: {reason.strip()}")
            found = combine_audits(found, Audit(answered.vulnerabilities))
            sources["pip-audit"] = (
                f"audited {len(audited_here)} of {len(packages)} packages,"
                f" {len(answered.vulnerabilities)} vulnerabilities"
            )

    unaudited = tuple(
        f"{name}: {'; '.join(dict.fromkeys(why[name])) or 'no source checked it'}"
        for name in sorted(packages)
        if name not in checked
    )
    return AuditResult(Audit(found.vulnerabilities, unaudited), sources, tuple(kept))


def audit_document(installed: Mapping[str, str], audit: Audit) -> dict[str, Any]:
    """The combined audit in pip-audit's JSON format (``core.evidence.parse_pip_audit`` reads
    it): unaudited packages carry a ``skip_reason``."""
    by_package: dict[str, list[Vulnerability]] = {}
    for vuln in audit.vulnerabilities:
        by_package.setdefault(vuln.package, []).append(vuln)
    reasons = dict(entry.split(": ", 1) for entry in audit.unaudited if ": " in entry)
    dependencies: list[dict[str, Any]] = []
    for raw_name, version in sorted(installed.items(), key=lambda i: canonicalize_name(i[0])):
        name = canonicalize_name(raw_name)
        if name in reasons:
            dependencies.append({"name": name, "skip_reason": reasons[name]})
            continue
        dependencies.append(
            {
                "name": name,
                "version": version,
                "vulns": [
                    {
                        "id": vuln.id,
                        "aliases": list(vuln.aliases),
                        "fix_versions": list(vuln.fix_versions),
                        "description": vuln.summary,
                    }
                    for vuln in by_package.get(name, [])
                ],
            }
        )
    return {"dependencies": dependencies, "fixes": []}


# --- bandit ---------------------------------------------------------------------------------


def bandit_argv(source: Path) -> list[str]:
    return [sys.executable, "-m", "bandit", "-r", str(source), "-f", "json", "-q"]


def run_bandit(source: Path, timeout: float = BANDIT_TIMEOUT) -> tuple[str, str | None]:
    """bandit's JSON report on ``source`` and its version; it exits 1 when it finds issues."""
    result = run(bandit_argv(source), timeout=timeout, check=False)
    if result.exited not in (0, 1) or not result.stdout.strip().startswith("{"):
        tail = result.output_tail(1)
        raise CollectFailed(
            f"bandit failed (exit {result.exited}): {tail[0] if tail else 'no output'}"
        )
    version = run([sys.executable, "-m", "bandit", "--version"], check=False)
    first = version.stdout.split() if version.ok else []
    return result.stdout, (first[1] if len(first) > 1 else None)


def bandit_summary(text: str | bytes) -> dict[str, int]:
    """Issues by severity: ``{"HIGH": 0, "MEDIUM": 1, "LOW": 0}``."""
    document = json.loads(text)
    counts = {"HIGH": 0, "MEDIUM": 0, "LOW": 0}
    for issue in document.get("results", []):
        severity = str(issue.get("issue_severity", "")).upper()
        counts[severity] = counts.get(severity, 0) + 1
    return counts
