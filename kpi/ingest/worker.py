"""The sandboxed reader process: JSON lines in (`{"id", "path"}`), JSON lines out, threads inside.

Started by `kpi.ingest.sandbox.ReaderPool` with an address-space limit, so a crafted file that makes
a native reader allocate without bound ends this process, never the app's: either spawned afresh
(`python -m kpi.ingest.worker`) or forked from a command-line process that has loaded the catalogue
already (`serve` with a ready validator).
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO

import orjson

from kpi.ingest.reader import Limits, jsonable_tables, read_path

Validator = Callable[[str, dict[str, Any]], dict[str, Any]]


def main() -> None:
    """Serve read requests on stdin and stdout until stdin closes."""
    serve(sys.stdin.buffer, sys.stdout.buffer)


def serve(requests: BinaryIO, replies: BinaryIO, validator: Validator | None = None) -> None:
    """Read the configuration line, then read and validate each requested file until `requests` ends.

    `validator` is the ready one of a forked reader; a spawned reader builds its own when asked to.
    """
    config = orjson.loads(requests.readline())
    limits = Limits(**config["limits"])
    if validator is None and config.get("validate"):
        validator = build_validator(config["validate"])
    out_lock = threading.Lock()

    def emit(message: dict[str, Any]) -> None:
        try:
            line = orjson.dumps(message, default=str)
        except TypeError:  # e.g. a whole number beyond 64 bits, which orjson refuses
            line = json.dumps(message, ensure_ascii=False, default=str).encode()
        with out_lock:
            replies.write(line + b"\n")
            replies.flush()

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
        for line in requests:
            if not line.strip():
                continue
            request = orjson.loads(line)
            pool.submit(work, int(request["id"]), str(request["path"]))


def build_validator(options: dict[str, Any]) -> Validator:
    """Validation inside the sandbox, so a large batch is checked on every core, not only in the server."""
    import datetime as dt

    import python_calamine  # noqa: F401  (loaded before a fork, not in every forked reader)

    from kpi.catalogue import load_catalogue, load_registry
    from kpi.evidence import warm_up
    from kpi.ingest.validate import validate

    catalogue, registry = load_catalogue(), load_registry()
    warm_up()
    today = dt.date.fromisoformat(options["today"])

    def run(path: str, raw: dict[str, Any]) -> dict[str, Any]:
        data, issues = validate(catalogue, registry, path, raw, today=today)
        return {"data": data.to_wire() if data else None,
                "issues": [issue.model_dump(mode="json") for issue in issues]}

    return run


if __name__ == "__main__":
    main()
