"""The ledger: an append-only, hash-chained record of builds, deploys, promotions, overrides…

first = make_event(None, "build", when, "ana", None, None, "sha256:3f2a…", {"python": "3.14.0"})
second = make_event(first, "deploy", when, "ana", "dev", None, "sha256:3f2a…", {"seconds": 41})
verify_chain([first, second])      # [] — or ["seq 2: hash mismatch: the entry was edited"]

Each event's ``hash`` is the SHA-256 of the canonical JSON of all its other fields, including
``prev_hash``, the hash of the event before it (``GENESIS`` for the first). Editing, deleting
or reordering an entry breaks the chain at a place :func:`verify_chain` names. Deleting the
newest entries leaves a valid, shorter chain: compare :func:`head` with a copy kept elsewhere.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

KINDS = ("build", "deploy", "promote", "override", "refusal", "rollback", "drill", "soak")
GENESIS = "0" * 64


@dataclass(frozen=True)
class Event:
    seq: int
    kind: str
    time: str  # ISO 8601 UTC, e.g. 2025-06-02T09:14:03.120000Z
    actor: str
    stage: str | None
    from_release: str | None
    to_release: str | None
    data: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS
    hash: str = ""

    def content(self) -> dict[str, Any]:
        """Every field but ``hash``: what the hash covers."""
        return {
            "seq": self.seq,
            "kind": self.kind,
            "time": self.time,
            "actor": self.actor,
            "stage": self.stage,
            "from_release": self.from_release,
            "to_release": self.to_release,
            "data": self.data,
            "prev_hash": self.prev_hash,
        }


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, ASCII only, no NaN: the same data always gives the same text."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def event_hash(event: Event) -> str:
    """SHA-256 (hex) of the canonical JSON of the event's content."""
    return hashlib.sha256(canonical_json(event.content()).encode("ascii")).hexdigest()


def format_time(moment: datetime) -> str:
    """An aware datetime as ISO 8601 UTC with microseconds and ``Z``."""
    if moment.tzinfo is None:
        raise ValueError("ledger times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_event(
    previous: Event | None,
    kind: str,
    time: datetime,
    actor: str,
    stage: str | None,
    from_release: str | None,
    to_release: str | None,
    data: dict[str, Any] | None = None,
) -> Event:
    """The event that follows ``previous`` (None: the first), with its hash.

    ``data`` must be JSON-serialisable (no NaN); it is stored as its canonical JSON round trip,
    so that what is hashed is exactly what is read back.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown ledger event kind {kind!r} (known: {', '.join(KINDS)})")
    if not actor:
        raise ValueError("a ledger event needs an actor")
    try:
        stored = json.loads(canonical_json(data or {}))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"ledger data is not plain JSON: {exc}") from None
    if not isinstance(stored, dict):
        raise ValueError("ledger data must be a JSON object")
    event = Event(
        seq=previous.seq + 1 if previous else 1,
        kind=kind,
        time=format_time(time),
        actor=actor,
        stage=stage,
        from_release=from_release,
        to_release=to_release,
        data=stored,
        prev_hash=previous.hash if previous else GENESIS,
    )
    return Event(**{**event.content(), "hash": event_hash(event)})


def verify_chain(events: list[Event]) -> list[str]:
    """Problems with the chain, each naming the seq where it shows; [] when intact.

    ``events`` in stored order. Finds edited entries (hash mismatch), deleted ones (a gap in
    seq, a broken prev_hash link) and reordered ones (seq out of order).
    """
    problems: list[str] = []
    for before, after in itertools.pairwise(events):
        if after.seq == before.seq:
            problems.append(f"seq {after.seq}: appears twice")
        elif after.seq < before.seq:
            problems.append(f"seq {after.seq}: out of order (comes after seq {before.seq})")
    previous: Event | None = None
    for event in sorted(events, key=lambda e: e.seq):
        if event_hash(event) != event.hash:
            problems.append(f"seq {event.seq}: hash mismatch: the entry was edited")
        if event.kind not in KINDS:
            problems.append(f"seq {event.seq}: unknown kind {event.kind!r}")
        expected_seq = previous.seq + 1 if previous else 1
        if event.seq > expected_seq:
            gap = f"seq {expected_seq}" + (
                f"-{event.seq - 1}" if event.seq > expected_seq + 1 else ""
            )
            problems.append(f"seq {event.seq}: {gap} missing: entries were deleted")
        elif event.seq == expected_seq and event.prev_hash != (
            previous.hash if previous else GENESIS
        ):
            link = f"seq {previous.seq}" if previous else "the start of the ledger"
            problems.append(
                f"seq {event.seq}: prev_hash does not match {link}:"
                " an entry was replaced or the chain was forked"
            )
        previous = event
    return problems


def head(events: list[Event]) -> tuple[int, str]:
    """(seq, hash) of the newest event, (0, GENESIS) when empty: an anchor to keep elsewhere."""
    return (events[-1].seq, events[-1].hash) if events else (0, GENESIS)
