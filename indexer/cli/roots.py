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
    from indexer.write.roots import with_roots

    app.config.roots = with_roots(app.config.roots, [os.path.abspath(p) for p in paths])
    app.config.save(app.data.path)
    say("Added. Run `findling index` to index the new folders.")


@roots.command("remove")
@click.argument("paths", nargs=-1, required=True)
@click.pass_obj
def roots_remove(app: App, paths: tuple[str, ...]) -> None:
    """Stop covering PATHS and purge their files from the index (and from the shared index, with --store)."""
    from indexer.write.roots import purge_roots, root_path

    targets = [root_path(p) for p in paths]
    unknown = [t for t in targets if t not in app.config.roots]
    if unknown:
        raise click.UsageError(f"Not a configured root: {', '.join(unknown)}")
    removed = 0
    if app.data.exists():
        from indexer.cli.index import LATER
        from indexer.cli.shared_store import mirror_or_later, store_target

        store = store_target(app)
        mirror = None if store is None else (
            lambda indexer: mirror_or_later(store, indexer, "findling roots remove", LATER))
        with app.data.writer_lock("findling roots remove"):
            removed = purge_roots(app.data, app.config, app.reading_embedder(), targets, mirror)
    app.config.roots = [r for r in app.config.roots if r not in targets]
    app.config.save(app.data.path)
    say(f"Removed {len(targets)} root(s) and {removed} files from the index.")
