"""The writer's side of a shared index: its local catalog (the truth) mirrored into Milvus.

Each batch commits to SQLite first, then goes to Milvus (`apply`), which records the catalog
generation and vector-log position it reflects. At start the mirror compares them and replays
the difference by chunk id (the catalog's vector change log, as a FAISS file catches up); when the
log was trimmed past it, or a batch failed to reach Milvus, it reconciles by chunk id, path and
mtime over the whole collection. A batch that cannot reach Milvus leaves local indexing going on:
the catalog's meta `shared_store` says how many batches Milvus is behind (`findling status`); the
chunk ids those batches touched are kept, and `catch_up` writes them once Milvus answers again,
tried with backoff (`RETRY_FIRST` doubling to `RETRY_MAX` seconds, a fresh client each time) by
the next batch or by a long-running writer's loop (`findling watch`). A writer that stops while
behind leaves that count in the catalog, and its next start reconciles.

One writer per collection, best effort: a lease row (holder, host, pid, time renewed) in the
meta collection, renewed every `RENEW_EVERY` s by a thread; another writer is refused while the
lease is live and takes over one not renewed for `LEASE_STALE` s, saying so. Milvus has no
compare-and-set, so two writers starting in the same instant could both win: the lease keeps
honest writers apart, it is not a lock. A writer that finds its lease held by another (taken over
while Milvus was out of its reach) stops mirroring and says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from indexer.datadir import ModelMismatch
from indexer.store.catalog import Catalog, Change, from_blob
from indexer.store.errors import StoreBusy, StoreUnavailable
from indexer.store.milvus_schema import (
    PATH_MAX,
    SCHEMA_VERSION,
    clip,
    create_collections,
    meta_collection,
    terms_of,
)
from indexer.store.milvus_store import _reason, connect, load, milvus_errors, read_meta
from indexer.store.search_store import META_KEY, StoreBatch
from indexer.store.store_uri import StoreTarget

if TYPE_CHECKING:
    from pymilvus import MilvusClient

    from indexer.models.protocols import Embedder

RENEW_EVERY = 10.0
LEASE_STALE = 60.0
WRITE_BATCH = 500
RETRY_FIRST = 5.0  # seconds from a failed batch to the first retry, doubled after each failure
RETRY_MAX = 300.0
MISSED_MAX = 200_000  # chunk ids kept for a catch-up; past that, the catch-up reconciles instead


_ROW_SQL = (
    "SELECT c.id, c.file_id, f.path, f.name, c.ordinal, c.text, c.page, c.page_label, c.char_start, "
    "c.char_end, c.is_name, c.source, f.status, f.reason, p.path, f.kind, f.mtime_ns, c.embedding "
    "FROM chunks c JOIN files f ON f.id = c.file_id LEFT JOIN files p ON p.id = f.parent_id "
    "WHERE c.embedding IS NOT NULL AND c.id IN ({marks})")


def passage_rows(catalog: Catalog, ids: Sequence[int]) -> list[dict[str, Any]]:
    """The Milvus rows of those chunks that are embedded, read from the catalog."""
    out: list[dict[str, Any]] = []
    ids = [int(i) for i in ids]
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        for (cid, file_id, path, name, ordinal, text, page, label, c_start, c_end, is_name, source, status,
             reason, container, kind, mtime, blob) in catalog.conn.execute(
                _ROW_SQL.format(marks=",".join("?" * len(part))), part):
            out.append({
                "id": int(cid), "vector": from_blob(blob).tolist(), "text": clip(text),
                "terms": terms_of(text, name), "path": clip(path, PATH_MAX),
                "name": clip(name.lower(), PATH_MAX),
                "file_id": int(file_id), "ordinal": int(ordinal), "page": page,
                "page_label": clip(label, PATH_MAX) if label is not None else None,
                "char_start": int(c_start), "char_end": int(c_end), "is_name": bool(is_name),
                "source": source or "text", "status": status,
                "reason": clip(reason, PATH_MAX) if reason else None,
                "container": container, "kind": kind, "mtime": int(mtime)})
    return out


class MilvusMirror:
    """Keeps one Milvus collection in step with the writer's catalog (`StoreWriter`)."""

    def __init__(self, target: StoreTarget, catalog: Catalog, embedder: Embedder, holder: str,
                 say: Callable[[str], None] = lambda text: None, client: MilvusClient | None = None) -> None:
        self.target = target
        self.collection = target.collection
        self.catalog = catalog
        self.embedder = embedder
        self.holder = holder
        self.say = say
        self.client = client
        self.lease_id = uuid.uuid4().hex
        self.behind = 0  # batches that did not reach Milvus since the last success
        self.last_sync = ""  # what `open` did: "current", "replayed N passages" or "reconciled …"
        self.seq: int | None = None  # the catalog's vector-log position Milvus reflects
        self.sync_seconds = 0.0  # how long the start's replay or reconcile took
        self.lost: str | None = None  # why this writer no longer mirrors (another took the lease over)
        self._missed_upserted: set[int] = set()  # what the batches Milvus missed touched
        self._missed_removed: set[int] = set()
        self._missed_too_many = False  # more than MISSED_MAX: the catch-up reconciles by chunk id
        self._retry_at = 0.0  # time.monotonic() of the next catch-up try while behind
        self._retry_wait = RETRY_FIRST
        self._reconnect = False  # the next try starts with a fresh client
        self._problem = ""  # why the last write or try failed ("" while in step)
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._lock = threading.Lock()  # one call on the client at a time (the renewer's and ours)

    # -- opening and closing -------------------------------------------------------------------------
    def open(self) -> MilvusMirror:
        """Connect, create the collections, check the model, take the lease and replay what Milvus missed.

        A collection of another model is refused (the mismatch message) unless this catalog is its
        writer (its `shared_store` record names the store: `findling reindex` changed the model
        here): then it is made anew with this model and written again."""
        if self.client is None:
            self.client = connect(self.target)
        try:
            both = (self.collection, meta_collection(self.collection))
            if not all(self.client.has_collection(c) for c in both):  # the dimension may load the model
                create_collections(self.client, self.collection, int(self.embedder.dim))
            load(self.client, self.collection, meta_collection(self.collection))
            meta = read_meta(self.client, self.collection)
            local = json.loads(self.catalog.meta_get(META_KEY) or "{}")
            other_model = meta.get("model") not in (None, self.embedder.model_id)
            if other_model and local.get("store") != self.target.shown:
                self._check_model(meta)
            self._take_lease(meta)
            if other_model:
                meta = self._rebuild(meta)
            if not meta.get("model"):
                self._set_meta(self._model_meta())
        except milvus_errors() as exc:
            raise StoreUnavailable(f"The shared index {self.target.shown} cannot be reached: "
                                   f"{_reason(exc)}") from exc
        self._renewer = threading.Thread(target=self._renew, name="findling-lease", daemon=True)
        self._renewer.start()
        try:
            self.sync(meta)
        except BaseException:
            self.close()  # the renewer stopped, the lease released
            raise
        return self

    def _rebuild(self, meta: dict[str, str]) -> dict[str, str]:
        """Drop the passages of another model and make the collection anew for this one (its
        dimension may differ); what it held is written again by the reconcile that follows."""
        recorded = meta.get("model")
        with self._lock:
            self.client.drop_collection(self.collection)
        create_collections(self.client, self.collection, int(self.embedder.dim))
        load(self.client, self.collection)
        self._set_meta(self._model_meta())
        with self._lock:
            self.client.delete(meta_collection(self.collection), ids=["generation", "seq"])
        self.say(f"The shared index {self.target.shown} held the model {recorded!r}: made anew with "
                 f"{self.embedder.model_id!r}. Readers need the same model.")
        return {k: v for k, v in meta.items() if k not in ("generation", "seq")} | self._model_meta()

    def close(self) -> None:
        """Stop renewing and release the lease (unless another writer holds it now)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        if self.client is None:
            return
        try:
            with self._lock:
                if self.lost is None:
                    self.client.delete(meta_collection(self.collection), ids=["lease"])
        except milvus_errors():
            pass  # it goes stale in LEASE_STALE seconds
        with contextlib.suppress(Exception):  # a client that lost its server
            self.client.close()

    def __enter__(self) -> MilvusMirror:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _model_meta(self) -> dict[str, str]:
        info = getattr(self.embedder, "info", None)
        return {"model": self.embedder.model_id, "dim": str(self.embedder.dim),
                "query_prefix": getattr(info, "query_prefix", "") or "",
                "passage_prefix": getattr(info, "passage_prefix", "") or "",
                "schema_version": str(SCHEMA_VERSION)}

    def _check_model(self, meta: dict[str, str]) -> None:
        recorded = meta.get("model")
        if recorded and recorded != self.embedder.model_id:
            raise ModelMismatch(
                f"The shared index {self.target.shown} was built with the model {recorded!r}, not "
                f"{self.embedder.model_id!r}. Use the same --model, or another collection.")

    def _set_meta(self, values: dict[str, str]) -> None:
        rows = [{"key": k, "value": v, "pad": [0.0, 0.0]} for k, v in values.items()]
        with self._lock:
            self.client.upsert(meta_collection(self.collection), rows)

    # -- the lease -----------------------------------------------------------------------------------
    def _lease(self) -> dict[str, Any]:
        return {"id": self.lease_id, "holder": self.holder, "host": socket.gethostname(), "pid": os.getpid(),
                "renewed": time.time()}

    def _take_lease(self, meta: dict[str, str]) -> None:
        held = json.loads(meta["lease"]) if meta.get("lease") else None
        if held and held.get("id") != self.lease_id:
            age = time.time() - float(held.get("renewed", 0))
            who = f"{held.get('holder')} on {held.get('host')} (pid {held.get('pid')})"
            if age < LEASE_STALE:
                raise StoreBusy(f"The shared index {self.target.shown} is being written by {who}, "
                                f"lease renewed {age:.0f} s ago. One writer at a time: try again later "
                                f"(a lease not renewed for {LEASE_STALE:.0f} s is taken over).")
            self.say(f"Taking over the shared index's lease from {who}: not renewed for {age:.0f} s.")
        self._set_meta({"lease": json.dumps(self._lease())})

    def _renew(self) -> None:
        """The renewer thread: every RENEW_EVERY s, however long no batch comes (a quiet watch)."""
        while not self._stop.wait(RENEW_EVERY):
            try:
                if self._lease_holder() is None:
                    self._set_meta({"lease": json.dumps(self._lease())})
            except milvus_errors():
                pass  # the batches say Milvus is unreachable, and retry
            except Exception:  # noqa: BLE001 - a client being replaced (`catch_up`): the next turn
                pass

    def _lease_holder(self) -> str | None:
        """Who holds the lease when it is another writer's and live (None: ours, free or stale).
        Seen once, it is recorded in `lost` and this writer stops mirroring."""
        if self.lost is not None:
            return self.lost
        with self._lock:
            rows = self.client.query(meta_collection(self.collection), filter='key == "lease"',
                                     output_fields=["value"])
        held = json.loads(rows[0]["value"]) if rows else None
        age = time.time() - float(held.get("renewed", 0)) if held else LEASE_STALE
        if not held or held.get("id") == self.lease_id or age >= LEASE_STALE:
            return None
        self.lost = (f"{held.get('holder')} on {held.get('host')} (pid {held.get('pid')}) took the shared "
                     f"index over while it was out of this writer's reach; this one no longer writes to it")
        return self.lost

    # -- keeping in step -----------------------------------------------------------------------------
    def apply_change(self, change: Change) -> None:
        """A transaction the catalog has just committed (`Indexer._apply`)."""
        self.apply(StoreBatch(list(change.added_ids), list(change.removed_ids)))

    def files_changed(self, file_ids: Iterable[int]) -> None:
        """Files moved or touched (no new embeddings): their passages' path and mtime are rewritten."""
        file_ids = [int(f) for f in file_ids]
        if not file_ids:
            return
        marks = ",".join("?" * len(file_ids))
        ids = [r[0] for r in self.catalog.conn.execute(
            f"SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.embedding IS NOT NULL "
            f"AND (f.id IN ({marks}) OR f.parent_id IN ({marks}))", file_ids + file_ids)]
        self.apply(StoreBatch(ids, []))

    def apply(self, batch: StoreBatch) -> None:
        """Write one batch to Milvus; when Milvus cannot be reached, keep what it touched and go on
        (`catch_up` writes it later). While behind, a batch only tries again once the retry is due."""
        if batch.empty:
            return
        if self.behind or self.lost is not None:
            self._miss(batch)
            self.behind += 1
            if self.lost is not None:
                self._lost_now()
            elif not self.catch_up():
                self._note(self._problem, quiet=True)
            return
        try:
            self._write(batch.upserted, batch.removed)
            self._record()
        except milvus_errors() as exc:
            self._miss(batch)
            self.behind = 1
            self._failed(exc)
            return
        self._note("", quiet=True)

    def _miss(self, batch: StoreBatch) -> None:
        """Keep a batch Milvus missed (its chunk ids), or only that one was missed when too many are."""
        if not self._missed_too_many:
            self._missed_upserted.update(int(i) for i in batch.upserted)
            self._missed_removed.update(int(i) for i in batch.removed)
        if len(self._missed_upserted) + len(self._missed_removed) > MISSED_MAX:
            self._missed_too_many = True
            self._missed_upserted.clear()
            self._missed_removed.clear()

    def _failed(self, exc: BaseException) -> None:
        """A write or a catch-up failed: the next try after a longer wait, with a fresh client."""
        wait = self._retry_wait
        self._retry_at = time.monotonic() + wait
        self._retry_wait = min(RETRY_MAX, wait * 2)
        self._reconnect = True
        first = not self._problem
        reason = _reason(exc).removeprefix(f"The shared index {self.target.shown} ")  # connect()'s message
        self._problem = f"{reason}; next try in {wait:.0f} s"
        self._note(self._problem, quiet=True)
        state = "cannot be reached" if first else "is still out of reach"
        self.say(f"The shared index {self.target.shown} {state} ({reason}). Indexing here goes on; "
                 f"shared index {self.behind} batches behind, retrying in {wait:.0f} s.")

    def _lost_now(self) -> None:
        """Another writer holds the lease: said once, recorded for `findling status`."""
        if self._problem != self.lost:
            self._problem = self.lost or ""
            self.say(f"The shared index {self.target.shown}: {self.lost}. Stop the other writer and "
                     "restart this one to mirror again (it then reconciles).")
        self._note(self._problem, quiet=True)

    def catch_up(self, force: bool = False) -> bool:
        """While behind, once the retry is due (or now, `force`): write what the missed batches
        touched, from the catalog as it is now. Whether Milvus is in step."""
        if not self.behind:
            return True
        if self.lost is not None or (not force and time.monotonic() < self._retry_at):
            return False
        try:
            if self._reconnect:
                self._connect_again()
            if self._lease_holder() is not None:
                self._lost_now()
                return False
            self._set_meta({"lease": json.dumps(self._lease())})
            if self._missed_too_many:
                touched = sum(self._reconcile())
            else:
                touched = len(self._missed_upserted | self._missed_removed)
                self._write(sorted(self._missed_upserted), sorted(self._missed_removed))
            self._record()
        except (*milvus_errors(), StoreUnavailable) as exc:
            self._failed(exc)
            return False
        self.say(f"The shared index {self.target.shown} is back: caught up on {self.behind} batches "
                 f"({touched} passages written or deleted).")
        self.behind = 0
        self._missed_upserted.clear()
        self._missed_removed.clear()
        self._missed_too_many = False
        self._retry_wait, self._reconnect, self._problem = RETRY_FIRST, False, ""
        self._note("", quiet=True)
        return True

    def _connect_again(self) -> None:
        """A fresh client (a closed or broken one never recovers; a server's new address does)."""
        fresh = connect(self.target)
        with self._lock:
            old, self.client = self.client, fresh
        with contextlib.suppress(Exception):
            if old is not None:
                old.close()
        load(self.client, self.collection, meta_collection(self.collection))
        self._reconnect = False

    def _write(self, upserted: Sequence[int], removed: Sequence[int], absent: set[int] | None = None) -> None:
        """Write the catalog's rows of `upserted`, delete the rest of both; ids in `absent` are known
        not to be in Milvus and are inserted (pymilvus packs an insert about 3x faster than an upsert)."""
        rows = passage_rows(self.catalog, upserted)
        present = {row["id"] for row in rows}
        gone = sorted({int(i) for i in [*removed, *upserted]} - present)
        absent = absent or set()
        new = [row for row in rows if row["id"] in absent]
        changed = [row for row in rows if row["id"] not in absent]
        with self._lock:
            for start in range(0, len(new), WRITE_BATCH):
                self.client.insert(self.collection, new[start:start + WRITE_BATCH])
            for start in range(0, len(changed), WRITE_BATCH):
                self.client.upsert(self.collection, changed[start:start + WRITE_BATCH])
            for start in range(0, len(gone), 1000):
                self.client.delete(self.collection, ids=gone[start:start + 1000])

    def _record(self) -> None:
        """The catalog position Milvus now reflects, and its largest chunk id (readers draw their
        random sample of vectors below it: `MilvusStore.sample_vectors`)."""
        seq = self.catalog.log_seq()
        top = self.catalog.conn.execute("SELECT max(id) FROM chunks").fetchone()[0]
        self._set_meta({"generation": str(self.catalog.generation), "seq": str(seq), "max_id": str(top or 0)})
        self.seq = seq

    def _state(self) -> dict[str, Any]:
        return {"store": self.target.shown, "behind": self.behind, "seq": self.seq,
                "lost": self.lost is not None}

    def _note(self, text: str, quiet: bool = False) -> None:
        """Where the mirror stands, in the catalog's meta for `findling status` ("" when in step) and
        for the writer, which keeps the vector log from `seq` on (`shared_log_floor`)."""
        with self.catalog.transaction():
            self.catalog.meta_set(META_KEY, json.dumps({**self._state(), "problem": text}))
        if text and not quiet:
            self.say(text[0].upper() + text[1:])

    def sync(self, meta: dict[str, str] | None = None) -> str:
        """Bring Milvus up to the catalog at start: "current", "replayed …" (the vector log since the
        position Milvus recorded) or "reconciled …" (every chunk id, path and mtime compared)."""
        started = time.perf_counter()
        try:
            meta = meta if meta is not None else read_meta(self.client, self.collection)
            local = json.loads(self.catalog.meta_get(META_KEY) or "{}")
            seq = int(meta.get("seq", -1))
            self.seq = seq if seq >= 0 else None
            failed_before = local.get("behind", 0) > 0 or local.get("store") not in (None, self.target.shown)
            if failed_before or seq < 0 or seq < self.catalog.log_floor() or seq > self.catalog.log_seq():
                written, deleted = self._reconcile()
                done = f"reconciled by chunk id ({written} passages written, {deleted} deleted)"
            elif seq == self.catalog.log_seq() and int(meta.get("generation", -1)) == self.catalog.generation:
                self.last_sync = "current"
                return self.last_sync
            else:
                touched = self.catalog.changed_since(seq).tolist()
                done = f"replayed {len(touched)} changed passages"
                self._write(touched, touched)
            self._record()
        except milvus_errors() as exc:
            raise StoreUnavailable(f"The shared index {self.target.shown} cannot be reached: "
                                   f"{_reason(exc)}") from exc
        self.behind = 0
        self._note("")
        self.last_sync = done
        self.sync_seconds = time.perf_counter() - started
        return done

    def _reconcile(self) -> tuple[int, int]:
        """Upsert what Milvus lacks or holds with another path or mtime, delete what the catalog lacks."""
        theirs: dict[int, tuple[str, int]] = {}
        with self._lock:
            iterator = self.client.query_iterator(self.collection, batch_size=1000, filter="id >= 0",
                                                  output_fields=["id", "path", "mtime"])
            try:
                while batch := iterator.next():
                    theirs.update((int(r["id"]), (r["path"], int(r["mtime"]))) for r in batch)
            finally:
                iterator.close()
        ours = {int(i): (p, int(m)) for i, p, m in self.catalog.conn.execute(
            "SELECT c.id, f.path, f.mtime_ns FROM chunks c JOIN files f ON f.id = c.file_id "
            "WHERE c.embedding IS NOT NULL")}
        stale = [i for i, where in ours.items() if theirs.get(i) != where]
        extra = [i for i in theirs if i not in ours]
        self._write(stale, extra, absent={i for i in stale if i not in theirs})
        return len(stale), len(extra)
