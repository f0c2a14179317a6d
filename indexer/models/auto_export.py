"""The ONNX export nobody has to ask for: where the `torch` extra is installed and the writing model
has no usable ONNX model, `findling index`, `findling watch` and the app export it in the background.

    writer opens its embedder (backend auto) ──▶ needs_export(info)? ──▶ start_export(info)
        └▶ `python -m indexer.models.auto_export MODEL_ID PATH`: nice 19, one thread, its own session
             ├ takes `<models dir>/<key>.export.lock` (a second starter's child exits at once)
             ├ `onnx_export.export_embedder`: staged, validated against PyTorch, moved into place
             │  whole and registered only if float32 passes its cosine gate (a kill -9 leaves nothing)
             └ writes `<key>.export.state` (JSON: running + stage, done + validation, failed + reason)
    ExportingEmbedder: the writer's embedder meanwhile: PyTorch's, or waiting (see WHILE_EXPORTING),
        then the validated ONNX model as soon as the export is registered; on failure PyTorch, with a note.

A failed export is recorded and not retried automatically (`findling export-onnx MODEL` retries);
`FINDLING_AUTO_EXPORT=0` turns all of this off. Nothing here imports PyTorch: only the child does.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
from filelock import FileLock, Timeout

from indexer.models.onnx_runtime import (
    _write_json,
    default_export_dir,
    models_dir,
    planned_backend,
    registry_key,
    resolve_backend,
)

if TYPE_CHECKING:
    from indexer.models.embedding import ModelInfo
    from indexer.models.protocols import Embedder

AUTO_EXPORT_ENV = "FINDLING_AUTO_EXPORT"  # "0": never export by itself
# What the embedding phase does while the export runs: "wait" for it, or embed with "torch" and switch
# to ONNX once it is ready. Chosen by benchmarks/bench_auto_export.py (figures in docs/DESIGN.md), which
# runs both through FINDLING_WHILE_EXPORTING.
WHILE_EXPORTING = "wait"
POLICY_ENV = "FINDLING_WHILE_EXPORTING"
POLICIES = ("wait", "torch")
EXIT_BUSY = 3  # the child found another export of the model running
NEWS_MARK = "ONNX export of"  # in every message about the background export
EXPORT_NICE = 19
POLL_S = 0.2


def lock_path(model_id: str) -> Path:
    return models_dir() / f"{registry_key(model_id)}.export.lock"


def state_path(model_id: str) -> Path:
    return models_dir() / f"{registry_key(model_id)}.export.state"


def log_path(model_id: str) -> Path:
    return models_dir() / f"{registry_key(model_id)}.export.log"


def _lock_held(model_id: str) -> bool:
    """Whether an export process holds the model's lock now (the OS drops it when that process dies)."""
    lock = FileLock(str(lock_path(model_id)), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return True
    except OSError:
        return False
    lock.release()
    return False


def read_state(model_id: str) -> dict[str, Any] | None:
    """The last background export of `model_id`: state running | done | failed | interrupted (a
    "running" record whose process is gone, e.g. killed), stage, reason, pid, times; None if never."""
    try:
        state = json.loads(state_path(model_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict):
        return None
    if state.get("state") == "running" and not _lock_held(model_id):
        state.update(state="interrupted",
                     reason=f"the export process (pid {state.get('pid')}) ended before it finished; "
                            "the next index run starts it again")
    return state


def _write_state(model_id: str, **fields: Any) -> None:
    path = state_path(model_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_json(path, {"model_id": model_id, **fields})


def enabled() -> bool:
    return os.environ.get(AUTO_EXPORT_ENV, "1").strip() != "0"


def while_exporting() -> str:
    """"wait" or "torch": WHILE_EXPORTING unless FINDLING_WHILE_EXPORTING names one of them."""
    chosen = os.environ.get(POLICY_ENV, "").strip().lower()
    return chosen if chosen in POLICIES else WHILE_EXPORTING


def needs_export(info: ModelInfo, backend: str | None = "auto") -> bool:
    """Whether the writer should start a background export of `info`: backend auto, no usable ONNX
    model (registered export or shipped file), the torch extra installed, and no failure recorded for
    these files (a failure is shown by `findling status`; `findling export-onnx` tries again)."""
    from indexer.models.onnx_export import missing_export_needs

    if not enabled() or resolve_backend(backend) != "auto" or planned_backend(info, "auto") != "torch":
        return False
    if missing_export_needs():
        return False  # nothing changes: the torch backend (or its absence) speaks for itself
    state = read_state(info.model_id)
    return not (state and state.get("state") == "failed" and state.get("source_path") == str(info.path))


class BackgroundExport:
    """One model's background export, seen from a writer: its own child process, or one that another
    writer started (`process` None), followed through the lock and the state file."""

    def __init__(self, model_id: str, process: subprocess.Popen | None) -> None:
        self.model_id = model_id
        self.process = process
        self._suspended = False

    def running(self) -> bool:
        if self.process is not None and self.process.poll() is None:
            return True
        return _lock_held(self.model_id)

    def state(self) -> dict[str, Any] | None:
        return read_state(self.model_id)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the export process ends; whether it did within `timeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.running():
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(POLL_S)
        if self.process is not None:
            self.process.wait()
        return True

    def pause(self) -> None:
        """Hold the export with indexing (only our own child: another writer's follows its pause)."""
        if self.process is not None and not self._suspended and self.process.poll() is None:
            with contextlib.suppress(psutil.Error):
                psutil.Process(self.process.pid).suspend()
                self._suspended = True

    def resume(self) -> None:
        if self.process is not None and self._suspended:
            with contextlib.suppress(psutil.Error):
                psutil.Process(self.process.pid).resume()
            self._suspended = False

    def stop(self) -> None:
        """End our own child (its staging folder is cleaned by the next export)."""
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.process.kill()
            self.process.wait()


def _resume_if_orphaned(model_id: str) -> None:
    """An export paused by a writer that died since (a kill -9 while paused) would hold the lock for
    ever: the next starter lets it go on."""
    state = read_state(model_id) or {}
    with contextlib.suppress(psutil.Error, KeyError, TypeError, ValueError):  # no record, or no such process
        export = psutil.Process(int(state["pid"]))
        if export.status() == psutil.STATUS_STOPPED and not psutil.pid_exists(int(state["starter_pid"])):
            export.resume()


def start_export(info: ModelInfo) -> BackgroundExport:
    """Start the background export of `info`, unless one is running already (then follow that one)."""
    if _lock_held(info.model_id):
        _resume_if_orphaned(info.model_id)
        return BackgroundExport(info.model_id, None)
    folder = models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    options: dict[str, Any] = {}
    if sys.platform == "win32":
        options["creationflags"] = subprocess.IDLE_PRIORITY_CLASS | subprocess.CREATE_NO_WINDOW
    else:
        options["start_new_session"] = True  # a Ctrl-C meant for the indexer does not cut the export
    with log_path(info.model_id).open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "indexer.models.auto_export", info.model_id,
                                    str(info.path)], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   env=env, **options)
    return BackgroundExport(info.model_id, process)


def describe(state: dict[str, Any] | None) -> str | None:
    """One line for `findling status` and the app, or None when there is nothing to say."""
    if state is None:
        return None
    what = state["state"]
    if what == "running":
        since = int(time.time() - state.get("started_at", time.time()))
        stage = f": {state['stage']}" if state.get("stage") else ""
        return f"exporting to ONNX in the background (pid {state.get('pid')}, {since} s so far{stage})"
    if what == "done":
        return f"exported to ONNX in {state.get('seconds', 0):.0f} s ({state.get('validation', '')})"
    return f"ONNX export {what}: {state.get('reason')}; embedding uses PyTorch"


# -- the writer's embedder while the export runs ---------------------------------------------------


class ExportingEmbedder:
    """An `Embedder` that is PyTorch's until the background export is ready, then the export's.

    `settle()` (called by the pipeline before each embedding batch) switches once the export is
    registered and returns what to tell the user; `waiting` says the pipeline should hold its
    embedding (WHILE_EXPORTING "wait") because the export is still running.
    """

    def __init__(self, info: ModelInfo, torch_embedder: Embedder, job: BackgroundExport,
                 open_onnx: Callable[[], tuple[Embedder, str | None]], policy: str | None = None) -> None:
        self.info = info
        self.current = torch_embedder
        self.job = job
        self._open_onnx = open_onnx
        self.policy = policy or while_exporting()
        self.settled = False
        self.on_settled: Callable[[str, bool], None] | None = None  # (message, now on ONNX), e.g. the app's

    @staticmethod
    def is_news(text: str) -> bool:
        """Whether a writer's message is about the background export (news, not an error)."""
        return NEWS_MARK in text

    def __getattr__(self, name: str) -> Any:  # tokenizer, tokenizer_file, … of the embedder in use
        if name in ("current", "job"):
            raise AttributeError(name)
        return getattr(self.current, name)

    @property
    def model_id(self) -> str:
        return self.info.model_id

    @property
    def backend(self) -> str:
        return self.current.backend

    @property
    def dim(self) -> int:
        return self.current.dim

    @property
    def waiting(self) -> bool:
        return not self.settled and self.policy == "wait" and self.job.running()

    @property
    def may_switch(self) -> bool:
        """Still on PyTorch with an export to come: the pipeline embeds in small batches meanwhile."""
        return not self.settled

    def encode_passages(self, texts: list[str]) -> Any:
        return self.current.encode_passages(texts)

    def encode_queries(self, texts: list[str]) -> Any:
        return self.current.encode_queries(texts)

    def count_tokens(self, text: str) -> int:
        return self.current.count_tokens(text)

    def settle(self) -> str | None:
        """Switch to ONNX if the export has finished and passed its gate; the message to tell, if any."""
        if self.settled or self.job.running():
            return None
        self.settled = True
        message = self._settle()
        if self.on_settled is not None:
            self.on_settled(message, self.current.backend != "PyTorch")
        return message

    def _settle(self) -> str:
        state = self.job.state() or {}
        if planned_backend(self.info, "auto") == "torch":
            reason = state.get("reason") or "it ended without registering a model"
            return (f"The ONNX export of {self.model_id!r} failed ({reason}); embedding with PyTorch. "
                    f"`findling export-onnx {self.model_id}` tries again.")
        onnx, note = self._open_onnx()
        if onnx.backend == "PyTorch":
            return note or f"The ONNX export of {self.model_id!r} cannot be opened; embedding with PyTorch."
        self.current = onnx
        return (f"The ONNX export of {self.model_id!r} is ready ({describe(state)}); "
                f"embedding with {onnx.backend}.")


# -- the child process ---------------------------------------------------------------------------


def _lower_priority() -> None:
    """nice 19 and idle I/O where the OS has them (Windows: the idle class was set at creation)."""
    with contextlib.suppress(OSError, AttributeError):
        os.nice(max(0, EXPORT_NICE - os.nice(0)))
    with contextlib.suppress(psutil.Error, AttributeError, OSError, ValueError):
        psutil.Process().ionice(psutil.IOPRIO_CLASS_IDLE)  # Linux only


def _remove_stale_staging(model_id: str) -> None:
    """Staging folders of exports that were killed (their pid is gone): never a model, only leftovers."""
    import shutil

    destination = default_export_dir(model_id)
    for folder in destination.parent.glob(f".{destination.name}.staging-*"):
        pid = folder.name.rsplit("-", 1)[-1]
        if not (pid.isdigit() and psutil.pid_exists(int(pid))):
            shutil.rmtree(folder, ignore_errors=True)


def run_export(model_id: str, path: Path) -> int:
    """The child's work, under the model's lock: export, validate, register; the outcome in the state
    file. Returns the exit code: 0 (exported, or found done), 1 (failed, recorded), EXIT_BUSY."""
    from indexer.models.embedding import model_info

    lock = FileLock(str(lock_path(model_id)), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return EXIT_BUSY
    try:
        info = model_info(model_id, path)
        if planned_backend(info, "auto") != "torch":
            return 0  # another process finished it between our start and the lock
        _remove_stale_staging(model_id)
        started = time.time()
        base = {"source_path": str(path), "pid": os.getpid(), "starter_pid": os.getppid(),
                "started_at": started}
        _write_state(model_id, state="running", stage="loading PyTorch", **base)

        def stage(text: str) -> None:
            _write_state(model_id, state="running", stage=text.rstrip("…."), **base)

        try:
            import torch

            from indexer.models.onnx_export import export_embedder

            torch.set_num_threads(1)
            result = export_embedder(info, "int8", log=stage, threads=1)
        except Exception as exc:  # noqa: BLE001 - recorded with its reason; the writer falls back to PyTorch
            _write_state(model_id, state="failed", reason=f"{type(exc).__name__}: {exc}",
                         seconds=round(time.time() - started, 1), finished_at=time.time(), **base)
            return 1
        variants = result.manifest["variants"]
        checks = "; ".join(f"{v} cosine mean {e['validation']['mean']:.4f}"
                           + ("" if e["validation"]["passed"] else " (failed, not used)")
                           for v, e in variants.items())
        _write_state(model_id, state="done", path=str(result.path), validation=checks,
                     seconds=round(time.time() - started, 1), finished_at=time.time(), **base)
        return 0
    finally:
        lock.release()


def main(argv: list[str]) -> int:
    _lower_priority()
    model_id, path = argv
    return run_export(model_id, Path(path))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
