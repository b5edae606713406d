"""An incident: what a rollback keeps of the release it rolled away from, for the roadmap's
step "investigate issues" — its last log lines, its ``docker inspect`` (secret values
redacted), the ledger entries that let it into the stage and its soak verdict.

    env = redact_env(["DB_PASSWORD=s3cret", "PORT=8000"], secret_names={"DB_PASSWORD"})
    # ["DB_PASSWORD=<redacted>", "PORT=8000"]
    record = gate_record(events, "staging", "sha256:b…")    # promote, override, refusal, gate…
    print("\\n".join(incident_lines(incident)))

Pure: the use case (``soakgate.app.incident``) gathers, the store
(``soakgate.adapters.state.incidents``) keeps, the CLI prints.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from soakgate.core.ledger import Event
from soakgate.core.names import digest_ref

REDACTED = "<redacted>"
# Ledger kinds that say how a release got into a stage: the gate decisions and the moves.
ENTRY_KINDS = ("gate", "promote", "override", "refusal", "deploy")
# A variable whose name says it holds a secret (matched on the whole name, any case).
SECRET_NAME = re.compile(
    r"(PASS|SECRET|TOKEN|KEY|CREDENTIAL|AUTH|PRIVATE|CERT|COOKIE|SESSION|DSN|SALT|SIGNATURE)",
    re.IGNORECASE,
)
# soakgate's own variables: never secret, kept for the reader.
PLAIN_NAMES = frozenset({"SOAKGATE_RELEASE", "SOAKGATE_STAGE", "PORT"})
_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:@/\s]*):[^@/\s]+@", re.I)


def is_secret_name(name: str, secret_names: Iterable[str] = ()) -> bool:
    return name not in PLAIN_NAMES and (name in set(secret_names) or bool(SECRET_NAME.search(name)))


def redact_value(value: str) -> str:
    """A value with the password of any ``scheme://user:password@host`` in it hidden."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", value)


def redact_env(env: Iterable[str], secret_names: Iterable[str] = ()) -> list[str]:
    """``NAME=value`` entries with the value of every secret name replaced by ``<redacted>``
    (and passwords inside URLs hidden in the others)."""
    names = set(secret_names)
    out = []
    for entry in env:
        name, sep, value = str(entry).partition("=")
        if not sep:
            out.append(name)
        elif is_secret_name(name, names):
            out.append(f"{name}={REDACTED}")
        else:
            out.append(f"{name}={redact_value(value)}")
    return out


def redact_inspect(attrs: dict[str, Any], secret_names: Iterable[str] = ()) -> dict[str, Any]:
    """A copy of a container's inspect document with its environment redacted
    (``Config.Env``) and passwords in its command line hidden; nothing else changes."""
    data = copy.deepcopy(attrs)
    config = data.get("Config")
    if isinstance(config, dict):
        if isinstance(config.get("Env"), list):
            config["Env"] = redact_env(config["Env"], secret_names)
        for key in ("Cmd", "Entrypoint"):
            if isinstance(config.get(key), list):
                config[key] = [redact_value(str(part)) for part in config[key]]
    if isinstance(data.get("Args"), list):
        data["Args"] = [redact_value(str(part)) for part in data["Args"]]
    return data


def gate_record(events: Iterable[Event], stage: str, digest: str) -> list[Event]:
    """The ledger entries that decided whether ``digest`` may enter ``stage``, oldest first:
    its gate decisions, promotions, overrides, refusals and deploys there."""
    return [
        event
        for event in events
        if event.kind in ENTRY_KINDS and event.stage == stage and event.to_release == digest
    ]


def incident_id(stage: str, when: datetime, taken: Iterable[str] = ()) -> str:
    """``20261205T004512Z-staging``, with ``-2``, ``-3`` … when that one is taken."""
    base = f"{when.astimezone(UTC):%Y%m%dT%H%M%SZ}-{stage}"
    used = set(taken)
    number, name = 1, base
    while name in used:
        number += 1
        name = f"{base}-{number}"
    return name


