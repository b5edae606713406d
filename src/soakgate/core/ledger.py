"""The ledger: an append-only, hash-chained record of builds, deploys, promotions, overrides…

first = make_event(None, "build", when, "ana", None, None, "sha256:3f2a…", {"python": "3.14.0"})
second = make_event(first, "deploy", when, "ana", "dev", None, "sha256:3f2a…", {"seconds": 41})
verify_chain([first, second])      # [] — or ["seq 2: hash mismatch: the entry was edited"]

Each event's ``hash`` is the SHA-256 of the canonical JSON of all its other fields, including
``prev_hash``, the hash of the event before it (``GENESIS`` for the first). Editing, deleting
or reordering an entry breaks the chain at a place :func:`verify_chain` names. Deleting the
newest entries, or rewriting and re-hashing the chain, leaves a valid chain: so the newest
entry's seq and hash are also kept outside the database (a :class:`Head`), and
:func:`check_anchor` compares the two. An ``anchor`` event in the chain records that anchoring
started; from then on a missing head is a failure, not a ledger from before anchoring.

Limits: caught are changes to the database alone (edits, deletions, emptying, re-hashing);
whoever rewrites or deletes the database *and* the head file together goes unnoticed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

KINDS = (
    "build",
    "deploy",
    "promote",
    "override",
    "refusal",
    "rollback",
    "drill",
    "soak",
    "anchor",
    "gate",  # a passing gate decision: the release may enter the stage (core.admission)
)
ANCHOR = "anchor"  # the event that starts (or, after a checked repair, restarts) anchoring
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


@dataclass(frozen=True)
class Head:
    """The newest entry as kept outside the database: its seq, hash and time, and the count."""

    seq: int
    hash: str
    time: str
    count: int

    def to_json(self) -> str:
        return (
            json.dumps(
                {"seq": self.seq, "hash": self.hash, "time": self.time, "count": self.count},
                sort_keys=True,
            )
            + "\n"
        )


def head_of(events: list[Event]) -> Head:
    """The head of ``events`` (oldest first); seq 0 when empty."""
    if not events:
        return Head(0, GENESIS, "", 0)
    last = events[-1]
    return Head(last.seq, last.hash, last.time, len(events))


def parse_head(text: str) -> Head:
    """The head in ``text`` (as :meth:`Head.to_json` writes it); ValueError saying what is wrong.

    Seq 0 (hash ``GENESIS``, count 0) anchors an empty ledger: anchoring has started, nothing
    is appended yet.
    """
    try:
        value = json.loads(text)
    except ValueError:
        raise ValueError("not JSON (truncated or overwritten)") from None
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    seq, digest, time, count = (value.get(key) for key in ("seq", "hash", "time", "count"))
    if type(seq) is not int or seq < 0:
        raise ValueError(f"seq must be an integer >= 0, not {seq!r}")
    if not isinstance(digest, str) or len(digest) != 64 or digest.strip("0123456789abcdef"):
        raise ValueError("hash must be 64 lowercase hex digits")
    if not isinstance(time, str):
        raise ValueError("time must be a string")
    if type(count) is not int or count < 0:
        raise ValueError(f"count must be an integer >= 0, not {count!r}")
    if seq == 0 and (digest != GENESIS or count != 0):
        raise ValueError("seq 0 must have the genesis hash and count 0")
    return Head(seq, digest, time, count)


@dataclass(frozen=True)
class AnchorCheck:
    """What comparing the chain with its head found.

    ``problems``: tampering or a lost anchor (verification fails). ``notes``: what is not
    tampering, said once. ``write``: the head to write (moved forward after an interrupted
    append), if any. ``start``: the ledger predates anchoring: append an ``anchor`` event.
    """

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    write: Head | None = None
    start: bool = False


def _span(first: int, last: int) -> str:
    return f"seq {first}" + (f"-{last}" if last > first else "")


def check_anchor(
    events: list[Event], anchored: Head | None, name: str, chain_intact: bool = True
) -> AnchorCheck:
    """Compare ``events`` (oldest first) with the head kept in the file ``name``.

    ``chain_intact``: :func:`verify_chain` found nothing; only then is a head moved forward or
    anchoring started, so a broken chain is never re-anchored.
    """
    last = events[-1] if events else None
    started = next((e for e in events if e.kind == ANCHOR), None)
    if anchored is None:
        if last is None:
            return AnchorCheck()
        if started is not None:
            return AnchorCheck(
                problems=[
                    f"anchor missing: {name} does not exist, but the ledger is anchored since"
                    f" seq {started.seq}: the head file was deleted (newest entries may be"
                    " gone with it)"
                ]
            )
        if not chain_intact:
            return AnchorCheck()
        return AnchorCheck(
            notes=[
                f"the ledger predates anchoring: {last.seq} entries, anchored in {name} from"
                " now on (deletions before now cannot be detected)"
            ],
            start=True,
        )
    if anchored.seq > (last.seq if last else 0):
        if last is None:
            return AnchorCheck(
                problems=[
                    f"ledger emptied: {name} anchors seq {anchored.seq} ({anchored.count}"
                    " entries), the ledger has none: every entry was deleted or the database"
                    " emptied"
                ]
            )
        return AnchorCheck(
            problems=[
                f"newest entries deleted: {_span(last.seq + 1, anchored.seq)} missing:"
                f" {name} anchors seq {anchored.seq}, the ledger ends at seq {last.seq}"
            ]
        )
    if anchored.seq > 0:
        entry = next((e for e in events if e.seq == anchored.seq), None)
        if entry is None:
            return AnchorCheck(
                problems=[f"seq {anchored.seq}, anchored in {name}, is missing: it was deleted"]
            )
        if entry.hash != anchored.hash:
            return AnchorCheck(
                problems=[
                    f"chain rewritten: seq {anchored.seq} has hash {entry.hash[:12]}, {name}"
                    f" anchors {anchored.hash[:12]}: the chain was rewritten and re-hashed"
                ]
            )
    if not chain_intact or last is None:
        return AnchorCheck()
    notes: list[str] = []
    if anchored.seq < last.seq:
        notes.append(
            f"{name} was behind ({_span(anchored.seq + 1, last.seq)} not anchored: an append"
            f" was interrupted after its commit); moved forward to seq {last.seq}"
        )
    return AnchorCheck(
        notes=notes,
        write=head_of(events) if anchored.seq < last.seq else None,
        start=started is None,
    )
