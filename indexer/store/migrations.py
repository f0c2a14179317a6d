"""The catalog's schema as named migrations, applied in order and recorded (sqlite-utils `Migrations`).

Each migration is a function of a `sqlite_utils.Database`; the ones applied are listed in the
`_sqlite_migrations` table. A catalog made before that table existed (schemas 1 to 3) gets
every migration, so each one is idempotent: it creates only what is missing and backfills
only rows that are not there yet, and never touches an embedding. `meta.schema_version` keeps
the number of migrations, which is how a read-only opener knows a catalog is outdated.

To change the schema, add a function at the end (never edit or reorder an applied one) and
a fixture catalog of the schema before it (tests/fixtures/make_old_catalogs.py).
"""

from __future__ import annotations

import re
import sqlite3

from indexer.paths import ESCAPING, key
from indexer.search.query import has_cjk
from indexer.store.schema import SCHEMA_VERSION
from indexer.store.sqlite_utils_import import import_sqlite_utils

_sqlite_utils = import_sqlite_utils()
Database, Migrations = _sqlite_utils.Database, _sqlite_utils.Migrations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "applied", "migrate"]

MIGRATIONS = Migrations("findling-catalog")


def _run(db: Database, script: str) -> None:
    """Statement by statement (`executescript` would commit the transaction the migration runs in)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


@MIGRATIONS()
def m001_files_chunks_and_full_text(db: Database) -> None:
    """Schema 1: metadata, files, their chunks (text, place, embedding) and the FTS5 word index."""
    _run(db, """
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
        CREATE TABLE IF NOT EXISTS files (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            path TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            hash TEXT,
            kind TEXT,
            status TEXT NOT NULL CHECK (status IN ('indexed', 'skipped', 'error')),
            reason TEXT,
            n_chunks INTEGER NOT NULL DEFAULT 0,
            indexed_at REAL NOT NULL
        );
        CREATE INDEX IF NOT EXISTS files_hash ON files(hash);
        CREATE TABLE IF NOT EXISTS chunks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL,
            text TEXT NOT NULL,
            page INTEGER,
            char_start INTEGER NOT NULL,
            char_end INTEGER NOT NULL,
            n_tokens INTEGER NOT NULL,
            hash TEXT NOT NULL,
            is_name INTEGER NOT NULL DEFAULT 0,
            embedding BLOB
        );
        CREATE INDEX IF NOT EXISTS chunks_file ON chunks(file_id, ordinal);
        CREATE INDEX IF NOT EXISTS chunks_hash ON chunks(hash);
        CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
            text, name, tokenize = 'unicode61 remove_diacritics 2'
        );
        INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', '0');
    """)


@MIGRATIONS()
def m002_cjk_trigrams_and_vocabularies(db: Database) -> None:
    """Schema 2: character trigrams for Chinese and Japanese text, and the FTS5 vocabularies (IDF)."""
    _run(db, """
        CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vocab USING fts5vocab(chunks_fts, 'row');
        CREATE VIRTUAL TABLE IF NOT EXISTS chunks_trigram USING fts5(text, tokenize = 'trigram');
        CREATE VIRTUAL TABLE IF NOT EXISTS chunks_trigram_vocab USING fts5vocab(chunks_trigram, 'row');
    """)
    db.register_function(has_cjk, deterministic=True, replace=True)
    # Some schema-1 catalogs already filled the trigram table: add only the missing rows.
    db.execute("INSERT INTO chunks_trigram (rowid, text) SELECT id, text FROM chunks "
               "WHERE has_cjk(text) AND id NOT IN (SELECT rowid FROM chunks_trigram)")


@MIGRATIONS()
def m003_file_priority(db: Database) -> None:
    """Schema 3: an embedding priority per file, and an index of the chunks still to embed."""
    if "priority" not in db["files"].columns_dict:
        db["files"].add_column("priority", int, not_null_default=0)
    db.execute("CREATE INDEX IF NOT EXISTS chunks_pending ON chunks(file_id) WHERE embedding IS NULL")


@MIGRATIONS()
def m004_file_device_mode_and_unavailable_folders(db: Database) -> None:
    """Schema 4: the device and mode a file was last seen on, and the folders found out of reach
    (their files are kept)."""
    columns = db["files"].columns_dict
    for column in ("dev", "mode"):
        if column not in columns:
            db["files"].add_column(column, int)
    db.execute("CREATE TABLE IF NOT EXISTS unavailable "
               "(path TEXT PRIMARY KEY, reason TEXT NOT NULL, since REAL NOT NULL)")


_LEGACY_NAME_ERROR = "file name is not valid UTF-8"  # the reason schemas 1-4 recorded for such names
_LEGACY_BYTE = re.compile(r"\\x([89a-f][0-9a-f])")


@MIGRATIONS()
def m005_lossless_path_keys(db: Database) -> None:
    """Schema 5: paths become lossless keys (`indexer.paths`); chunks and embeddings stay.

    Before, an undecodable byte was stored as `\\xNN` and a backslash as itself, so a file
    literally named `\\x80` and one with the byte 0x80 shared a row. Only rows with a backslash
    change. A row recorded for its undecodable name holds bytes in its `\\xNN` (0x80-0xFF: only
    such bytes can fail to decode); its size is cleared so the next scan indexes its content,
    which is now possible. Any other row's backslashes are the name's. Runs once per catalog
    (recorded), on keys of the old kind only.
    """
    if not ESCAPING:
        return
    rows = db.execute("SELECT id, path, reason FROM files WHERE instr(path, '\\') > 0").fetchall()
    renamed = []
    for file_id, old, reason in rows:
        undecodable = (reason or "").startswith(_LEGACY_NAME_ERROR)
        path = _LEGACY_BYTE.sub(lambda m: chr(0xDC00 + int(m.group(1), 16)), old) if undecodable else old
        renamed.append((key(path), -1 if undecodable else None, file_id))
    # Two steps: a new key may equal another row's old path, never another new key (nor an
    # absolute path: the placeholder is not one).
    db.conn.executemany("UPDATE files SET path = 'migrating:' || id WHERE id = ?",
                        [(file_id,) for *_, file_id in renamed])
    db.conn.executemany("UPDATE files SET path = ?, size = coalesce(?, size) WHERE id = ?", renamed)
    # Folders out of reach are found again by every scan: drop those recorded under old keys.
    db.execute("DELETE FROM unavailable WHERE instr(path, '\\') > 0")


@MIGRATIONS()
def m006_file_vectors_and_signatures(db: Database) -> None:
    """Schema 6: a vector and a text signature per file (`indexer.store.summaries`), for similar files
    and near-duplicates. Existing files get theirs from the writer's backfill, not here: the
    upgrade stays instant, and no embedding is touched."""
    _run(db, """
        CREATE TABLE IF NOT EXISTS file_vectors (
            file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
            vector BLOB NOT NULL,
            passages INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS file_signatures (
            file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
            minhash BLOB NOT NULL,
            shingles INTEGER NOT NULL
        );
        INSERT OR IGNORE INTO meta (key, value) VALUES ('summary_generation', '0');
        INSERT OR REPLACE INTO meta (key, value) VALUES ('summaries_backfilled', '0')
    """)


@MIGRATIONS()
def m007_chunk_sources_and_ocr_results(db: Database) -> None:
    """Schema 7 (OCR, issue 18): where a chunk's text came from (`source`: text, ocr or name), each
    file's OCR state (`files.ocr`: NULL when OCR does not apply; pending, text, no_text, error or
    none), and OCR results kept by content hash (`ocr_results`), so a copy, a move or a reindex
    never runs OCR again. A result goes with the last file of its hash (two triggers). Images and
    PDFs indexed before become pending, so the next run reads them; no embedding is touched."""
    chunks, files = db["chunks"].columns_dict, db["files"].columns_dict
    if "source" not in chunks:
        db["chunks"].add_column("source", str, not_null_default="text")
        db.execute("UPDATE chunks SET source = 'name' WHERE is_name = 1")
    if "ocr" not in files:
        db["files"].add_column("ocr", str)
        db.execute("UPDATE files SET ocr = 'pending' WHERE kind IN ('image', 'pdf') AND hash IS NOT NULL "
                   "AND status != 'error'")
    _run(db, """
        CREATE INDEX IF NOT EXISTS files_ocr_pending ON files(priority, mtime_ns) WHERE ocr = 'pending';
        CREATE TABLE IF NOT EXISTS ocr_results (
            hash TEXT PRIMARY KEY,
            status TEXT NOT NULL CHECK (status IN ('text', 'no_text', 'error', 'none')),
            reason TEXT,
            result TEXT NOT NULL,
            seconds REAL NOT NULL DEFAULT 0,
            done_at REAL NOT NULL
        )
    """)
    for event, when in (("DELETE", "old.hash IS NOT NULL"),
                        ("UPDATE OF hash", "old.hash IS NOT NULL AND old.hash IS NOT new.hash")):
        name = "ocr_results_after_file_" + event.split()[0].lower()
        db.execute(f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {event} ON files WHEN {when} BEGIN "
                   "DELETE FROM ocr_results WHERE hash = old.hash "
                   "AND NOT EXISTS (SELECT 1 FROM files WHERE hash = old.hash); END")


@MIGRATIONS()
def m008_page_labels_and_attachments(db: Database) -> None:
    """Schema 8: what a chunk's page is called (`chunks.page_label`: a sheet's name, a slide's title,
    a message's subject), and files carried inside another (`files.parent_id`: a mail's attachments,
    under the path `message.eml#name`). Both start empty: no chunk or embedding changes."""
    if "page_label" not in db["chunks"].columns_dict:
        db.execute("ALTER TABLE chunks ADD COLUMN page_label TEXT")
    if "parent_id" not in db["files"].columns_dict:
        db.execute("ALTER TABLE files ADD COLUMN parent_id INTEGER REFERENCES files(id) ON DELETE CASCADE")
    db.execute("CREATE INDEX IF NOT EXISTS files_parent ON files(parent_id) WHERE parent_id IS NOT NULL")


@MIGRATIONS()
def m009_embedding_storage(db: Database) -> None:
    """Schema 9: the catalog records how its embeddings are stored (`indexer.store.embedding_codec`):
    every older catalog holds float32 blobs. Only recorded here (a migration cannot see the config):
    a writer whose `embedding_storage` differs converts the blobs in place, once, without
    re-embedding (`Catalog.convert_embeddings`), and a later change of the setting goes the same way."""
    db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('embedding_storage', 'float32')")


@MIGRATIONS()
def m010_vector_change_log(db: Database) -> None:
    """Schema 10: a log of the chunk ids whose embedding appeared, changed or went, kept by triggers,
    so a reader brings a saved vector index up to date by replaying it (never by training or a full
    rebuild). The writer trims it up to the position its saved vector file covers
    (`meta.vector_log_floor`). Existing catalogs start with an empty log: their vector file, saved
    by the previous release, is read as stale and rebuilt once."""
    db.execute("CREATE TABLE IF NOT EXISTS vector_log "
               "(seq INTEGER PRIMARY KEY AUTOINCREMENT, chunk_id INTEGER NOT NULL)")
    for name, event, when, row in (
        ("vector_log_insert", "INSERT", "NEW.embedding IS NOT NULL", "NEW"),
        ("vector_log_update", "UPDATE OF embedding", "NEW.embedding IS NOT OLD.embedding", "NEW"),
        ("vector_log_delete", "DELETE", "OLD.embedding IS NOT NULL", "OLD"),
    ):  # one statement each: a trigger's body holds a semicolon
        db.execute(f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {event} ON chunks WHEN {when} "
                   f"BEGIN INSERT INTO vector_log (chunk_id) VALUES ({row}.id); END")
    db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('vector_log_floor', '0')")




def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply the pending migrations on `conn`, inside the caller's transaction; their names."""
    db = Database(conn)
    pending = [migration.name for migration in MIGRATIONS.pending(db)]
    MIGRATIONS.apply(db)
    return pending


def applied(conn: sqlite3.Connection) -> list[str]:
    """The names of the migrations applied to this catalog, in order (read-only)."""
    return [migration.name for migration in MIGRATIONS.applied(Database(conn))]
