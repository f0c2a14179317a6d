"""What a saved vector index missed: the catalog's vector change log replayed from a position."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from indexer.store.catalog import Catalog, Change


@dataclass(frozen=True)
class CatchUp:
    change: Change  # every touched id removed, those still embedded added again (an upsert)
    generation: int
    seq: int


def changes_since(catalog: Catalog, seq: int) -> CatchUp | None:
    """The change that brings an index covering log position `seq` up to the catalog, read in one
    snapshot; None when the log was trimmed past `seq` (the index must be read again or rebuilt)."""
    with catalog.snapshot():
        if catalog.log_floor() > seq:
            return None
        generation, newest = catalog.generation, catalog.log_seq()
        touched = catalog.changed_since(seq)
        found = catalog.stored_embeddings(touched.tolist()) if touched.size else {}
    added = [int(i) for i in touched if int(i) in found]
    return CatchUp(Change(added, [found[i] for i in added], [int(i) for i in touched]), generation, newest)


class _Replayable(Protocol):
    seq: int

    def apply(self, change: Change, generation: int, seq: int | None = None) -> None: ...


def replay_log(index: _Replayable, catalog: Catalog) -> bool:
    """Replay the catalog's vector log into `index` since its `seq`; False when it was trimmed past it."""
    found = changes_since(catalog, index.seq)
    if found is None:
        return False
    index.apply(found.change, found.generation, found.seq)
    return True
