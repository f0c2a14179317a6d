"""`findling index` and `findling reindex`: write the index from the files, or re-embed what it holds."""

from __future__ import annotations

import os
import sys

import click

from indexer.cli.common import App, TqdmProgress, say
from indexer.datadir import IndexBusy
from indexer.search.searcher import EmptyIndex

LATER = ("the next `findling --store … index` or `watch` from it that can write the shared index "
         "brings the shared index up to it.")


def index_roots(app: App, roots: list[str], phase: str = "all") -> None:
    from indexer.cli.shared_store import open_mirror, store_target
    from indexer.write.pipeline import Indexer
    from indexer.write.roots import excluded_root_problem

    target = store_target(app)  # first: a refused consent loads no model
    for root in roots or app.config.roots:
        problem = excluded_root_problem(root, app.config, app.data.path)
        if problem:
            say(problem)
    embedder = app.embedder(export=True)
    progress = TqdmProgress()
    with Indexer(app.data, app.config, embedder, progress) as indexer:  # the caller holds the writer lock
        indexer.mirror = open_mirror(target, indexer) if target is not None else None
        try:
            try:
                report = indexer.run(roots, phase="text")
            finally:
                progress.close()
            if phase in ("embed", "all"):
                embed_with_bar(indexer, report)
            if phase == "all" and ocr_with_bar(indexer, report):
                embed_with_bar(indexer, report, "Embedding the recognised text")
            report.chunks_pending = indexer.catalog.embedding_progress()[1]
            if indexer.mirror is not None and not indexer.mirror.catch_up(force=True):
                say("The shared index is behind this index: the next `findling --store … index` or "
                    "`watch` catches it up.")
        finally:
            if indexer.mirror is not None:
                indexer.mirror.close()
                indexer.mirror = None
    job = getattr(embedder, "job", None)
    if job is not None and job.running():
        say(f"The ONNX export of {embedder.model_id!r} goes on in the background at low priority "
            "(`findling status` shows it); the next run embeds with it.")
    for path in report.vanished:
        say(f"Vanished while indexing (not indexed): {path}")
    for item in report.unavailable:
        say(f"Unavailable, its files kept in the index: {item.path} ({item.reason})")
    say(f"{report.scanned} files: {report.indexed} indexed, {report.unchanged} unchanged, "
        f"{report.skipped} skipped, {report.errors} errors, {report.moved} moved, "
        f"{report.removed} removed" + (f", {report.kept} kept (folder unavailable)" if report.kept else "")
        + f"; {report.chunks_embedded} chunks embedded, "
        f"{report.chunks_reused} reused, {report.chunks_pending} waiting to be embedded."
        + (f" OCR read {report.ocr_read} {'file' if report.ocr_read == 1 else 'files'}: "
           f"{report.ocr_text} with text, indexed by it now." if report.ocr_read else ""))
    if report.errors:
        say("Run `findling status` to see the files in error and why.")


def embed_with_bar(indexer, report, desc: str = "Embedding") -> None:
    from tqdm import tqdm

    pending = indexer.catalog.embedding_progress()[1]
    bar = tqdm(total=pending, desc=desc, unit="chunk", file=sys.stderr, dynamic_ncols=True,
               disable=pending == 0)
    try:
        indexer.embed_pending(report, on_batch=lambda done, total: bar.update(done - bar.n))
    finally:
        bar.close()


def ocr_with_bar(indexer, report) -> int:
    """The OCR phase with its bar; says once how to turn OCR on when it is not installed."""
    from tqdm import tqdm

    from indexer.ingest.ocr.availability import ocr_unavailable_reason

    pending = indexer.catalog.ocr_counts()["pending"]
    if not pending or not indexer.config.ocr:
        return 0
    missing = ocr_unavailable_reason()
    if missing:
        say(f"{pending} images or PDFs wait for text recognition: {missing}")
        return 0
    bar = tqdm(total=pending, desc="Reading images (OCR)", unit="file", file=sys.stderr, dynamic_ncols=True)
    try:
        return indexer.ocr_pending(report, on_file=lambda done, total, path: bar.update(done - bar.n))
    finally:
        bar.close()


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--phase", type=click.Choice(["text", "embed", "all"]), default="all", show_default=True,
              help="'text' stops after the keyword phase (fast); 'embed' also embeds; 'all' also reads "
                   "images and scanned pages (OCR) and embeds their text.")
