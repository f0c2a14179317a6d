"""`findling search`: search the index from the command line (text, or JSON with `--json`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from indexer.cli.common import App

if TYPE_CHECKING:
    from indexer.search.searcher import Searcher


def open_searcher(app: App, mode: str | None, rerank: bool | None) -> tuple[Searcher, list[str]]:
    """A searcher for this index, and notes for this search; models are loaded only for what is needed.

    An unavailable reranker is said by `findling status` and Settings, not by every search: it is a
    note here only when `--rerank` asked for it."""
    from indexer.cli.shared_store import open_store, store_target
    from indexer.models.factory import model_name, open_models
    from indexer.search.searcher import Searcher

    target = store_target(app)
    store = open_store(app, target) if target is not None else None
    try:
        if mode == "keyword":
            embedder = None
        elif store is not None:  # the shared index's model, unless --model says otherwise
            embedder = app.embedder(model_name(app.config, app.model_override, store.model()))
        else:
            embedder = app.reading_embedder()
        opened = open_models(app.config, backend=app.backend, embedder=False, reranker=rerank is not False)
    except BaseException:
        if store is not None:
            store.close()
        raise
    notes = [n.text for n in opened.notes if n.about != "reranker" or n.problem or rerank is True]
    return Searcher(app.data, embedder, app.config, opened.reranker, store=store), notes



MODE_OPTION = click.option("--mode", type=click.Choice(["dense", "keyword", "hybrid"]), default=None,
                           help="Retrieval mode (default: the config's, hybrid).")
RERANK_OPTION = click.option("--rerank/--no-rerank", default=None,
                             help="Cross-encoder reranking (default: on when a reranker is available).")


@click.command(context_settings={"ignore_unknown_options": True})
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
    Dates: 2024, 2024-03, 2024-03-15, today, yesterday, "last week", "3 days ago".
    Filters alone (type:pdf, -draft) list the matching files, newest first.
    """
    from indexer.cli.render import heatmap, print_ignored, print_listing, print_results

    text = " ".join(query)
    searcher, notes = open_searcher(app, mode, rerank)
    try:
        run = searcher.first_stage(text, k=k, mode=mode)
        results = searcher.finish(run, rerank=rerank)
        similarity = searcher.similarity(run, results) if matrix and searcher.embedder else None
    finally:
        searcher.close()
    if as_json:
        payload = {"query": text, "mode": mode or app.config.search_mode,
                   "reranked": searcher.reranker is not None and rerank is not False and not run.listing,
                   "notes": notes, "listing": run.listing,
                   "ignored": [item.to_dict() for item in run.query.ignored],
                   "good_matches": sum(1 for r in results if r.match == "good"),
                   "results": [r.to_dict() for r in results]}
        if similarity is not None:
            payload["similarity"] = {"labels": similarity.labels,
                                     "matrix": similarity.matrix.round(4).tolist()}
        click.echo(json.dumps(payload, ensure_ascii=False))
        return
    print_ignored(run.query)
    if run.listing:
        print_listing(run.query, results)
    else:
        print_results(text, results, notes)
    if similarity is not None and results:
        click.echo()
        click.echo(heatmap(similarity))
