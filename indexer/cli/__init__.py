"""The `findling` command: index, search, status, eval, reindex and roots.

Results go to stdout (only JSON with `--json`); progress and messages go to stderr.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
import platformdirs

from indexer.cli.common import App, TqdmProgress, say
from indexer.cli.models import register as register_models
from indexer.cli.watch import register as register_watch
from indexer.config import APP_NAME, Config, ConfigError, ensure_private_dir, resolve_data_dir
from indexer.datadir import DataDir, IndexBusy, ModelMismatch
from indexer.models.embedding import ModelUnavailable
from indexer.search.searcher import EmptyIndex, Searcher
from indexer.store.catalog import CatalogOutdated

EXPECTED_ERRORS = (IndexBusy, ModelMismatch, ModelUnavailable, EmptyIndex, CatalogOutdated)


class FindlingGroup(click.Group):
    """Turns the engine's expected errors into a plain message and exit code 1."""

    def invoke(self, ctx: click.Context):  # noqa: ANN201 - click's signature
        try:
            return super().invoke(ctx)
        except EXPECTED_ERRORS as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=FindlingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data-dir", envvar="FINDLING_DATA_DIR", type=click.Path(file_okay=False),
              help="Index location (default: the platform's user data dir). Env: FINDLING_DATA_DIR.")
@click.option("--model", envvar="FINDLING_MODEL",
              help="Embedding model: a hub id or a local directory. Env: FINDLING_MODEL.")
@click.option("--backend", envvar="FINDLING_BACKEND", type=click.Choice(["auto", "onnx", "torch"]),
              help="Embedding backend: ONNX Runtime when an export exists (auto), or PyTorch. "
                   "Env: FINDLING_BACKEND.")
@click.version_option(package_name="findling")
@click.pass_context
def cli(ctx: click.Context, data_dir: str | None, model: str | None, backend: str | None) -> None:
    """Findling: find your local files by meaning, offline."""
    ctx.obj = App(resolve_data_dir(data_dir), model, backend)


def _index_roots(app: App, roots: list[str], phase: str = "all") -> None:
    from tqdm import tqdm

    from indexer.write.pipeline import Indexer

    embedder = app.embedder()
    progress = TqdmProgress()
    with Indexer(app.data, app.config, embedder, progress) as indexer:  # the caller holds the writer lock
        try:
            report = indexer.run(roots, phase="text")
        finally:
            progress.close()
        if phase == "all":
            pending = indexer.catalog.embedding_progress()[1]
            bar = tqdm(total=pending, desc="Embedding", unit="chunk", file=sys.stderr, dynamic_ncols=True,
                       disable=pending == 0)
            try:
                indexer.embed_pending(report, on_batch=lambda done, total: bar.update(done - bar.n))
            finally:
                bar.close()
        report.chunks_pending = indexer.catalog.embedding_progress()[1]
    for path in report.vanished:
        say(f"Vanished while indexing (not indexed): {path}")
    for item in report.unavailable:
        say(f"Unavailable, its files kept in the index: {item.path} ({item.reason})")
    say(f"{report.scanned} files: {report.indexed} indexed, {report.unchanged} unchanged, "
        f"{report.skipped} skipped, {report.errors} errors, {report.moved} moved, "
        f"{report.removed} removed" + (f", {report.kept} kept (folder unavailable)" if report.kept else "")
        + f"; {report.chunks_embedded} chunks embedded, "
        f"{report.chunks_reused} reused, {report.chunks_pending} waiting to be embedded.")
    if report.errors:
        say("Run `findling status` to see the files in error and why.")


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--phase", type=click.Choice(["text", "all"]), default="all", show_default=True,
              help="'text' stops after the keyword phase (fast); 'all' also embeds.")
