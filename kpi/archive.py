"""The archive of accepted uploads: each file kept by the sha256 of its content, beside the database.

Light on purpose (no DuckDB import): the command line fills it while the sandboxed readers still run.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def archive_dir_for(db_path: str | os.PathLike[str]) -> Path:
    """Where a database keeps its archived uploads: `<db>.archive/`."""
    return Path(db_path).with_suffix(".archive")


class Archive:
    """Content-addressed files under `root/<first two hex digits>/<sha256><suffix>`; safe across threads.

    Writing the same content twice is harmless. Durability is the caller's: one `os.sync()` before the
    database commits the batch that refers to the files.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._folders: set[str] = set()
        self._lock = threading.Lock()

    def path_of(self, sha256: str, suffix: str = ".xlsx") -> Path:
        return self.root / sha256[:2] / f"{sha256}{suffix}"

    def put(self, content: bytes, sha256: str, suffix: str = ".xlsx") -> Path:
        """Keep one file's content under its sha256 (which the caller has computed)."""
        folder = os.path.join(self.root, sha256[:2])
        target = os.path.join(folder, f"{sha256}{suffix}")
        if os.path.exists(target):
            return Path(target)
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            with self._lock:
                self._folders.add(folder)
        tmp = os.path.join(folder, f".{sha256}{suffix}.{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(content)
        os.replace(tmp, target)
        return Path(target)

    def put_file(self, path: str, sha256: str) -> bool:
        """Keep a file from disk if its content still has the sha256 it was read with; False if it changed."""
        with open(path, "rb") as fh:
            content = fh.read()
        if hashlib.sha256(content).hexdigest() != sha256:
            return False
        self.put(content, sha256)
        return True


class BackgroundArchiver:
    """Archives each file the sandboxed readers found valid (for an entity the uploader may report for)
    as soon as its result arrives, on a thread of its own: the readers' replies keep being drained
    while the disk works, and the copying overlaps the reading of the other files.

    Pass `on_result` to the readers; `finish()` waits for the last copy and gives the sha256 of the
    files archived. A file the batch then does not keep (the database write fails) stays as an
    unreferenced, harmless copy.
    """

    def __init__(self, archive: Archive, paths: Sequence[str], allows: Callable[[str], bool]) -> None:
        self.archive = archive
        self.paths = list(paths)
        self.allows = allows
        self.archived: set[str] = set()
        self._queue: queue.SimpleQueue[tuple[str, str] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="parasat-archiver", daemon=True)
        self._thread.start()

    def on_result(self, index: int, result: dict[str, Any]) -> None:
        data = (result.get("validated") or {}).get("data") if result.get("ok") else None
        if data and self.allows(str(data.get("entity"))):
            self._queue.put((self.paths[index], str(result["sha256"])))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            path, sha256 = item
            try:
                if self.archive.put_file(path, sha256):
                    self.archived.add(sha256)
            except OSError:
                pass  # archived again, or refused with the reason, when the batch is written

    def finish(self) -> set[str]:
        self._queue.put(None)
        self._thread.join()
        return self.archived
