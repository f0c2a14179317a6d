"""Terminal rendering: results with highlighted terms and a text heatmap of similarities.

Everything that comes from a file (its path, its passages) is printed through `visible`,
so no file can send the terminal a control sequence.
"""

from __future__ import annotations

import time

import click
import numpy as np

from indexer.cli.terminal import visible
from indexer.search.pages import page_text
from indexer.search.query import Query, listing_header
from indexer.search.scores import relevance
from indexer.search.searcher import FileResult, Similarity

SHADES = " ░▒▓█"


def styled_snippet(result: FileResult) -> str:
    """The snippet with query terms in bold yellow and the best sentence underlined."""
    text = result.snippet
    bold = np.zeros(len(text) + 1, dtype=bool)
    underline = np.zeros(len(text) + 1, dtype=bool)
    for start, end in result.highlights:
        bold[start:end] = True
    if result.best_sentence:
        underline[result.best_sentence[0]:result.best_sentence[1]] = True
    pieces, start = [], 0
    for i in range(1, len(text) + 1):
        if i == len(text) or bold[i] != bold[start] or underline[i] != underline[start]:
            pieces.append(click.style(visible(text[start:i]), bold=bool(bold[start]) or None,
                                      fg="yellow" if bold[start] else None,
                                      underline=bool(underline[start]) or None))
            start = i
    return "".join(pieces)


def relevance_label(result: FileResult) -> str:
    """The relevance the app shows ("73 %"), and "weak" in words for a weak match."""
    percent = f"{round(relevance(result) * 100):>3} %"
    return percent if result.match == "good" else f"{percent} weak"


def print_results(query: str, results: list[FileResult], notes: list[str]) -> None:
    for note in notes:
        click.echo(visible(note), err=True)
    if not results:
        click.echo(f"No results for {visible(repr(query))}.")
        return
    good = sum(1 for r in results if r.match == "good")
    if not good:
        click.echo(f"No good match for {visible(repr(query))}; closest files:")
    for rank, result in enumerate(results, 1):
        if rank == good + 1 and good:
            weaker = len(results) - good
            click.echo(click.style(f"    {weaker} weaker match{'es' if weaker != 1 else ''}:", dim=True))
        page = f"  ({page_text(result.path, result.page, result.page_label)})" if result.page else ""
        line = f"{rank:>2}. {relevance_label(result):<10} {visible(result.path)}{page}"
        click.echo(click.style(line, bold=result.match == "good"))
        click.echo(f"    {styled_snippet(result)}")
        if result.unavailable:
            click.echo(click.style(f"    (out of reach, kept in the index: {result.unavailable})", dim=True))
        if result.passages:
            click.echo(click.style(f"    (+{len(result.passages)} more passages in this file)", dim=True))


def print_ignored(query: Query) -> None:
    """The filters that could not be read, said before the results (never searched as words)."""
    for item in query.ignored:
        click.echo(click.style(visible(f"Ignored {item.token}: {item.reason}"), fg="red"))


def print_listing(query: Query, results: list[FileResult]) -> None:
    """A filter-only query's files, newest first, under a header saying so."""
    click.echo(click.style(listing_header(query, len(results)), bold=True))
    for rank, result in enumerate(results, 1):
        modified = time.strftime("%Y-%m-%d %H:%M", time.localtime((result.modified_ns or 0) / 1e9))
        click.echo(f"{rank:>2}. {modified}  {visible(result.path)}")


def heatmap(similarity: Similarity, label_width: int = 24) -> str:
    """Cosine similarities as shaded cells with their values; row and column 0 is the query.
    (The measure is named in the legend: it is not the relevance the result lines show.)"""
    values = similarity.matrix
    off_diagonal = values[~np.eye(len(values), dtype=bool)]
    low, high = (float(off_diagonal.min()), float(off_diagonal.max())) if off_diagonal.size else (0, 1)
    span = max(high - low, 1e-6)
    labels = [visible(f"{i}:{label}")[:label_width] for i, label in enumerate(similarity.labels)]
    header = " " * label_width + " " + "".join(f"{i:>6}" for i in range(len(labels)))
    lines = [header]
    for i, label in enumerate(labels):
        cells = []
        for j in range(len(labels)):
            value = float(values[i, j])
            shade = SHADES[min(len(SHADES) - 1, int((value - low) / span * (len(SHADES) - 1) + 0.5))]
            cells.append(f" {shade}{value:.2f}" if i != j else "     ·")
        lines.append(f"{label:<{label_width}} " + "".join(cells))
    lines.append(f"cosine similarity of the embeddings (not the relevance above): '{SHADES[1]}' low "
                 f"({low:.2f}) … '{SHADES[-1]}' high ({high:.2f}); 0 is the query")
    return "\n".join(lines)