@dataclass
class Incident:
    """One rollback's evidence about the release it rolled away from. ``problems`` names what
    could not be collected: an incident with any is partial."""

    id: str
    created: str  # ISO 8601 UTC
    stage: str
    release: str | None  # the release rolled away from (the bad one)
    restored: str  # the release traffic went back to
    rollback: dict[str, Any] = field(default_factory=dict)  # path, reason, seconds_to_restored…
    container: dict[str, Any] = field(default_factory=dict)  # name, slot, id, state
    logs: list[str] = field(default_factory=list)
    inspect: dict[str, Any] | None = None  # redacted
    gates: list[dict[str, Any]] = field(default_factory=list)  # ledger events, as dicts
    soak: dict[str, Any] | None = None  # the verdict of the release's soak, if it had one
    problems: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        return bool(self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "partial": self.partial}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Incident:
        """An incident from its stored JSON; KeyError/TypeError when it is not one."""
        for key in ("id", "created", "stage", "restored"):
            if not isinstance(data[key], str):
                raise TypeError(f"{key}: expected text")
        known = {key: data[key] for key in cls.__dataclass_fields__ if key in data}
        return cls(**known)


def incident_summary(incident: Incident) -> dict[str, Any]:
    """The row ``soakgate incident list`` shows of one incident."""
    return {
        "id": incident.id,
        "created": incident.created,
        "stage": incident.stage,
        "release": incident.release,
        "restored": incident.restored,
        "path": incident.rollback.get("path"),
        "reason": incident.rollback.get("reason"),
        "log_lines": len(incident.logs),
        "partial": incident.partial,
    }


def _ref(digest: str | None) -> str:
    return digest_ref(digest) if digest else "-"


def _event_line(event: dict[str, Any]) -> str:
    data = event.get("data") or {}
    details = []
    for key in ("transition", "from_stage", "via", "gate", "reason", "action"):
        if data.get(key) is not None:
            details.append(f"{key}={data[key]}")
    gates = data.get("gates")
    if isinstance(gates, list):
        failed = [str(g.get("name")) for g in gates if isinstance(g, dict) and not g.get("passed")]
        details.append("gates: " + (f"failed {', '.join(failed)}" if failed else "all passed"))
    when = str(event.get("time", ""))[:19].replace("T", " ")
    head = f"seq {event.get('seq')}  {when}  {event.get('kind')}  by {event.get('actor')}"
    return f"{head}  {'; '.join(details)}".rstrip()


def incident_lines(incident: Incident) -> list[str]:
    """The incident as ``soakgate incident show`` prints it (plain text, no markup)."""
    rollback = incident.rollback
    lines = [
        f"incident {incident.id}" + ("  (partial)" if incident.partial else ""),
        f"  when:       {incident.created}",
        f"  stage:      {incident.stage}",
        f"  bad:        {_ref(incident.release)}",
        f"  restored:   {_ref(incident.restored)}",
        f"  rollback:   {rollback.get('path', '-')}, reason: {rollback.get('reason', '-')},"
        f" restored in {rollback.get('seconds_to_restored', '-')} s",
    ]
    container = incident.container
    if container:
        lines.append(
            f"  container:  {container.get('name', '-')} (slot {container.get('slot', '-')},"
            f" {container.get('status', '?')}, restarts {container.get('restarts', '?')},"
            f" exit code {container.get('exit_code', '?')}, OOM killed"
            f" {container.get('oom_killed', '?')})"
        )
    lines.append("")
    lines.append("how it got into the stage (ledger):")
    if incident.gates:
        lines.extend(f"  {_event_line(event)}" for event in incident.gates)
    else:
        lines.append("  no gate decision, promotion or deploy of it on the ledger")
    lines.append("")
    if incident.soak is None:
        lines.append("soak verdict: none (the release was not soaked)")
    else:
        soak = incident.soak
        observed = soak.get("observed_seconds", "?")
        where = f"in {soak['stage']}, " if soak.get("stage") else ""
        lines.append(
            f"soak verdict: {soak.get('state', '?')} ({where}{observed} s observed healthy)"
        )
        lines.extend(f"  {reason}" for reason in soak.get("reasons") or [])
    lines.append("")
    lines.append(f"last {len(incident.logs)} log lines of the bad container:")
    lines.extend(f"  {line}" for line in incident.logs)
    if not incident.logs:
        lines.append("  (none)")
    if incident.inspect is not None:
        lines.append("")
        lines.append("docker inspect (secret values redacted): soakgate incident show --json")
    if incident.problems:
        lines.append("")
        lines.append("not collected:")
        lines.extend(f"  {problem}" for problem in incident.problems)
    return lines
