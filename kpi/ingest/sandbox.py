"""Run the reader in a separate, memory-limited process and survive it dying or hanging on a file."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import selectors
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import orjson

from kpi.ingest.reader import Limits
from kpi.settings import PROJECT_ROOT, Settings

OnResult = Callable[[int, dict[str, Any]], None]


def limits_from(settings: Settings) -> Limits:
    """The container limits the settings ask for."""
    return Limits(
        max_bytes=settings.max_upload_bytes, max_entries=settings.max_zip_entries,
        max_uncompressed=settings.max_uncompressed_bytes, max_ratio=settings.max_compression_ratio,
    )


def read_files(paths: Sequence[str], settings: Settings | None = None, *, today: dt.date | None = None,
               on_result: OnResult | None = None) -> list[dict[str, Any]]:
    """Read (and validate) files in the sandboxed workers as the settings say: one raw result per path.

    `on_result(index, result)` is called, on a collector thread, as each file's result arrives.
    """
    from kpi.settings import get_settings

    settings = settings or get_settings()
    pool = ReaderPool(limits_from(settings), threads=settings.reader_threads, processes=settings.reader_processes,
                      memory_bytes=settings.reader_memory_bytes, timeout=settings.reader_timeout_seconds,
                      validate={"today": (today or dt.date.today()).isoformat()})
    return pool.read([str(p) for p in paths], on_result=on_result)


def _limit_memory(max_bytes: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class _Worker:
    """One reader process and the bookkeeping of what it is working on."""

    def __init__(self, limits: Limits, threads: int, memory_bytes: int, validate: dict[str, Any] | None) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        env.setdefault("RAYON_NUM_THREADS", "1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kpi.ingest.worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=env, preexec_fn=lambda: _limit_memory(memory_bytes), close_fds=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._buffer = b""
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.proc.stdout, selectors.EVENT_READ)
        self._send({"limits": asdict(limits), "threads": threads, "validate": validate})

    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message, ensure_ascii=False) + "\n").encode())
        self.proc.stdin.flush()

    def submit(self, job_id: int, path: str) -> None:
        self._send({"id": job_id, "path": path})

    def finish_input(self) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):
            self.proc.stdin.close()

    def messages(self, timeout: float) -> list[dict[str, Any]] | None:
        """Messages that arrived within `timeout` seconds; None when the process has ended."""
        assert self.proc.stdout is not None
        out: list[dict[str, Any]] = []
        if not self._selector.select(timeout):
            return out
        chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
        if not chunk:
            return None
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if line.strip():
                out.append(orjson.loads(line))
        return out

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._selector.close()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def _failure(code: str, **params: Any) -> dict[str, Any]:
    return {"ok": False, "problem": {"code": code, "params": params, "sheet": None, "cell": None}}


class ReaderPool:
    """Reads files in a sandboxed worker; a file that kills or stalls it is refused alone."""

    def __init__(self, limits: Limits, *, threads: int = 2, processes: int | None = None,
                 memory_bytes: int = 1536 * 1024 * 1024, timeout: float = 20.0,
                 validate: dict[str, Any] | None = None) -> None:
        self.limits = limits
        self.validate = validate
        self.threads = threads
        self.processes = processes or min(4, os.cpu_count() or 1)
        self.memory_bytes = memory_bytes
        self.timeout = timeout

    def read(self, paths: Sequence[str], on_result: OnResult | None = None) -> list[dict[str, Any]]:
        """One result per path, in order: `{"ok": True, ...}` or `{"ok": False, "problem": {...}}`.

        Large batches are split over several worker processes: the checks and the XML scanning hold
        the GIL, so threads alone would use one core.
        """
        from concurrent.futures import ThreadPoolExecutor

        results: dict[int, dict[str, Any]] = {}
        jobs = list(enumerate(paths))
        count = max(1, min(self.processes, len(jobs) // 40))
        chunks = [jobs[i::count] for i in range(count)]
        with ThreadPoolExecutor(max_workers=count) as pool:
            found = list(pool.map(lambda chunk: self._run(chunk, self.threads, results, on_result), chunks))
        suspects = [job for chunk_suspects in found for job in chunk_suspects]
        for job in suspects:
            # A file that was in flight when the worker died is read again on its own.
            again = self._run([job], 1, results, on_result)
            if again:
                results[job[0]] = _failure("reader_crashed")
        return [results[i] for i in range(len(paths))]

    def _run(self, jobs: list[tuple[int, str]], threads: int, results: dict[int, dict[str, Any]],
             on_result: OnResult | None = None) -> list[tuple[int, str]]:
        """Run jobs in one worker; returns the jobs that were in flight if it died, after re-running the rest."""
        pending = list(jobs)
        suspects: list[tuple[int, str]] = []
        while pending:
            worker = _Worker(self.limits, threads, self.memory_bytes, self.validate)
            by_id = dict(pending)
            for job_id, path in pending:
                worker.submit(job_id, path)
            worker.finish_input()
            started: dict[int, float] = {}
            done: set[int] = set()
            crashed = False
            ready_deadline = time.monotonic() + max(self.timeout, 30.0)
            ready = False
            while len(done) < len(pending):
                messages = worker.messages(0.5)
                now = time.monotonic()
                if messages is None:
                    crashed = True
                    break
                for message in messages:
                    event = message.get("event")
                    if event == "ready":
                        ready = True
                    elif event == "start":
                        started[int(message["id"])] = now
                    elif event == "done":
                        job_id = int(message["id"])
                        done.add(job_id)
                        started.pop(job_id, None)
                        results[job_id] = message["result"]
                        if on_result is not None:
                            on_result(job_id, message["result"])
                stalled = [job_id for job_id, t0 in started.items() if now - t0 > self.timeout]
                if stalled:
                    for job_id in stalled:
                        results[job_id] = _failure("reader_timeout", seconds=self.timeout)
                        done.add(job_id)
                        started.pop(job_id)
                    crashed = True
                    break
                if not ready and now > ready_deadline:
                    raise RuntimeError("the sandboxed reader did not start")
            worker.kill()
            if not crashed:
                break
            if not started and not done:
                # Died before taking any file: nothing to blame, so every pending file is suspect.
                return suspects + pending
            suspects += [(job_id, by_id[job_id]) for job_id in started]
            in_flight = set(started)
            pending = [(i, p) for i, p in pending if i not in done and i not in in_flight]
            if threads == 1:
                return suspects
        return suspects
