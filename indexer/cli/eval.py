"""`findling eval`: retrieval quality on a BEIR-layout data set (nDCG@10, recall, MRR)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import platformdirs

from indexer.cli.common import App, say
from indexer.cli.index import index_roots
from indexer.cli.search import RERANK_OPTION, open_searcher
from indexer.config import APP_NAME, Config, ensure_private_dir
from indexer.datadir import DataDir


@click.command("eval")
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
    # The corpus is the benchmark's own files, and the cache folder it sits in (~/.cache) is one of
    # the default excludes, which would leave the index empty and every figure 0.
    app.config.use_default_excludes = False
    # Beside the data dir, never in it: a data dir's own files are never indexed.
    docs = app.data.path.with_name(f"{app.data.path.name}-corpus")
    write_corpus(data, docs)
    with app.data.writer_lock("findling eval"):
        index_roots(app, [str(docs)])
    modes = ["dense", "keyword", "hybrid"] if mode == "all" else [mode or app.config.search_mode]
    searcher, notes = open_searcher(app, None, rerank)
    catalog = getattr(searcher, "catalog", None)  # None on a shared store
    if catalog is not None and catalog.chunk_count() == 0:
        searcher.close()
        raise click.ClickException(f"Nothing from {docs} was indexed, so there is nothing to evaluate "
                                   "(`findling status` says why).")
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
