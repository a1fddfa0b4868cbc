"""The audit trail: a table in the store, hash-chained and keyed with a secret kept outside the database.

Each event is written in the same transaction as the change it records (or in its own, for a refused
upload or sign-in); every field is bounded, so no input can make an event too large to write or read.
Each event's hash covers its sequence number, its content and the previous hash; an HMAC of that hash
with the secret (a file beside the database, `<db>.secret`, never inside it) is stored with it, and the
head of the chain (last sequence number and hash) is kept, keyed the same way, in the `meta` table.
Whoever edits the database without the secret cannot recompute the keys, so an edited, inserted, deleted
or reordered event, or a cut tail, shows on verification.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kpi.store.route import db

if TYPE_CHECKING:
    from kpi.store import Cursor, Store

GENESIS = "0" * 64
HEAD_KEY = "audit_head"
IMPORTED_KEY = "audit_jsonl_imported"
KEY_ID = "audit_key_id"  # a fingerprint of the secret, to tell a replaced secret from a forged trail
BROKEN_HEAD = "audit_head_broken"  # recorded when a write finds the keyed head missing or altered
# Bounds of one event: a longer text is cut and its original length kept beside it.
MAX_ACTOR = 128
MAX_ACTION = 64
MAX_SUBJECT = 512
MAX_TEXT = 512
MAX_ITEMS = 50
MAX_DETAIL = 8192
MAX_DEPTH = 4
SECRET_BYTES = 32



@dataclass(frozen=True)
class Event:
    """Something to record: who did what to which subject, with details."""

    actor: str
    action: str
    subject: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verification:
    """The outcome of checking the trail: intact, or the first bad event and what is wrong (a message code)."""

    ok: bool
    checked: int
    first_bad: int | None = None
    problem: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.ok

    def message(self, lang: str | None = None) -> str:
        """The verdict in words, for the command line and the Administration page."""
        from kpi.i18n import t

        if self.ok:
            return t("security.audit.intact", lang, count=self.checked)
        problem = t(f"security.audit.problem.{self.problem}", lang, **self.params)
        return t("security.audit.broken", lang, seq=self.first_bad if self.first_bad is not None else "—",
                 problem=problem)


# --------------------------------------------------------------------------- the secret


def secret_path(db_path: Path) -> Path:
    """Where the database's secret lives: beside it, never inside it."""
    return db_path.with_suffix(".secret")


def load_secret(db_path: Path, *, create: bool = True) -> bytes | None:
    """The database's secret, created (owner read/write only) on first use; None when missing and not created."""
    return load_secret_file(secret_path(db_path), create=create)


def load_secret_file(path: Path, *, create: bool = True) -> bytes | None:
    """The secret in a file, created (owner read/write only) when asked; None when missing and not created."""
    try:
        text = path.read_text(encoding="ascii").strip()
        return bytes.fromhex(text) if len(text) == 2 * SECRET_BYTES else None
    except FileNotFoundError:
        if not create:
            return None
    except (OSError, ValueError):
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole under a private name, then linked into place: a process that finds the file finds its key
    # (never an empty file being written), and of two processes creating it at once the second takes the first's.
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(SECRET_BYTES) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):  # another process created it meanwhile: theirs is the key
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)
    return load_secret_file(path, create=False)


def same_text(given: str, expected: str) -> bool:
    """A constant-time comparison that takes any text (a forged value may hold any character)."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


def key_id(secret: bytes) -> str:
    """A fingerprint that names a secret without revealing it."""
    return keyed(secret, "parasat key id")[:16]


def keyed(secret: bytes, message: str) -> str:
    """HMAC-SHA256 of a message with the secret, as hex."""
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- bounding


def _cut(text: str, limit: int) -> tuple[str, int | None]:
    return (text, None) if len(text) <= limit else (text[:limit], len(text))


def _bounded(value: Any, path: str, cuts: dict[str, int], depth: int = 0) -> Any:
    """A JSON-safe copy of a value with long texts and lists cut (their lengths noted in `cuts`)."""
    if value is None or isinstance(value, bool | int | float):
        if isinstance(value, float) and value != value:
            return None
        return value
    if isinstance(value, str):
        text, length = _cut(value, MAX_TEXT)
        if length is not None:
            cuts[path] = length
        return text
    if depth >= MAX_DEPTH:
        text, length = _cut(repr(value), MAX_TEXT)
        cuts[path] = length or len(text)
        return text
    if isinstance(value, dict):
        items = list(value.items())
        if len(items) > MAX_ITEMS:
            cuts[path] = len(items)
            items = items[:MAX_ITEMS]
        return {str(k)[:64]: _bounded(v, f"{path}.{str(k)[:64]}", cuts, depth + 1) for k, v in items}
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        if len(items) > MAX_ITEMS:
            cuts[path] = len(items)
            items = items[:MAX_ITEMS]
        return [_bounded(v, f"{path}[{i}]", cuts, depth + 1) for i, v in enumerate(items)]
    return _bounded(str(value), path, cuts, depth)


def bound_event(event: Event) -> tuple[str, str, str | None, str]:
    """An event's actor, action, subject and detail (JSON), each within its bound, with original lengths kept."""
    cuts: dict[str, int] = {}
    actor, length = _cut(str(event.actor), MAX_ACTOR)
    if length is not None:
        cuts["actor"] = length
    action, length = _cut(str(event.action), MAX_ACTION)
    if length is not None:
        cuts["action"] = length
    subject = None
    if event.subject is not None:
        subject, length = _cut(str(event.subject), MAX_SUBJECT)
        if length is not None:
            cuts["subject"] = length
    detail = _bounded(dict(event.detail), "detail", cuts)
    if cuts:
        detail["_cut"] = dict(list(cuts.items())[:MAX_ITEMS])
    text = json.dumps(detail, ensure_ascii=False, sort_keys=True)
    if len(text) > MAX_DETAIL:
        text = json.dumps({"_cut": {"detail": len(text)}, "_head": text[:MAX_TEXT]}, ensure_ascii=False,
                          sort_keys=True)
    return actor, action, subject, text