@click.pass_obj
def index(app: App, paths: tuple[str, ...], phase: str) -> None:
    """Index PATHS (added to the configured roots), or every configured root.

    Text and keyword search come first; embeddings fill in behind, most wanted files first; then
    images and scanned PDF pages are read (OCR) and their text embedded. An interrupted run
    resumes where it stopped.
    """
    new_roots = [os.path.abspath(p) for p in paths]
    roots = new_roots or app.config.roots
    if not roots:
        raise click.UsageError("Give a folder to index, e.g. `findling index ~/Documents`.")
    try:
        with app.data.writer_lock("findling index"):  # first: a busy index is left as it is, no model loaded
            changed = [r for r in new_roots if r not in app.config.roots]
            app.config.roots += changed
            if app.model_override and not app.data.exists():
                app.config.model = app.model_override
            app.config.save(app.data.path)
            index_roots(app, roots, phase)
    except IndexBusy as busy:
        if not _hand_to_app(app, busy, new_roots):
            raise


def _hand_to_app(app: App, busy: IndexBusy, folders: list[str]) -> bool:
    """The app is this index's writer: give it the new folders to index (it keeps them current)."""
    from indexer.datadir import APP_HOLDER
    from indexer.running_app import Handover, send_plain, server_name

    if busy.holder != APP_HOLDER or not folders:
        return False
    if send_plain(server_name(app.data.path), {"action": "add-roots", "paths": folders}) is not Handover.DONE:
        return False
    say(f"The Findling app is this index's writer: it now indexes {', '.join(folders)} "
        "(progress in its Index tab) and keeps them current.")
    return True


@click.command()
@click.pass_obj
def reindex(app: App) -> None:
    """Re-embed every stored chunk with --model (or the configured model), without re-reading files."""
    from tqdm import tqdm

    from indexer.cli.shared_store import mirror_or_later, store_target
    from indexer.write.pipeline import Indexer
    from indexer.write.reindex import reindex as run_reindex

    if not app.data.exists():
        raise EmptyIndex(f"No index in {app.data.path} yet. Run `findling index FOLDER` first.")
    wanted = app.model_override or app.config.model
    target = store_target(app)  # first: a refused consent loads no model
    with app.data.writer_lock("findling reindex"):
        embedder = app.embedder(wanted)  # the model asked for, never the index's stand-in
        catalog = app.data.open_catalog()
        bar = tqdm(total=catalog.chunk_count(), desc="Re-embedding", unit="chunk", file=sys.stderr)
        try:
            run_reindex(catalog, embedder, lambda done, total: bar.update(done - bar.n))
        finally:
            bar.close()
            catalog.close()
        with Indexer(app.data, app.config, embedder) as indexer:
            indexer.save_vectors()
            if target is not None:  # every vector changed: the shared index is written again
                mirror = mirror_or_later(target, indexer, "findling reindex", LATER)
                if mirror is not None:
                    mirror.close()
    from indexer.models.catalogue import model_line
    from indexer.models.resolution import stands_in_for

    # The configured model stays the one asked for when a stand-in ran (the conversion of the default,
    # MiniLM): a later download of it is then offered as the next re-embedding.
    app.config.model = wanted if stands_in_for(embedder.model_id, wanted) else embedder.model_id
    app.config.save(app.data.path)
    say(f"Re-embedded with {model_line(embedder.model_id, embedder.backend)}.")
