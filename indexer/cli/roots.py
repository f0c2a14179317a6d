"""`findling roots list|add|remove`: the folders an index covers."""

from __future__ import annotations

import os

import click

from indexer.cli.common import App, say
from indexer.cli.terminal import visible


@click.group()
def roots() -> None:
    """List, add or remove the folders this index covers."""


@roots.command("list")
@click.pass_obj
def roots_list(app: App) -> None:
    for root in app.config.roots:
        click.echo(visible(root))


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
