"""`findling watch`, `pause` and `resume`: keep the index live while folders change.

`watch` reconciles at start
(with a progress bar), then prints one line per indexed, moved or removed file on stderr,
and stops cleanly (vector file saved, lock released, exit 0) on Ctrl+C or SIGTERM. With
`--store`, every commit is mirrored into the shared index too (its lease renewed while it
watches, released at the stop; Milvus out of reach: indexing here goes on, retried with backoff).
"""

from __future__ import annotations

import os
import signal
import threading
from typing import TYPE_CHECKING

import click

from indexer.cli.common import TqdmProgress, say
from indexer.config import ensure_private_dir
from indexer.write.watch.power import lower_priority, request_pause, request_resume
from indexer.write.watcher import DEFAULT_DEBOUNCE, Batch, PathChange, WatchStatus

if TYPE_CHECKING:
    from indexer.cli.common import App

RECONCILE_LINES = 20  # a reconcile with more changes than this prints a summary only


def describe(change: PathChange) -> str:
    """One line for a change, e.g. `moved    /a.txt -> /b.txt` or `error    /c.pdf: not a PDF`."""
    if change.action == "removed":
        return f"removed  {change.path}"
    if change.action == "moved":
        return f"moved    {change.old_path} -> {change.path}"
    if change.status == "error":
        return f"error    {change.path}: {change.reason}"
    if change.status == "skipped":
        return f"skipped  {change.path} ({change.reason})"
    return f"{'indexed' if change.action == 'added' else 'updated':<8} {change.path}"


def summary(batch: Batch) -> str:
    r = batch.report
    waiting = f" {r.chunks_pending} passages wait for embedding." if r.chunks_pending else ""
    return (f"Reconciled {r.scanned} files in {batch.seconds:.1f} s: {r.indexed} indexed, {r.moved} moved, "
            f"{r.removed} removed, {r.skipped} skipped, {r.errors} errors, {r.unchanged} unchanged.{waiting}")


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--threads", type=click.IntRange(min=0),
              help="CPU threads for embedding (default: the config's `threads`; 0: the libraries decide).")
@click.option("--debounce", type=click.FloatRange(min=0), default=DEFAULT_DEBOUNCE, show_default=True,
              help="Seconds a file must stay unchanged before it is indexed.")
@click.pass_obj
def watch(app: App, paths: tuple[str, ...], threads: int | None, debounce: float) -> None:
    """Watch PATHS (added to the roots), or every configured root, and keep the index in step with them."""
    from indexer.cli.shared_store import open_mirror, store_target
    from indexer.write.watcher import WatchCallbacks, Watcher, WatchOptions

    new_roots = [os.path.abspath(p) for p in paths]
    roots = new_roots or app.config.roots
    if not roots:
        raise click.UsageError("Give a folder to watch, e.g. `findling watch ~/Documents`.")
    with app.data.writer_lock("findling watch"):
        pass  # another writer (the app)? Say so now, before the config changes or a model loads.
    target = store_target(app)  # a refused consent loads no model
    app.config.roots += [r for r in new_roots if r not in app.config.roots]
    if app.model_override and not app.data.exists():
        app.config.model = app.model_override
    ensure_private_dir(app.data.path)
    app.config.save(app.data.path)
    if threads is not None:
        app.config.threads = threads
    lower_priority()  # before the model loads, so every thread it starts inherits it

    progress = TqdmProgress("Reconciling")

    def on_batch(batch: Batch) -> None:
        if batch.kind == "reconcile":
            progress.close()
            progress.bar = None
            if len(batch.changes) <= RECONCILE_LINES:
                for change in batch.changes:
                    say(describe(change))
            say(summary(batch))
            return
        if batch.kind == "embed":
            left = f"; {batch.report.chunks_pending} wait" if batch.report.chunks_pending else ", all done"
            say(f"Embedded {batch.report.chunks_embedded} passages in {batch.seconds:.1f} s{left}.")
            return
        if batch.kind == "ocr":
            say(f"Read {batch.report.ocr_read} images or scanned PDFs (OCR) in {batch.seconds:.1f} s, "
                f"{batch.report.ocr_text} with text.")
            return
        for change in batch.changes:
            say(describe(change))

    paused: list[str | None] = [None]

    def on_status(status: WatchStatus) -> None:
        reason = status.pause_reason if status.state == "paused" else None
        if reason != paused[0]:
            progress.message(f"Paused: {reason}." if reason else "Resumed.")
            paused[0] = reason

    stop = threading.Event()
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if main_thread else None
    try:
        embedder = app.embedder(export=True)
        mirror = None if target is None else (
            lambda indexer: open_mirror(target, indexer, "findling watch", progress.message))
        options = WatchOptions(debounce=debounce, mirror=mirror)
        watcher = Watcher(app.data, app.config, embedder, roots, options,
                          WatchCallbacks(on_status, on_batch, progress.message, reconcile_progress=progress))
        crashed = False
        try:
            watcher.start()
            say(f"Watching {', '.join(watcher.roots)}. Press Ctrl+C to stop.")
            while not stop.wait(0.5):
                if watcher.status().state == "stopped":  # the worker ended on an unexpected error
                    crashed = True
                    break
        except KeyboardInterrupt:
            pass
        finally:
            watcher.stop()
            progress.close()
        if crashed:
            raise click.ClickException(watcher.status().last_error or "The watcher stopped.")
        say("Stopped.")
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


@click.command()
@click.pass_obj
def pause(app: App) -> None:
    """Pause background indexing; a running `findling watch` queues changes until `findling resume`."""
    request_pause(app.data.path)
    say("Paused. A running `findling watch` stops indexing within a second and queues changes; "
        "one started later starts paused. Run `findling resume` to go on.")


@click.command()
@click.pass_obj
def resume(app: App) -> None:
    """Resume background indexing after `findling pause`."""
    if request_resume(app.data.path):
        say("Resumed.")
    else:
        say("Indexing was not paused.")