def _digest(seq: int, at: str, actor: str, action: str, subject: str | None, detail: str, prev: str) -> str:
    body = json.dumps([seq, at, actor, action, subject, detail, prev], ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


# --------------------------------------------------------------------------- writing


def _store(target: Store | Path) -> Store:
    """The store behind a target: a store itself, or (as older callers pass) its legacy audit path."""
    from kpi.store import Store, open_store_for_audit_path

    if isinstance(target, Store):
        return target
    found = open_store_for_audit_path(Path(target))
    if found is None:
        raise LookupError(f"no open store keeps its audit trail at {target}")
    return found


def _head(cur: Cursor, secret: bytes) -> tuple[int, str, bool]:
    """Where the next event chains on, and whether the keyed head was found intact.

    An intact head ahead of the last row means a cut tail: new events continue after the gap, so it stays
    visible. A missing or altered head is put on record by a keyed event before anything else is added.
    """
    last_seq, last_hash = db(cur).audit.last() or (0, GENESIS)
    head = db(cur).meta.get(HEAD_KEY)
    if head is None:
        return last_seq, last_hash, last_seq == 0
    parts = str(head).split(":")
    if len(parts) != 3 or not (parts[0].isascii() and parts[0].isdigit() and len(parts[0]) < 19) or \
            not same_text(parts[2], keyed(secret, f"head:{parts[0]}:{parts[1]}")):
        return last_seq, last_hash, False
    if int(parts[0]) > last_seq:
        return int(parts[0]), parts[1], True
    return last_seq, last_hash, True


def append(cur: Cursor, secret: bytes, events: list[Event],
           at: str | None = None) -> list[dict[str, Any]]:
    """Append events with a cursor already inside the caller's transaction; returns them as written."""
    if not events:
        return []
    seq, previous, intact = _head(cur, secret)
    if not intact:
        events = [Event("system", BROKEN_HEAD, None, {"last_seq": seq}), *events]
    at = at or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    written = []
    rows: list[list[Any]] = []
    for event in events:
        seq += 1
        actor, action, subject, detail = bound_event(event)
        digest = _digest(seq, at, actor, action, subject, detail, previous)
        rows.append([seq, at, actor, action, subject, detail, previous, digest, keyed(secret, f"event:{digest}")])
        written.append({"seq": seq, "at": at, "actor": actor, "action": action, "subject": subject,
                        "detail": json.loads(detail), "prev": previous, "hash": digest})
        previous = digest
    db(cur).audit.insert(rows)  # one statement for the whole batch (a thousand-file upload writes a thousand)
    head = f"{seq}:{previous}"
    db(cur).meta.put(HEAD_KEY, f"{head}:{keyed(secret, 'head:' + head)}")
    return written[1:] if not intact else written


def record_many(target: Store | Path, events: list[Event], *,
                cur: Cursor | None = None) -> list[dict[str, Any]]:
    """Append events in order; with `cur`, inside the caller's transaction, else in a transaction of their own."""
    if not events:
        return []
    store = _store(target)
    secret = store.secret
    if cur is not None:
        return append(cur, secret, events)
    with store.transaction() as tx:
        return append(tx, secret, events)


def record(target: Store | Path, actor: str, action: str, subject: str | None = None, *,
           cur: Cursor | None = None, **detail: Any) -> dict[str, Any]:
    """Append one event (who, what, on what, when)."""
    return record_many(target, [Event(actor, action, subject, detail)], cur=cur)[0]


# --------------------------------------------------------------------------- reading and verifying


def read(target: Store | Path, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Recorded events, oldest first (the newest `limit` when given); never raises on a damaged row."""
    store = _store(target)
    cur = store.cursor()
    try:
        rows = db(cur).audit.read(limit)
    finally:
        cur.close()
    out = []
    for seq, at, actor, action, subject, detail, prev, digest in rows:
        try:
            parsed: Any = json.loads(detail)
        except (TypeError, ValueError):
            parsed = {"_unreadable": str(detail)[:MAX_TEXT]}
        out.append({"seq": seq, "at": at, "actor": actor, "action": action, "subject": subject,
                    "detail": parsed, "prev": prev, "hash": digest})
    return out


def _rows(cur: Cursor) -> Iterator[tuple[Any, ...]]:
    return db(cur).audit.scan()


def verify(target: Store | Path) -> Verification:
    """Check every event against its predecessor, its hash and its key, and the keyed head; never raises."""
    try:
        store = _store(target)
        secret = load_secret_file(store.secret_file, create=False)
        if secret is None:
            return Verification(False, 0, None, "secret_missing", {"file": store.secret_file.name})
        cur = store.cursor()
        try:
            known = db(cur).meta.get(KEY_ID)
            if known is not None and known != key_id(secret):
                return Verification(False, 0, None, "secret_missing", {"file": store.secret_file.name})
            return _verify(cur, secret)
        finally:
            cur.close()
    except Exception as exc:  # noqa: BLE001 - verification reports, it never raises
        return Verification(False, 0, None, "unreadable", {"error": type(exc).__name__})


def _verify(cur: Cursor, secret: bytes) -> Verification:
    previous, expected, checked = GENESIS, 1, 0
    for seq, at, actor, action, subject, detail, prev, digest, mac in _rows(cur):
        if seq != expected:
            if seq > expected:
                return Verification(False, checked, expected, "missing", {"first": expected, "last": seq - 1})
            return Verification(False, checked, seq, "order")
        if prev != previous:
            return Verification(False, checked, seq, "chain")
        try:
            recomputed = _digest(seq, at, actor, action, subject, detail, prev)
        except (TypeError, ValueError):
            return Verification(False, checked, seq, "unreadable", {"error": "digest"})
        if recomputed != digest:
            return Verification(False, checked, seq, "edited")
        if not same_text(str(mac), keyed(secret, f"event:{digest}")):
            return Verification(False, checked, seq, "key")
        if action == BROKEN_HEAD:
            return Verification(False, checked, seq, "head_altered")
        previous, expected, checked = digest, expected + 1, checked + 1
    head = db(cur).meta.get(HEAD_KEY)
    if head is None:
        return (Verification(True, 0) if checked == 0
                else Verification(False, checked, checked, "head_missing"))
    try:
        head_seq, head_hash, head_mac = str(head).split(":")
        last = int(head_seq) if head_seq.isascii() and head_seq.isdigit() and len(head_seq) < 19 else -1
    except ValueError:
        return Verification(False, checked, None, "head_altered")
    if not same_text(head_mac, keyed(secret, f"head:{head_seq}:{head_hash}")):
        return Verification(False, checked, None, "head_altered")
    if last > checked:
        return Verification(False, checked, checked + 1, "tail_cut", {"count": last - checked})
    if last != checked or head_hash != previous:
        return Verification(False, checked, max(last, 0) + 1, "appended")
    return Verification(True, checked)


# --------------------------------------------------------------------------- the older JSON-lines trail


def import_jsonl(cur: Cursor, secret: bytes, path: Path) -> int:
    """Copy a JSON-lines trail of an older version into the table once (inside the caller's transaction).

    Its own chain is checked and the verdict recorded with the import; a damaged line is imported as such.
    """
    if db(cur).meta.has(IMPORTED_KEY):
        return 0
    events: list[Event] = []
    previous, intact = GENESIS, True
    if path.exists():
        with open(path, encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                    claimed = entry.pop("hash")
                    body = json.dumps(entry, ensure_ascii=False, sort_keys=True, default=str)
                    intact = intact and entry.get("prev") == previous and \
                        hashlib.sha256(body.encode()).hexdigest() == claimed
                    previous = str(claimed)
                    detail = entry.get("detail") if isinstance(entry.get("detail"), dict) else {}
                    events.append(Event(str(entry.get("actor", "?")), str(entry.get("action", "?")),
                                        None if entry.get("subject") is None else str(entry["subject"]),
                                        {**detail, "_imported_at": str(entry.get("at", ""))}))
                except (ValueError, KeyError, AttributeError, TypeError):
                    intact = False
                    events.append(Event("?", "unreadable_line", f"line {number}", {"text": line[:MAX_TEXT]}))
    if events:
        append(cur, secret, [*events, Event("system", "audit_imported", path.name,
                                            {"events": len(events), "chain_intact": intact})])
    db(cur).meta.add(IMPORTED_KEY, str(len(events)))
    return len(events)