@click.pass_obj
def index(app: App, paths: tuple[str, ...], phase: str) -> None:
    """Index PATHS (added to the configured roots), or every configured root.

    Text and keyword search come first; embeddings fill in behind, most wanted files first.
    An interrupted run resumes where it stopped.
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
            _index_roots(app, roots, phase)
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


def _searcher(app: App, mode: str | None, rerank: bool | None) -> tuple[Searcher, list[str]]:
    """A searcher for this index; models are loaded only for what the mode needs."""
    from indexer.models.rerank import resolve_reranker
    from indexer.search.searcher import Searcher

    notes: list[str] = []
    embedder = None if mode == "keyword" else app.reading_embedder()
    reranker = None
    if rerank is not False:
        # Searching never downloads: a reranker is used when it is local or cached.
        reranker, note = resolve_reranker(app.config.reranker)
        if reranker is not None:  # its ONNX export when one is registered
            from indexer.models.onnx_runtime import open_reranker

            reranker, onnx_note = open_reranker(reranker, app.backend, app.config.threads)
            note = note or onnx_note
        if note:
            notes.append(note)
    return Searcher(app.data, embedder, app.config, reranker), notes


MODE_OPTION = click.option("--mode", type=click.Choice(["dense", "keyword", "hybrid"]), default=None,
                           help="Retrieval mode (default: the config's, hybrid).")
RERANK_OPTION = click.option("--rerank/--no-rerank", default=None,
                             help="Cross-encoder reranking (default: on when a reranker is available).")


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("query", nargs=-1, required=True)
@click.option("--k", default=10, show_default=True, help="Number of files to show.")
@MODE_OPTION
@RERANK_OPTION
@click.option("--matrix", is_flag=True, help="Also show the similarity matrix of query and results.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
@click.pass_obj
def search(app: App, query: tuple[str, ...], k: int, mode: str | None, rerank: bool | None,
           matrix: bool, as_json: bool) -> None:
    """Search the index for QUERY.

    \b
    Syntax: "exact phrase"  -excluded  type:pdf  in:~/Documents  after:2025-01-01  before:2025-06-30
    """
    from indexer.cli.render import heatmap, print_results

    text = " ".join(query)
    searcher, notes = _searcher(app, mode, rerank)
    try:
        results = searcher.search(text, k=k, mode=mode, rerank=rerank)
        similarity = searcher.similarity(text, results) if matrix and searcher.embedder else None
    finally:
        searcher.close()
    if as_json:
        payload = {"query": text, "mode": mode or app.config.search_mode,
                   "reranked": searcher.reranker is not None and rerank is not False, "notes": notes,
                   "results": [r.to_dict() for r in results]}
        if similarity is not None:
            payload["similarity"] = {"labels": similarity.labels,
                                     "matrix": similarity.matrix.round(4).tolist()}
        click.echo(json.dumps(payload, ensure_ascii=False))
        return
    print_results(text, results, notes)
    if similarity is not None and results:
        click.echo()
        click.echo(heatmap(similarity))


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
@click.pass_obj
def status(app: App, as_json: bool) -> None:
    """Counts of indexed, skipped and failed files, the model, sizes and the errors."""
    info: dict = {"data_dir": str(app.data.path), "roots": app.config.roots,
                  "indexed": 0, "skipped": 0, "errors": 0, "chunks": 0, "model": None,
                  "catalog_bytes": 0, "index_bytes": 0, "error_files": [], "unavailable": []}
    if app.data.exists():
        catalog = app.data.open_catalog(readonly=True)
        try:
            counts = catalog.status_counts()
            embedded, pending, _ = catalog.embedding_progress()
            rate = float(catalog.meta_get("embed_chunks_per_s") or 0)
            eta = round(pending / rate) if pending and rate else None
            info.update(indexed=counts["indexed"], skipped=counts["skipped"], errors=counts["error"],
                        chunks=catalog.chunk_count(), chunks_embedded=embedded, chunks_pending=pending,
                        embedding_eta_s=eta if pending else 0,
                        model=catalog.meta_get("model"),
                        error_files=[{"path": f.path, "reason": f.reason}
                                     for f in catalog.files_with_status("error")],
                        unavailable=[{"path": u.path, "reason": u.reason} for u in catalog.unavailable()])
        finally:
            catalog.close()
        info["catalog_bytes"] = _size(app.data.catalog_path)
        if app.data.vectors_path.exists():
            info["index_bytes"] = app.data.vectors_path.stat().st_size
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False))
        return
    click.echo(f"Index:    {info['data_dir']}")
    click.echo(f"Roots:    {', '.join(info['roots']) or '(none)'}")
    click.echo(f"Model:    {info['model'] or '(none yet)'}")
    click.echo(f"Files:    {info['indexed']} indexed, {info['skipped']} skipped, {info['errors']} errors")
    click.echo(f"Chunks:   {info['chunks']} ({info.get('chunks_embedded', 0)} embedded, "
               f"{info.get('chunks_pending', 0)} waiting)")
    if info.get("chunks_pending"):
        eta = info["embedding_eta_s"]
        click.echo("Embedding: keyword search works now; meaning search fills in"
                   + (f", about {eta // 60} min {eta % 60} s left" if eta else "") + ".")
    click.echo(f"Size:     catalog {info['catalog_bytes'] / 1e6:.1f} MB, "
               f"vector index {info['index_bytes'] / 1e6:.1f} MB")
    for error in info["error_files"]:
        click.echo(f"  error: {error['path']}: {error['reason']}")
    for item in info["unavailable"]:
        click.echo(f"  unavailable (files kept, still searchable): {item['path']}: {item['reason']}")


@cli.command()
@click.pass_obj
def reindex(app: App) -> None:
    """Re-embed every stored chunk with --model (or the configured model), without re-reading files."""
    from tqdm import tqdm

    from indexer.write.pipeline import Indexer
    from indexer.write.reindex import reindex as run_reindex

    if not app.data.exists():
        raise EmptyIndex(f"No index in {app.data.path} yet. Run `findling index FOLDER` first.")
    with app.data.writer_lock("findling reindex"):
        embedder = app.embedder()
        catalog = app.data.open_catalog()
        bar = tqdm(total=catalog.chunk_count(), desc="Re-embedding", unit="chunk", file=sys.stderr)
        try:
            run_reindex(catalog, embedder, lambda done, total: bar.update(done - bar.n))
        finally:
            bar.close()
            catalog.close()
        with Indexer(app.data, app.config, embedder) as indexer:
            indexer.save_vectors()
    app.config.model = embedder.model_id
    app.config.save(app.data.path)
    say(f"Re-embedded with {embedder.model_id}.")


@cli.group()
def roots() -> None:
    """List, add or remove the folders this index covers."""


@roots.command("list")
@click.pass_obj
def roots_list(app: App) -> None:
    for root in app.config.roots:
        click.echo(root)


@roots.command("add")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.pass_obj
def roots_add(app: App, paths: tuple[str, ...]) -> None:
    for path in map(os.path.abspath, paths):
        if path not in app.config.roots:
            app.config.roots.append(path)
    app.config.save(app.data.path)
    say("Added. Run `findling index` to index the new folders.")


@roots.command("remove")
@click.argument("paths", nargs=-1, required=True)
@click.pass_obj
def roots_remove(app: App, paths: tuple[str, ...]) -> None:
    """Stop covering PATHS and purge their files from the index."""
    from indexer.write.pipeline import Indexer

    targets = [os.path.abspath(os.path.expanduser(p)) for p in paths]
    unknown = [t for t in targets if t not in app.config.roots]
    if unknown:
        raise click.UsageError(f"Not a configured root: {', '.join(unknown)}")
    removed = 0
    if app.data.exists():
        with app.data.writer_lock("findling roots remove"):
            embedder = app.reading_embedder()
            with Indexer(app.data, app.config, embedder) as indexer:
                removed = sum(indexer.remove_under(t) for t in targets)
    app.config.roots = [r for r in app.config.roots if r not in targets]
    app.config.save(app.data.path)
    say(f"Removed {len(targets)} root(s) and {removed} files from the index.")


@cli.command("eval")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option("--split", default="test", show_default=True)
@click.option("--mode", type=click.Choice(["dense", "keyword", "hybrid", "all"]), default=None,
              help="Retrieval mode, or all of them on the same index (default: search's default).")
@RERANK_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
@click.pass_context
def eval_command(ctx: click.Context, dataset: str, split: str, mode: str | None, rerank: bool | None,
                 as_json: bool) -> None:
    """Evaluate retrieval on a BEIR-layout DATASET (corpus.jsonl, queries.jsonl, qrels/)."""
    from indexer.search.evaluate import doc_id_of, evaluate, load_beir, write_corpus

    app: App = ctx.obj
    data = load_beir(Path(dataset), split)
    if ctx.parent.get_parameter_source("data_dir").name == "DEFAULT":
        # A cache per data set and model, so a second run skips the embedding.
        model_name = app.model_override or app.config.model
        slug = "".join(c if c.isalnum() else "-" for c in model_name).strip("-")
        base = Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)) / "eval"
        app.data = DataDir(ensure_private_dir(base / f"{Path(dataset).resolve().name}--{slug}"))
        app.config = Config.load(app.data.path)
    docs = app.data.path / "docs"
    write_corpus(data, docs)
    with app.data.writer_lock("findling eval"):
        _index_roots(app, [str(docs)])
    modes = ["dense", "keyword", "hybrid"] if mode == "all" else [mode or app.config.search_mode]
    searcher, notes = _searcher(app, None, rerank)
    for note in notes:
        say(note)
    metrics = {}
    try:
        for name in modes:
            say(f"Evaluating {name} on {len(data.queries)} queries…")
            metrics[name] = evaluate(data, lambda q, k, m=name: [
                doc_id_of(r.path)
                for r in searcher.search(q, k=k, mode=m, rerank=rerank, passages_per_file=0, mark_sentences=0)
            ])
            metrics[name]["reranked"] = searcher.reranker is not None and rerank is not False
    finally:
        searcher.close()
    result = metrics if mode == "all" else metrics[modes[0]]
    if as_json:
        click.echo(json.dumps(result))
        return
    for name, values in metrics.items():
        click.echo(click.style(name, bold=True))
        for key, value in values.items():
            click.echo(f"{key:>16}: {value}")


@cli.group("config")
def config_group() -> None:
    """The index's settings file (config.toml)."""


@config_group.command("reset")
@click.pass_obj
def config_reset(app: App) -> None:
    """Start again from the default settings, keeping a backup of config.toml and, where the old
    file can be read, its folders and excludes."""
    from indexer.config import reset

    backup, config = reset(app.data.path)
    app.config = config
    if backup is not None:
        say(f"Saved the old settings as {backup}.")
    kept = f"; kept {len(config.roots)} folder(s) and {len(config.excludes)} exclude(s)" if backup else ""
    say(f"Wrote default settings to {app.data.path / 'config.toml'}{kept}.")


@config_group.command("path")
@click.pass_obj
def config_path(app: App) -> None:
    """Print where this index's config.toml is."""
    click.echo(str(app.data.path / "config.toml"))


register_watch(cli)
register_models(cli)


def main() -> None:
    try:
        cli(prog_name="findling")
    except ConfigError as exc:  # read outside `App.config` (e.g. by the data dir): the same message
        click.echo(str(exc), err=True)
        sys.exit(2)
