"""Incidents, one JSON file each under ``<state>/incidents/`` (0600, written atomically: a crash
leaves the old file or the new one), readable when soakgate.db is not.

    store = IncidentStore(state)
    store.save(incident)                  # <state>/incidents/20261205T004512Z-dev.json
    store.list()                          # newest first; a broken file is a warning
    store.get("20261205T004512Z-dev")     # or None: the newest; SoakgateError when none
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from soakgate.adapters.atomic_file import write_atomic
from soakgate.core.incident import Incident, incident_id
from soakgate.errors import ConfigError, SoakgateError

INCIDENTS_DIR = "incidents"


class IncidentStore:
    def __init__(self, state: Path) -> None:
        self.directory = state / INCIDENTS_DIR

    def new_id(self, stage: str, when: datetime) -> str:
        """A fresh id for an incident of ``stage`` at ``when`` (call under the stage lock)."""
        taken = {path.stem for path in self.directory.glob("*.json")}
        return incident_id(stage, when, taken)

    def save(self, incident: Incident) -> Path:
        path = self.directory / f"{incident.id}.json"
        write_atomic(path, json.dumps(incident.to_dict(), indent=2) + "\n")
        return path

    def list(self, warn: Callable[[str], None] = lambda message: None) -> list[Incident]:
        """Every incident, newest first; a file that is not one is skipped with a warning."""
        found = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                data = json.loads(path.read_text())
                found.append(Incident.from_dict(data))
            except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
                warn(f"{path}: not an incident ({exc}); skipped")
        found.sort(key=lambda incident: (incident.created, incident.id), reverse=True)
        return found

    def get(
        self, ident: str | None = None, warn: Callable[[str], None] = lambda message: None
    ) -> Incident:
        """The incident ``ident`` (its id or a unique prefix), or the newest when None."""
        incidents = self.list(warn)
        if not incidents:
            raise SoakgateError(
                f"no incidents in {self.directory}",
                hint="a rollback keeps one: soakgate rollback STAGE",
            )
        if ident is None:
            return incidents[0]
        exact = [incident for incident in incidents if incident.id == ident]
        matches = exact or [incident for incident in incidents if incident.id.startswith(ident)]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(incident.id for incident in incidents[:5])
        if not matches:
            raise ConfigError(f"no incident {ident!r}", hint=f"newest: {known}")
        raise ConfigError(
            f"incident {ident!r} is ambiguous: {', '.join(m.id for m in matches[:5])}",
            hint="give more of its id",
        )
