"""The archive of accepted uploads: each file kept by the sha256 of its content, beside the database.

A batch's accepted files go into one pack, `<db>.archive/packs/<name>.zip`: an uncompressed ZIP whose
members are named `<sha256>.xlsx`, so any zip tool opens it. One file per batch instead of one per
upload: creating a thousand small files costs this kind of machine about as much as reading them all.
Older archives kept one file per upload (`<db>.archive/ab/<sha256>.xlsx`); they are still read.

Light on purpose (no DuckDB import): the command line fills a pack while the sandboxed readers still run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import queue
import re
import secrets
import threading
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kpi.periods import has_ended

PACKS = "packs"
_MEMBER = re.compile(r"^([0-9a-f]{64})\.xlsx$")


def read_unchanged(path: str | os.PathLike[str], sha256: str) -> bytes | None:
    """A file's content if it still has the sha256 it was read with; None if it changed since."""
    with open(path, "rb") as fh:
        content = fh.read()
    return content if hashlib.sha256(content).hexdigest() == sha256 else None


def archive_dir_for(db_path: str | os.PathLike[str]) -> Path:
    """Where a database keeps its archived uploads: `<db>.archive/`."""
    return Path(db_path).with_suffix(".archive")


class Archive:
    """The content-addressed archive of one database; safe across threads.

    Durability: a pack is written, flushed to disk and given its final name before the database commits
    the batch that refers to its files (`Pack.close`).
    """

    archives_while_reading = True  # a batch's files may go into a pack as the readers find them valid

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._index: dict[str, tuple[Path, str]] | None = None  # sha256 -> (file, member or "")

    def _entries(self) -> dict[str, tuple[Path, str]]:
        with self._lock:
            if self._index is None:
                index: dict[str, tuple[Path, str]] = {}
                if self.root.exists():
                    for legacy in self.root.glob("??/*.xlsx"):
                        index[legacy.stem] = (legacy, "")
                    for pack in sorted((self.root / PACKS).glob("*.zip")):
                        for name in _pack_members(pack):
                            index.setdefault(name[:64], (pack, name))
                self._index = index
            return self._index

    def shas(self) -> set[str]:
        """The sha256 of every archived file."""
        return set(self._entries())

    def __contains__(self, sha256: object) -> bool:
        return sha256 in self._entries()

    def read(self, sha256: str) -> bytes | None:
        """An archived file's content, or None when it is not in the archive."""
        entry = self._entries().get(sha256)
        if entry is None:
            return None
        path, member = entry
        if not member:
            return path.read_bytes()
        with zipfile.ZipFile(path) as pack:
            return pack.read(member)

    def pack(self) -> Pack:
        """A new pack for one batch's files."""
        return Pack(self)

    def keep(self, cur: Any, pack: Any) -> None:
        """Nothing to do in the transaction of a batch: its pack is durable already."""

    def _added(self, path: Path, shas: set[str]) -> None:
        with self._lock:
            if self._index is not None:  # else it is built from the folder when first needed
                for sha in shas:
                    self._index.setdefault(sha, (path, f"{sha}.xlsx"))


