"""The sandboxed reader process: JSON lines in (`{"id", "path"}`), JSON lines out, threads inside.

Started by `kpi.ingest.sandbox.ReaderPool` with an address-space limit, so a crafted file that makes
a native reader allocate without bound ends this process, never the app's.
"""

from __future__ import annotations

import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kpi.ingest.reader import Limits, read_path


def main() -> None:
    """Serve read requests until stdin closes."""
    config = json.loads(sys.stdin.readline())
    limits = Limits(**config["limits"])
    out_lock = threading.Lock()

    def emit(message: dict[str, Any]) -> None:
        line = json.dumps(message, ensure_ascii=False, default=str)
        with out_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def work(job_id: int, path: str) -> None:
        emit({"id": job_id, "event": "start"})
        try:
            result = read_path(path, limits)
        except Exception as exc:  # any reader failure is a refusal of that file, not of the batch
            result = {"ok": False, "problem": {"code": "unreadable", "params": {"detail": repr(exc)[:160]}}}
        emit({"id": job_id, "event": "done", "result": result})

    emit({"event": "ready"})
    with ThreadPoolExecutor(max_workers=max(1, int(config.get("threads", 2)))) as pool:
        for line in sys.stdin:
            if not line.strip():
                continue
            request = json.loads(line)
            pool.submit(work, int(request["id"]), str(request["path"]))


if __name__ == "__main__":
    main()
