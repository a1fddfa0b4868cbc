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

import orjson

from kpi.ingest.reader import Limits, jsonable_tables, read_path


def main() -> None:
    """Serve read requests until stdin closes."""
    config = json.loads(sys.stdin.readline())
    limits = Limits(**config["limits"])
    validator = _validator(config["validate"]) if config.get("validate") else None
    out_lock = threading.Lock()

    def emit(message: dict[str, Any]) -> None:
        try:
            line = orjson.dumps(message, default=str)
        except TypeError:  # e.g. a whole number beyond 64 bits, which orjson refuses
            line = json.dumps(message, ensure_ascii=False, default=str).encode()
        with out_lock:
            sys.stdout.buffer.write(line + b"\n")
            sys.stdout.buffer.flush()

    def work(job_id: int, path: str) -> None:
        emit({"id": job_id, "event": "start"})
        try:
            result = read_path(path, limits)
            if result.get("ok"):
                if validator is not None:  # the figures travel back validated; the raw cells are not needed
                    result = {"ok": True, "sha256": result["sha256"], "validated": validator(path, result)}
                else:
                    result["tables"] = jsonable_tables(result["tables"])
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


def _validator(options: dict[str, Any]) -> Any:
    """Validation inside the sandbox, so a large batch is checked on every core, not only in the server."""
    import datetime as dt

    from kpi.catalogue import load_catalogue, load_registry
    from kpi.ingest.validate import validate

    catalogue, registry = load_catalogue(), load_registry()
    today = dt.date.fromisoformat(options["today"])

    def run(path: str, raw: dict[str, Any]) -> dict[str, Any]:
        data, issues = validate(catalogue, registry, path, raw, today=today)
        return {"data": data.to_wire() if data else None,
                "issues": [issue.model_dump(mode="json") for issue in issues]}

    return run


if __name__ == "__main__":
    main()