def _pack_members(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as pack:
            return [name for name in pack.namelist() if _MEMBER.match(name)]
    except (zipfile.BadZipFile, OSError):
        return []  # a damaged pack (an unfinished one keeps its `.tmp` name and is never listed)


class Pack:
    """One batch's accepted files, written as they come into `packs/.<name>.zip.tmp`; `close` makes
    it durable under its final name.

    A content appears once in a pack; an identical file uploaded again in a later batch is stored in
    that batch's pack too (a few kilobytes), so that writing never has to read every earlier pack."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        folder = archive.root / PACKS
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{stamp}-{os.getpid()}-{secrets.token_hex(4)}.zip"  # never another's name
        self._tmp = folder / f".{self.path.name}.tmp"
        self._zip: zipfile.ZipFile | None = None
        self._lock = threading.Lock()
        self.shas: set[str] = set()  # the contents this pack holds

    def add(self, content: bytes, sha256: str) -> None:
        """Keep one file's content under its sha256 (which the caller has computed)."""
        with self._lock:
            if sha256 in self.shas:
                return
            if self._zip is None:
                self._zip = zipfile.ZipFile(self._tmp, "x", compression=zipfile.ZIP_STORED)
            self._zip.writestr(f"{sha256}.xlsx", content)
            self.shas.add(sha256)

    def add_file(self, path: str, sha256: str) -> bool:
        """Keep a file from disk if its content still has the sha256 it was read with; False if it changed."""
        content = read_unchanged(path, sha256)
        if content is None:
            return False
        self.add(content, sha256)
        return True

    def close(self) -> Path | None:
        """Finish the pack and make it durable (fsync, final name, fsync of the folder); None if empty."""
        with self._lock:
            if self._zip is None:
                return None
            self._zip.close()
            self._zip = None
            with open(self._tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.link(self._tmp, self.path)  # fails rather than replace a pack of the same name
            os.unlink(self._tmp)
            folder = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        self.archive._added(self.path, self.shas)
        return self.path


class DatabaseArchive:
    """The archive of a PostgreSQL store: each file a row of its `archive_file` table, by sha256, written in
    the transaction that writes its return, so every server reads it and `pg_dump` backs it up.

    A batch's files are held in memory (`MemoryPack`) until `keep` writes them in that transaction; a
    batch that is refused or fails leaves nothing behind.
    """

    archives_while_reading = False  # nothing is written before the return's own transaction

    def __init__(self, store: Any) -> None:
        self.store = store

    def _files(self, cur: Any) -> Any:
        from kpi.store import pg  # noqa: PLC0415 - light module: the driver only with a URL store

        return pg.ArchiveFiles(cur)

    def shas(self) -> set[str]:
        """The sha256 of every archived file."""
        cur = self.store.cursor()
        try:
            return set(self._files(cur).shas())
        finally:
            cur.close()

    def __contains__(self, sha256: object) -> bool:
        if not isinstance(sha256, str):
            return False
        cur = self.store.cursor()
        try:
            return bool(self._files(cur).has(sha256))
        finally:
            cur.close()

    def read(self, sha256: str) -> bytes | None:
        """An archived file's content, or None when it is not in the archive."""
        cur = self.store.cursor()
        try:
            content: bytes | None = self._files(cur).get(sha256)
            return content
        finally:
            cur.close()

    def pack(self) -> MemoryPack:
        """A new pack for one batch's files (kept in memory until `keep`)."""
        return MemoryPack()

    def keep(self, cur: Any, pack: MemoryPack | None) -> None:
        """Write a batch's files with a cursor inside the transaction that writes its returns."""
        if pack is not None and pack.contents:
            self._files(cur).put(pack.contents)


class MemoryPack:
    """One batch's accepted files in memory, for a `DatabaseArchive` (the same calls as `Pack`)."""

    def __init__(self) -> None:
        self.contents: dict[str, bytes] = {}
        self._lock = threading.Lock()

    @property
    def shas(self) -> set[str]:
        return set(self.contents)

    def add(self, content: bytes, sha256: str) -> None:
        with self._lock:
            self.contents.setdefault(sha256, content)

    def add_file(self, path: str, sha256: str) -> bool:
        """Keep a file from disk if its content still has the sha256 it was read with; False if it changed."""
        content = read_unchanged(path, sha256)
        if content is None:
            return False
        self.add(content, sha256)
        return True

    def close(self) -> None:
        """Nothing to make durable yet: the database write does it."""


class BackgroundArchiver:
    """Archives each file the sandboxed readers found valid (for an entity the uploader may report for)
    as soon as its result arrives, on a thread of its own: the readers' replies keep being drained
    while the disk works, and the copying overlaps the reading of the other files.

    Pass `on_result` to the readers; `finish()` waits for the last copy, makes the pack durable and
    gives the sha256 of the files archived. A file the batch then does not keep (the database write
    fails) stays in the pack as an unreferenced, harmless copy.
    """

    def __init__(self, archive: Archive, paths: Sequence[str], allows: Callable[[str], bool]) -> None:
        self.pack = archive.pack()
        self.paths = list(paths)
        self.allows = allows
        self._queue: queue.SimpleQueue[tuple[str, str] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="parasat-archiver", daemon=True)
        self._thread.start()

    def on_result(self, index: int, result: dict[str, Any]) -> None:
        data = (result.get("validated") or {}).get("data") if result.get("ok") else None
        # A quarter not yet ended waits for the server's calendar check (kpi.periods.refusal), which knows
        # the periods opened early; a file it lets through is archived then, before the database is written.
        if data and self.allows(str(data.get("entity"))) and (data.get("period") is None
                                                               or has_ended(str(data["period"]))):
            self._queue.put((self.paths[index], str(result["sha256"])))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            path, sha256 = item
            # A file changed since it was read, or gone, stays out: the batch then refuses it with the reason.
            with contextlib.suppress(OSError):
                self.pack.add_file(path, sha256)

    def finish(self) -> set[str]:
        self._queue.put(None)
        self._thread.join()
        self.pack.close()
        return set(self.pack.shas)
