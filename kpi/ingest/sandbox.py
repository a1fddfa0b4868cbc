"""Run the reader in a separate, memory-limited process and survive it dying or hanging on a file."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import orjson

from kpi import periods
from kpi.archive import Archive, BackgroundArchiver
from kpi.ingest.reader import Limits
from kpi.settings import PROJECT_ROOT, Settings

OnResult = Callable[[int, dict[str, Any]], None]


def limits_from(settings: Settings) -> Limits:
    """The container limits the settings ask for."""
    return Limits(
        max_bytes=settings.max_upload_bytes, max_entries=settings.max_zip_entries,
        max_uncompressed=settings.max_uncompressed_bytes, max_ratio=settings.max_compression_ratio,
    )


def reader_pool(settings: Settings | None = None, *, today: dt.date | None = None) -> ReaderPool:
    """The sandboxed readers the settings ask for, validating as of `today`."""
    from kpi.settings import get_settings

    settings = settings or get_settings()
    return ReaderPool(limits_from(settings), threads=settings.reader_threads, processes=settings.reader_processes,
                      memory_bytes=settings.reader_memory_bytes, timeout=settings.reader_timeout_seconds,
                      validate={"today": (today or periods.today()).isoformat()})


def read_files(paths: Sequence[str], settings: Settings | None = None, *, today: dt.date | None = None
               ) -> list[dict[str, Any]]:
    """Read (and validate) files in the sandboxed workers as the settings say: one raw result per path."""
    return reader_pool(settings, today=today).read([str(p) for p in paths])


def read_and_archive(readers: ReaderPool, paths: Sequence[str], archive: Archive | None,
                     allows: Callable[[str], bool]) -> tuple[list[dict[str, Any]], set[str]]:
    """Read (and validate) files in the sandboxed readers; unless `archive` is None (a dry run), each
    valid file for an entity `allows` admits goes into the batch's archive pack as its result arrives.
    The results, one per path, and the sha256 of the files archived."""
    paths = [str(p) for p in paths]
    if archive is None:
        return readers.read(paths), set()
    archiver = BackgroundArchiver(archive, paths, allows)
    try:
        results = readers.read(paths, on_result=archiver.on_result)
    finally:
        archived = archiver.finish()
    return results, archived


def _limit_memory(max_bytes: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class _ForkedReader:
    """A reader forked from this process, which has loaded the catalogue already, so the reader starts
    at once instead of importing and loading everything again; `subprocess.Popen`'s interface."""

    def __init__(self, memory_bytes: int, validator: Any) -> None:
        from kpi.ingest import worker

        to_child, requests = os.pipe()
        replies, from_child = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the reader: its own pipes as stdin and stdout, nothing else of the parent's open
            code = 1
            try:
                os.dup2(to_child, 0)
                os.dup2(from_child, 1)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 2)
                os.closerange(3, max(1 << 16, os.sysconf("SC_OPEN_MAX")))
                os.environ.setdefault("RAYON_NUM_THREADS", "1")
                _limit_memory(memory_bytes)
                worker.serve(os.fdopen(0, "rb"), os.fdopen(1, "wb"), validator)
                code = 0
            finally:
                os._exit(code)
        os.close(to_child)
        os.close(from_child)
        self.pid = pid
        self.returncode: int | None = None
        self.stdin: Any = os.fdopen(requests, "wb")
        self.stdout: Any = os.fdopen(replies, "rb")

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def wait(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


class _Worker:
    """One reader process and the bookkeeping of what it is working on."""

    def __init__(self, limits: Limits, threads: int, memory_bytes: int, validate: dict[str, Any] | None,
                 *, process: _ForkedReader | None = None) -> None:
        if process is not None:
            self.proc: Any = process
        else:
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
        self.proc.stdin.write(orjson.dumps(message) + b"\n")
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
        self._forked: list[_Worker] = []
        self._forked_lock = threading.Lock()

    def processes_for(self, count: int) -> int:
        """How many reader processes a batch of `count` files gets."""
        return max(1, min(self.processes, count // 40))

    def prefork(self, count: int) -> int:
        """Start `count` readers now by forking this process with the catalogue loaded, so that none has
        to start Python and load it again; how many were forked.

        Only a process that has started no other thread may fork safely (the command line, before it
        opens the database); elsewhere, as in the app's server, this forks nothing and `read` spawns
        fresh readers. The readers are used by the next `read`.
        """
        if threading.active_count() > 1 or not hasattr(os, "fork"):
            return 0
        from kpi.ingest.worker import build_validator

        validator = build_validator(self.validate) if self.validate else None
        for _ in range(count):
            reader = _ForkedReader(self.memory_bytes, validator)
            self._forked.append(_Worker(self.limits, self.threads, self.memory_bytes, self.validate,
                                        process=reader))
        return count

    def _worker(self, threads: int) -> _Worker:
        """A forked reader when one is waiting (and the threads match), else a freshly spawned one."""
        with self._forked_lock:
            if self._forked and threads == self.threads:
                return self._forked.pop()
        return _Worker(self.limits, threads, self.memory_bytes, self.validate)

    def read(self, paths: Sequence[str], on_result: OnResult | None = None) -> list[dict[str, Any]]:
        """One result per path, in order: `{"ok": True, ...}` or `{"ok": False, "problem": {...}}`.

        Large batches are split over several worker processes: the checks and the XML scanning hold
        the GIL, so threads alone would use one core.
        """
        from concurrent.futures import ThreadPoolExecutor

        results: dict[int, dict[str, Any]] = {}
        jobs = list(enumerate(paths))
        count = self.processes_for(len(jobs))
        chunks = [jobs[i::count] for i in range(count)]
        try:
            with ThreadPoolExecutor(max_workers=count) as pool:
                found = list(pool.map(lambda chunk: self._run(chunk, self.threads, results, on_result), chunks))
        finally:
            with self._forked_lock:
                unused, self._forked = self._forked, []
            for worker in unused:
                worker.kill()
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
            worker = self._worker(threads)
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
