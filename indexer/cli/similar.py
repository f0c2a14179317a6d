"""`findling similar` and `findling duplicates`: files like one file, and copies or near-copies.

Both read the catalog only (no model, no file opened); see `indexer.similar`.
"""

from __future__ import annotations

import json

import click

from indexer.cli.common import App
from indexer.cli.terminal import visible


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


@click.command()
@click.argument("path", type=click.Path())
@click.option("--k", default=10, show_default=True, help="Number of files to show.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
@click.pass_obj
def similar(app: App, path: str, k: int, as_json: bool) -> None:
    """Files most similar in meaning to the indexed file PATH (translations included), best first.

    \b
    similarity, 0 to 1: the cosine of the two files' mean passage embeddings, once what the whole
    collection shares (mostly language and format) is taken out; translations rank high.
    """
    from indexer.cli.shared_store import refuse_shared
    from indexer.similar.find import NotComparable, SimilarFinder

    refuse_shared(app, "similar")

    try:
        finder = SimilarFinder(app.data)
    except NotComparable as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        found = finder.similar(path, k=k)
    except NotComparable as exc:
        raise click.ClickException(visible(str(exc))) from exc
    finally:
        finder.close()
    if as_json:
        click.echo(json.dumps(found.to_dict(), ensure_ascii=False))
        return
    if not found.results:
        click.echo(visible(f"No other file to compare {found.path} with yet."))
        return
    click.echo(
        visible(f"Files like {found.path} (similarity: cosine of the files' meanings):")
    )
    for rank, result in enumerate(found.results, 1):
        page = f"  (page {result.page})" if result.page else ""
        click.echo(
            click.style(visible(f"{rank:>2}. {result.similarity:6.1%}  {result.path}{page}"), bold=True)
        )
        click.echo(f"    {visible(result.snippet)}")
        if result.source_passage is not None:
            click.echo(click.style(visible(f"    matches: {result.source_passage.snippet}"), dim=True))


@click.command()
@click.option(
    "--min-similarity",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Lowest cosine of two files' mean passage embeddings for a near-duplicate "
    "(default 0.9; their text must also share at least half its 5-word runs).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
@click.pass_obj
def duplicates(app: App, min_similarity: float | None, as_json: bool) -> None:
    """Groups of copies and near-copies (re-saved, re-wrapped, lightly edited), most wasted space first."""
    from indexer.cli.shared_store import refuse_shared

    refuse_shared(app, "duplicates")
    from indexer.similar.duplicates import MIN_SIMILARITY, find_duplicates
    from indexer.similar.vectors import FILE_VECTORS_FILE, load_file_vectors
    from indexer.store.catalog import Catalog

    if not app.data.exists():
        raise click.ClickException(f"No index in {app.data.path} yet. Run `findling index FOLDER` first.")
    catalog = Catalog(app.data.catalog_path, readonly=True)
    try:
        vectors = load_file_vectors(catalog, app.data.path / FILE_VECTORS_FILE)
        found = find_duplicates(
            catalog, vectors, MIN_SIMILARITY if min_similarity is None else min_similarity
        )
    finally:
        catalog.close()
    if as_json:
        click.echo(json.dumps(found.to_dict(), ensure_ascii=False))
        return
    if not found.groups:
        click.echo("No duplicates found.")
    for group in found.groups:
        what = "exact copies" if group.kind == "exact" else f"near-copies, similarity {group.similarity:.1%}"
        click.echo(
            click.style(f"{len(group.files)} files, {what}, {_size(group.wasted_bytes)} wasted", bold=True)
        )
        for item in group.files:
            click.echo(visible(f"    {item.path}  ({_size(item.size)})"))
    if found.not_compared:
        click.echo(
            f"({found.not_compared} files are not embedded yet and were compared only as exact copies.)",
            err=True,
        )
