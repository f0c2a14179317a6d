"""`--store URI`: a shared index on Milvus for the commands that use one (index, search, eval).

`findling --store URI index …` indexes into the local catalog (the truth) and mirrors each batch
into the store; `findling --store URI search …` reads the store only. A remote (server) store is
used only once the user has agreed that passage text leaves this machine: asked once on a
terminal, or `--yes`; the agreement is kept in the config (`store_consent`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from indexer.cli.common import App, say
from indexer.store.store_uri import CONSENT, BadStoreUri, StoreTarget, parse_store_uri, shared_refusal

if TYPE_CHECKING:
    from indexer.store.milvus_store import MilvusStore

def store_target(app: App) -> StoreTarget | None:
    """The store the command line, env or config names, or None for the local index."""
    text = app.store_uri if app.store_uri is not None else app.config.store
    if not text:
        return None
    try:
        target = parse_store_uri(text)
    except BadStoreUri as exc:
        raise click.UsageError(str(exc)) from exc
    if target.remote:
        _consent(app, target)
    return target


def _consent(app: App, target: StoreTarget) -> None:
    if target.shown in app.config.store_consent:
        return
    message = CONSENT.format(shown=target.shown)
    if not app.assume_yes:
        if not sys.stdin.isatty():
            raise click.ClickException(f"{message} Pass --yes to agree (asked once per store).")
        if not click.confirm(f"{message} Go on?", default=False, err=True):
            raise click.ClickException("Nothing sent: the shared index was not used.")
    else:
        say(f"Note: {message}")
    app.config.store_consent = [*app.config.store_consent, target.shown]
    app.config.save(app.data.path)


def open_store(app: App, target: StoreTarget) -> MilvusStore:
    from indexer.store.milvus_store import MilvusStore

    return MilvusStore(target, app.config.path_map)


def open_mirror(target: StoreTarget, indexer, holder: str = "findling index",  # noqa: ANN001, ANN201
                tell: Callable[[str], None] = say):
    """The writer's mirror of its catalog in the store (an Indexer's; a MilvusMirror): connected,
    leased and caught up."""
    from indexer.store.milvus_mirror import MilvusMirror

    mirror = MilvusMirror(target, indexer.catalog, indexer.embedder, holder, say=tell)
    state = mirror.open()
    tell(f"Shared index {target.shown}: {state.last_sync}.")
    return state


def mirror_or_later(target: StoreTarget, indexer, holder: str, later: str):  # noqa: ANN001, ANN201
    """The mirror for a one-off write (`reindex`, `roots remove`), or None when the store cannot take
    it now (out of reach, another writer's lease, another writer's model): said plainly with
    `later` (what the next `index`/`watch` does), and the local write goes on."""
    from indexer.datadir import ModelMismatch
    from indexer.store.errors import StoreUnavailable

    try:
        return open_mirror(target, indexer, holder)
    except ModelMismatch as exc:  # another writer's collection: not this index's to write
        say(f"{exc} This index changes anyway; that shared index is left as it is.")
    except StoreUnavailable as exc:
        say(f"{exc} This index changes anyway; {later}")
    return None


def refuse_shared(app: App, command: str) -> None:
    """`similar` and `duplicates` read the local catalog's file vectors: refused on a shared store."""
    text = app.store_uri if app.store_uri is not None else app.config.store
    if not text:
        return
    try:
        target = parse_store_uri(text)
    except BadStoreUri as exc:
        raise click.UsageError(str(exc)) from exc
    refuse(command, target)


def refuse(command: str, target: StoreTarget) -> None:
    raise click.ClickException(shared_refusal(command, target.shown))
