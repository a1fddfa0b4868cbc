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
from pathlib import Path
from typing import Any

_LOCK = threading.Lock()
GENESIS = "0" * 64


def _last_hash(path: Path) -> str:
    if not path.exists() or path.stat().st_size == 0:
        return GENESIS
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 65536))
        lines = fh.read().splitlines()
    return str(json.loads(lines[-1])["hash"]) if lines else GENESIS


def record(path: Path, actor: str, action: str, subject: str | None = None, **detail: Any) -> dict[str, Any]:
    """Append one event (who, what, on what, when) chained to the previous one by sha256."""
    with _LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        entry: dict[str, Any] = {
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "actor": actor,
            "action": action,
            "subject": subject,
            "detail": detail,
            "prev": _last_hash(path),
        }
        body = json.dumps(entry, ensure_ascii=False, sort_keys=True, default=str)
        entry["hash"] = hashlib.sha256(body.encode()).hexdigest()
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, ensure_ascii=False, sort_keys=True, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return entry


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
        if entry["prev"] != previous:
            return False
        body = json.dumps(entry, ensure_ascii=False, sort_keys=True, default=str)
        if hashlib.sha256(body.encode()).hexdigest() != claimed:
            return False
        previous = claimed
    return True
