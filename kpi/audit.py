"""The audit trail: an append-only, hash-chained JSON-lines file beside the database.

It lives outside DuckDB on purpose: a rejected upload must leave the database untouched, yet the
rejection itself must be on record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_LOCK = threading.Lock()
GENESIS = "0" * 64


@dataclass(frozen=True)
class Event:
    """Something to record: who did what to which subject, with details."""

    actor: str
    action: str
    subject: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def _last_hash(path: Path) -> str:
    if not path.exists() or path.stat().st_size == 0:
        return GENESIS
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 65536))
        lines = fh.read().splitlines()
    return str(json.loads(lines[-1])["hash"]) if lines else GENESIS


def _digest(entry: dict[str, Any]) -> str:
    body = json.dumps(entry, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def record_many(path: Path, events: list[Event]) -> list[dict[str, Any]]:
    """Append events in order, each chained to the previous one by sha256; one disk flush for all."""
    if not events:
        return []
    with _LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        previous = _last_hash(path)
        at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        entries = []
        for event in events:
            entry: dict[str, Any] = {"at": at, "actor": event.actor, "action": event.action,
                                     "subject": event.subject, "detail": event.detail, "prev": previous}
            entry["hash"] = previous = _digest(entry)
            entries.append(entry)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write("".join(json.dumps(e, ensure_ascii=False, sort_keys=True, default=str) + "\n" for e in entries))
            fh.flush()
            os.fsync(fh.fileno())
        return entries


def record(path: Path, actor: str, action: str, subject: str | None = None, **detail: Any) -> dict[str, Any]:
    """Append one event (who, what, on what, when)."""
    return record_many(path, [Event(actor, action, subject, detail)])[0]


def read(path: Path) -> list[dict[str, Any]]:
    """Every recorded event, oldest first."""
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def verify(path: Path) -> bool:
    """Whether the chain is intact: no event edited, removed or reordered."""
    previous = GENESIS
    for entry in read(path):
        claimed = entry.pop("hash")
        if entry["prev"] != previous or _digest(entry) != claimed:
            return False
        previous = claimed
    return True
