"""The shared index's Milvus collections and how a passage is spelled in them (schema version 1).

`<collection>` holds one row per embedded passage: its id (the writer's chunk id), vector, text,
`terms` (below; analyzer on, text match on) and `sparse`, the BM25 function's output over `terms`,
and what search shows and filters on: path, name (lower case, for `type:`), file id, ordinal,
page, page label, char offsets, is_name, source, status, reason, container, file kind, mtime.
`<collection>_meta` holds key/value rows: the model's id, dimension and prefixes, the schema
version, the catalog generation and vector-log position the collection reflects, and the
writer's lease. (Milvus wants a vector field in every collection: the meta rows carry a
two-dimensional zero one.)

`terms` is the passage's words folded as the local FTS5 index folds them (`fts_terms`: lower case,
diacritics removed), in order and space separated, then ` | ` and its Chinese/Japanese/Korean
runs as character trigrams (as the local `chunks_trigram` table matches them), then ` | ` and the
file name's words. Milvus's `standard` analyzer splits that on spaces back into exactly those
terms, so BM25, text match and IDF count the same units the local index does, on Milvus Lite
(whose analyzers are `standard` and, with jieba, Chinese-only `jieba`) and on a Milvus server alike.
"""

from __future__ import annotations

from indexer.search.query import cjk_runs, fts_terms, has_cjk

SCHEMA_VERSION = 1
TEXT_MAX = 65_535  # Milvus's VARCHAR limit (bytes)
PATH_MAX = 4_096
# A server's default ("Bounded") lets a search miss writes of the last few seconds: the writer's
# reconcile would then write them again, and a reader just after a batch would not see it.
CONSISTENCY = "Strong"
ANALYZER = {"tokenizer": "standard"}
PASSAGE_FIELDS = ["id", "text", "terms", "path", "name", "file_id", "ordinal", "page", "page_label",
                  "char_start", "char_end", "is_name", "source", "status", "reason", "container",
                  "kind", "mtime"]  # every field but the vectors


def meta_collection(collection: str) -> str:
    return f"{collection}_meta"


def words(text: str) -> list[str]:
    """The non-CJK words of `text`, folded, in order."""
    return [w for w in fts_terms(text) if not has_cjk(w)]


def cjk_pieces(text: str) -> list[str]:
    """The CJK runs of `text` as trigrams (a run of one or two characters as itself), in order."""
    pieces: list[str] = []
    for run in cjk_runs(text):
        pieces += [run[i:i + 3] for i in range(len(run) - 2)] if len(run) >= 3 else [run]
    return pieces


def terms_of(text: str, name: str) -> str:
    """A passage's `terms` field (see the module docstring); padded with spaces for phrase LIKEs."""
    spelled = f" {' '.join(words(text))} | {' '.join(cjk_pieces(text))} | {' '.join(words(name))} "
    return _clip(spelled)


def _clip(text: str, limit: int = TEXT_MAX) -> str:
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", "ignore")


def clip(text: str, limit: int = TEXT_MAX) -> str:
    """`text` cut to fit a VARCHAR of `limit` bytes."""
    return _clip(text, limit)


def create_collections(client, collection: str, dim: int) -> None:  # noqa: ANN001 - a MilvusClient
    """Create the passage and meta collections (with their indexes) when missing."""
    from pymilvus import DataType, Function, FunctionType

    if not client.has_collection(collection):
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("text", DataType.VARCHAR, max_length=TEXT_MAX)
        schema.add_field("terms", DataType.VARCHAR, max_length=TEXT_MAX, enable_analyzer=True,
                         enable_match=True, analyzer_params=ANALYZER)
        schema.add_field("path", DataType.VARCHAR, max_length=PATH_MAX)
        schema.add_field("name", DataType.VARCHAR, max_length=PATH_MAX)
        schema.add_field("file_id", DataType.INT64)
        schema.add_field("ordinal", DataType.INT64)
        schema.add_field("page", DataType.INT64, nullable=True)
        schema.add_field("page_label", DataType.VARCHAR, max_length=PATH_MAX, nullable=True)
        schema.add_field("char_start", DataType.INT64)
        schema.add_field("char_end", DataType.INT64)
        schema.add_field("is_name", DataType.BOOL)
        schema.add_field("source", DataType.VARCHAR, max_length=16)
        schema.add_field("status", DataType.VARCHAR, max_length=16)
        schema.add_field("reason", DataType.VARCHAR, max_length=PATH_MAX, nullable=True)
        schema.add_field("container", DataType.VARCHAR, max_length=PATH_MAX, nullable=True)
        schema.add_field("kind", DataType.VARCHAR, max_length=64, nullable=True)
        schema.add_field("mtime", DataType.INT64)
        schema.add_function(Function(name="terms_bm25", function_type=FunctionType.BM25,
                                     input_field_names=["terms"], output_field_names=["sparse"]))
        index = client.prepare_index_params()
        index.add_index("vector", index_type="AUTOINDEX", metric_type="IP")
        index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        client.create_collection(collection, schema=schema, index_params=index, consistency_level=CONSISTENCY)
    meta = meta_collection(collection)
    if not client.has_collection(meta):
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("value", DataType.VARCHAR, max_length=TEXT_MAX)
        schema.add_field("pad", DataType.FLOAT_VECTOR, dim=2)
        index = client.prepare_index_params()
        index.add_index("pad", index_type="AUTOINDEX", metric_type="L2")
        client.create_collection(meta, schema=schema, index_params=index, consistency_level=CONSISTENCY)
