"""Worker processes that run one task at a time within a memory and time budget.

This is the one place untrusted file content is parsed (every extractor runs here; OCR
and later extractors should too). Each worker is a spawned process with its own pipe, so
when one dies (MemoryError, SIGKILL, SIGABRT, a parser crash) only the task it was running
fails, with a reason, and the worker is replaced when needed; the other workers go on.

The budget is enforced twice: in the worker, `RLIMIT_AS` caps its address space at its size
after start-up plus `memory_mb` (Linux; macOS and Windows have no enforced equivalent), and in
the pool, a watchdog reads each busy worker's RSS and kills one that exceeds its start-up RSS
plus `memory_mb` (every platform). The pool kills a task that runs longer than `timeout_s`.
Workers die with the pool: Linux delivers SIGKILL when the thread that started them ends
(`PR_SET_PDEATHSIG`), and on every platform a thread in each worker exits it once the parent
process is gone, so no kill -9 of the parent leaves a worker behind.

Results come back pickled; the pool stops handing out work while more than
`MAX_HELD_BYTES` of results wait to be collected, so a fast worker cannot pile up the text
of many large files in the parent.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

import psutil

from indexer.ingest.budget import set_memory_budget

MAX_HELD_BYTES = 128 * 1024 * 1024
IDLE_EXIT_S = 60.0  # an idle worker exits after this (the app and the watcher idle for hours)
_TICK_S = 0.05
_PARENT_CHECK_S = 0.5
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Budget:
    """What one task may use: `memory_mb` above a worker's start-up size (0: no limit) and
    `timeout_s` of wall time (0: none)."""

    memory_mb: int = 512
    timeout_s: float = 120.0


class TaskFailed(Exception):
    """The task did not return; ``str(exc)`` is the reason to record."""


class Task:
    """A submitted call; `result()` blocks until it returns, or raises its error."""

    def __init__(self, pool: WorkerPool, fn: Callable, args: tuple) -> None:
        self._pool = pool
        self.fn, self.args = fn, args
        self._done = threading.Event()
        self._payload: bytes | None = None
        self._error: BaseException | None = None
        self.cancelled = False

    def _finish(self, payload: bytes | None = None, error: BaseException | None = None) -> None:
        self._payload, self._error = payload, error
        self._done.set()

    def cancel(self) -> None:
        """Drop the task: not started, it never runs; running, its result is discarded."""
        self._pool._cancel(self)

    def result(self) -> Any:
        self._done.wait()
        if self._error is not None:
            raise self._error
        payload, self._payload = self._payload, None
        if payload is None:
            raise RuntimeError("a task's result can be collected once")
        self._pool._collected(len(payload))
        value = pickle.loads(memoryview(payload)[1:])
        if payload[:1] != _OK:
            raise TaskFailed(value)
        return value


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    ready: bool = False
    base_rss: int = 0
    setup: int = 0  # the pool's setup version this worker has run
    task: Task | None = None
    started: float = 0.0
    killed_for: str | None = None
    idle_since: float = 0.0
    in_setup: bool = False  # running a setup: its memory is not the task's


@dataclass
class _State:
    pending: deque[Task] = field(default_factory=deque)
    setup: tuple[int, Callable | None, tuple] = (0, None, ())
    held_bytes: int = 0
    closed: bool = False


class WorkerPool:
    """Up to `size` worker processes, started on demand, each running one task at a time."""

    def __init__(self, size: int, budget: Budget, preload: tuple[str, ...] = ()) -> None:
        self.size = max(1, size)
        self.budget = budget
        self.preload = preload
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._state = _State()
        self._workers: list[_Worker] = []
        self._manager = threading.Thread(target=self._manage, name="findling-workers", daemon=True)
        self._manager.start()

    # -- the caller's side ------------------------------------------------------------------
    def submit(self, fn: Callable, *args: Any) -> Task:
        """Run `fn(*args)` in a worker; `fn` must be importable by name (a module-level function)."""
        task = Task(self, fn, args)
        with self._lock:
            if self._state.closed:
                raise RuntimeError("the worker pool is closed")
            self._state.pending.append(task)
        return task

    def set_setup(self, fn: Callable, *args: Any) -> None:
        """Have every worker run `fn(*args)` before its next task (per-run state, such as the
        hashes already in the catalog, or a tokenizer to load). What the setup allocates is not
        the tasks': the worker's memory budget starts again from its size after the setup."""
        with self._lock:
            self._state.setup = (self._state.setup[0] + 1, fn, args)

    def close(self) -> None:
        with self._lock:
            self._state.closed = True
        self._manager.join(timeout=10)

    def _collected(self, size: int) -> None:
        with self._lock:
            self._state.held_bytes -= size

    def _cancel(self, task: Task) -> None:
        with self._lock:
            task.cancelled = True
            if task in self._state.pending:
                self._state.pending.remove(task)
            if task._payload is not None:
                self._state.held_bytes -= len(task._payload)
                task._payload = None

    # -- the manager thread: the only one that touches the workers ---------------------------
    def alive(self) -> bool:
        return self._manager.is_alive()

    def _manage(self) -> None:
        try:
            while True:
                with self._lock:
                    if self._state.closed:
                        break
                self._dispatch()
                conns = [w.conn for w in self._workers]
                for conn in wait(conns, timeout=_TICK_S) if conns else time.sleep(_TICK_S) or []:
                    self._receive(next(w for w in self._workers if w.conn is conn))
                self._enforce_budget()
        finally:
            with self._lock:
                self._state.closed = True
            self._shutdown()

    def _dispatch(self) -> None:
        with self._lock:
            state = self._state
            if state.held_bytes > MAX_HELD_BYTES or not state.pending:
                return
            idle = [w for w in self._workers if w.ready and w.task is None]
            starting = sum(1 for w in self._workers if not w.ready)
            for _ in range(min(len(state.pending) - len(idle) - starting, self.size - len(self._workers))):
                try:
                    self._workers.append(self._start_worker())
                except Exception as exc:  # noqa: BLE001 - no worker: fail one task, not the pool
                    state.pending.popleft()._finish(
                        error=TaskFailed(f"could not start an extraction process: {exc}"))
                    return
            setup = state.setup
            for worker in idle:
                if not state.pending:
                    break
                task = state.pending.popleft()
                try:
                    if worker.setup != setup[0] and setup[1] is not None:
                        worker.conn.send(("setup", setup[1], setup[2]))
                        worker.setup, worker.in_setup = setup[0], True
                    worker.conn.send(("task", task.fn, task.args))
                except (OSError, pickle.PicklingError, AttributeError, TypeError) as exc:
                    task._finish(error=TaskFailed(f"could not hand the file to a worker: {exc}"))
                    continue
                worker.task, worker.started = task, time.monotonic()
                worker.idle_since = 0.0

    def _start_worker(self) -> _Worker:
        parent_conn, child_conn = self._context.Pipe()
        process = self._context.Process(
            target=worker_main, name="findling-extract", daemon=True,
            args=(child_conn, self.budget.memory_mb, self.preload, os.getpid()),
        )
        process.start()
        child_conn.close()
        return _Worker(process, parent_conn)

    def _receive(self, worker: _Worker) -> None:
        try:
            message = worker.conn.recv_bytes()
        except (EOFError, OSError):
            self._retire(worker, self._death_reason(worker))
            return
        if not worker.ready:
            worker.ready, worker.base_rss = True, pickle.loads(message)
            worker.idle_since = time.monotonic()
            return
        if message[:1] == _REBASED:  # a setup ran: the budget counts from the worker's new size
            worker.base_rss, worker.in_setup = pickle.loads(memoryview(message)[1:]), False
            worker.started = time.monotonic()
            return
        task, worker.task = worker.task, None
        worker.idle_since = time.monotonic()
        if task is None:
            return
        with self._lock:
            if not task.cancelled:
                self._state.held_bytes += len(message)
                task._finish(payload=message)
        if message[:1] == _OUT_OF_MEMORY:
            self._retire(worker, None)  # a worker that ran out of memory is not trusted again

    def _death_reason(self, worker: _Worker) -> str:
        worker.process.join(timeout=5)
        if worker.killed_for:
            return worker.killed_for
        code = worker.process.exitcode
        how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        memory = f" within its {self.budget.memory_mb} MB memory budget" if self.budget.memory_mb else ""
        return f"too large to index or malformed: the extraction process died ({how}){memory}"

    def _retire(self, worker: _Worker, reason: str | None) -> None:
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(timeout=5)
        worker.conn.close()
        self._workers.remove(worker)
        if worker.task is not None:
            worker.task._finish(error=TaskFailed(reason or "the extraction process was stopped"))
        elif not worker.ready and reason:  # died while starting: fail the oldest task, not loop
            with self._lock:
                task = self._state.pending.popleft() if self._state.pending else None
            if task is not None:
                task._finish(error=TaskFailed(f"the extraction process could not start: {reason}"))

    def _enforce_budget(self) -> None:
        now = time.monotonic()
        timeout, memory = self.budget.timeout_s, self.budget.memory_mb * 2**20
        for worker in [w for w in self._workers if w.task is not None]:
            if timeout and now - worker.started > timeout:
                worker.killed_for = f"extraction timed out after {timeout:g} s"
            elif memory and not worker.in_setup and self._rss(worker) - worker.base_rss > memory:
                worker.killed_for = out_of_memory_reason(self.budget.memory_mb)
            if worker.killed_for:
                self._retire(worker, worker.killed_for)
        for worker in [w for w in self._workers if w.idle_since and now - w.idle_since > IDLE_EXIT_S]:
            self._retire(worker, None)

    @staticmethod
    def _rss(worker: _Worker) -> int:
        try:
            return psutil.Process(worker.process.pid).memory_info().rss
        except psutil.Error:
            return 0

    def _shutdown(self) -> None:
        for worker in list(self._workers):
            worker.conn.close()  # a worker waiting for work sees EOF and exits
        for worker in list(self._workers):
            worker.process.join(timeout=2)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=2)
            if worker.task is not None:
                worker.task._finish(error=TaskFailed("indexing stopped"))
        self._workers.clear()
        with self._lock:
            for task in self._state.pending:
                task._finish(error=TaskFailed("indexing stopped"))
            self._state.pending.clear()


# -- the worker process -------------------------------------------------------------------------
# A reply is one of these bytes followed by a pickle: the value, or the reason of a failure;
# after a setup, the worker's new RSS.
_OK, _FAILED, _OUT_OF_MEMORY, _REBASED = b"K", b"F", b"M", b"B"


def out_of_memory_reason(memory_mb: int) -> str:
    return f"too large to index: extraction needs over {memory_mb} MB"


def worker_main(conn: Connection, memory_mb: int, preload: tuple[str, ...], parent_pid: int) -> None:
    """A worker's life: tie it to its parent, import, take on the budget, then run tasks."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    for module in preload:
        importlib.import_module(module)
    limit_memory(memory_mb)
    set_memory_budget(memory_mb)
    conn.send_bytes(pickle.dumps(psutil.Process().memory_info().rss))
    while True:
        try:
            kind, fn, args = conn.recv()
        except (EOFError, OSError):
            return
        if kind == "setup":
            lift_memory_limit()  # what a setup loads is not a task's; the budget starts after it
        try:
            reply = _OK + pickle.dumps(fn(*args), protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            reply = _OUT_OF_MEMORY + pickle.dumps(out_of_memory_reason(memory_mb))
        except Exception as exc:  # noqa: BLE001 - a task's failure is reported, the worker goes on
            reply = _FAILED + pickle.dumps(f"{type(exc).__name__}: {exc}")
        if kind == "setup":
            limit_memory(memory_mb)
            reply = _REBASED + pickle.dumps(psutil.Process().memory_info().rss)
        try:
            conn.send_bytes(reply)
        except OSError:  # the pool is gone
            return
        finally:
            del reply


def limit_memory(memory_mb: int) -> None:
    """Cap this process's address space at its current size plus `memory_mb` (where the OS
    enforces it: Linux; elsewhere the pool's RSS watchdog is the limit)."""
    if not memory_mb or not sys.platform.startswith("linux"):
        return
    import resource

    limit = psutil.Process().memory_info().vms + memory_mb * 2**20
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def lift_memory_limit() -> None:
    """Undo `limit_memory` (up to the hard limit) until it is applied again."""
    if not sys.platform.startswith("linux"):
        return
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


def die_with_parent(parent_pid: int) -> None:
    """Exit this process when `parent_pid` ends, however it ends."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the line above
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watch", daemon=True).start()


def _watch_parent(parent_pid: int) -> None:
    parent = psutil.Process(parent_pid)
    while True:
        time.sleep(_PARENT_CHECK_S)
        gone = os.getppid() != parent_pid if os.name == "posix" else not parent.is_running()
        if gone:
            os._exit(1)


# -- one pool per process ---------------------------------------------------------------------
_shared: WorkerPool | None = None
_shared_lock = threading.Lock()


def shared_pool(budget: Budget, size: int | None = None, preload: tuple[str, ...] = ()) -> WorkerPool:
    """The process's worker pool (kept between runs, so a watcher or a test session starts its
    workers once); replaced when asked for another budget or size."""
    global _shared
    size = size or os.cpu_count() or 2
    with _shared_lock:
        if _shared is not None and (
            (_shared.budget, _shared.size, _shared.preload) != (budget, size, preload) or not _shared.alive()
        ):
            _shared.close()
            _shared = None
        if _shared is None:
            _shared = WorkerPool(size, budget, preload)
        return _shared


@atexit.register
def _close_shared() -> None:
    if _shared is not None:
        _shared.close()
