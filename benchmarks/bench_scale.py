"""A million passages on one laptop: the compressed vector index against exact search (issue 21).

Real vectors: SciFact abstracts cut into short passages (48 tokens, 12 overlap) and embedded by the
multilingual-e5-small stand-in (`--model`, default /work/me5, built by ../shared/tools/build_me5_small.py);
queries are SciFact's queries embedded by the same model. The embedder's prefixes come from the
model's name (`indexer.models.embedding`), and a folder named `me5` is not recognised as e5, so the
cached vectors were embedded without "passage: " / "query: " (for this benchmark, which compares
a compressed index with exact search, the prefixes change the vectors, not what is measured). They
are embedded once and cached under `--cache` (/work/scale-cache): later runs reuse the file.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data" / "scifact"
CACHE = Path("/work/scale-cache")
MODEL = "/work/me5"
PASSAGE_TOKENS, PASSAGE_OVERLAP = 48, 12


def passages(limit: int, tokenizer) -> list[str]:  # noqa: ANN001
    """SciFact's corpus cut into short passages, in corpus order, at most `limit`."""
    from indexer.ingest.chunking import chunk_units
    from indexer.ingest.extract.text import TextUnit
    from indexer.search.evaluate import load_beir

    found: list[str] = []
    for text in load_beir(DATA).corpus.values():
        units = [TextUnit(text, None)]
        found += [c.text for c in chunk_units(units, tokenizer, PASSAGE_TOKENS, PASSAGE_OVERLAP)]
        if len(found) >= limit:
            break
    return found[:limit]


def real_vectors(limit: int, model: str = MODEL, cache: Path = CACHE,
                 verbose: bool = False) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(passage texts, passage vectors, query vectors), embedded once and cached (resumable)."""
    import json

    from indexer.config import Config
    from indexer.models.factory import open_embedder
    from indexer.models.resolution import resolve_model
    from indexer.search.evaluate import load_beir

    cache.mkdir(parents=True, exist_ok=True)
    file = cache / f"scifact-{Path(model).name}-{PASSAGE_TOKENS}t.npz"
    texts_file = file.with_suffix(".texts.json")
    if file.exists() and texts_file.exists():
        saved = np.load(file)
        texts = json.loads(texts_file.read_text())
        if len(texts) >= limit and saved["done"] >= limit:
            return texts[:limit], saved["passages"][:limit], saved["queries"]
    embedder, _ = open_embedder(resolve_model(model), Config(), "auto")
    texts = passages(limit, embedder.tokenizer)
    texts_file.write_text(json.dumps(texts))
    queries = embedder.encode_queries(list(load_beir(DATA, "train").queries.values())
                                      + list(load_beir(DATA).queries.values()))
    vectors = np.zeros((len(texts), queries.shape[1]), dtype=np.float32)
    done = 0
    if file.exists():  # resume an interrupted run
        saved = np.load(file)
        done = int(saved["done"])
        vectors[:done] = saved["passages"][:done]
    started = time.time()
    step = 2048
    while done < len(texts):
        vectors[done:done + step] = embedder.encode_passages(texts[done:done + step])
        done = min(done + step, len(texts))
        np.savez(file.with_suffix(".tmp.npz"), passages=vectors, queries=queries, done=done)
        Path(file.with_suffix(".tmp.npz")).replace(file)
        if verbose:
            print(f"{done}/{len(texts)} passages, {time.time() - started:.0f} s", file=sys.stderr, flush=True)
    return texts, vectors, queries


# -- synthetic passages: a Gaussian mixture fitted on the real ones -------------------------------------
def mixture(real: np.ndarray, cache: Path, components: int = 256) -> dict[str, np.ndarray]:
    """A 256-component diagonal Gaussian mixture fitted on the real vectors (scikit-learn), cached."""
    file = cache / f"gmm-{components}-{len(real)}.npz"
    if file.exists():
        return dict(np.load(file))
    from sklearn.mixture import GaussianMixture

    fitted = GaussianMixture(components, covariance_type="diag", max_iter=30, random_state=0).fit(real)
    params = {"weights": fitted.weights_, "means": fitted.means_, "variances": fitted.covariances_}
    np.savez(file, **params)
    return params


def sample(params: dict[str, np.ndarray], n: int, seed: int) -> np.ndarray:
    """`n` normalised draws from the mixture."""
    rng = np.random.default_rng(seed)
    which = rng.choice(len(params["weights"]), n, p=params["weights"] / params["weights"].sum())
    drawn = params["means"][which] + rng.standard_normal((n, params["means"].shape[1])) * np.sqrt(
        params["variances"][which])
    drawn = drawn.astype(np.float32)
    drawn /= np.linalg.norm(drawn, axis=1, keepdims=True)
    return drawn


# -- the index: a real catalog (files, chunks, FTS5, embeddings) and the writer's compressed build ----------
PASSAGES_PER_FILE, PARTS = 10, 10
FILTER_PART = 3  # `in:/bench/part3`: a filter that keeps a tenth of the passages


def vectors_for(ids: range, real: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
    """Passage vectors for positions `ids`: the real vectors first, then mixture draws."""
    out = np.empty((len(ids), real.shape[1]), dtype=np.float32)
    start, stop = ids.start, ids.stop
    in_real = max(0, min(stop, len(real)) - start)
    out[:in_real] = real[start:start + in_real]
    if in_real < len(ids):
        out[in_real:] = sample(params, len(ids) - in_real, seed=start)
    return out


def build_index(data_path: Path, n: int, texts: list[str], real: np.ndarray, params: dict,
                queries: np.ndarray, model_id: str, storage: str, compress_above: int) -> dict:
    """Write `n` passages (10 per file, files spread over 10 folders) into a new catalog, computing the
    exact top-100 of every query (all passages, and within the filter) on the way, then build the
    vector index as the writer does. Returns timings, exact neighbours and the build report."""
    from indexer.config import Config
    from indexer.datadir import DataDir
    from indexer.ingest.chunking import text_hash
    from indexer.store import summaries
    from indexer.store.catalog import NewChunk
    from indexer.store.vectors import VectorIndex
    from indexer.write.vector_upkeep import VectorUpkeep, record

    # File summaries (similar files, duplicates) are not on the search path and cost half the writing
    # time: this benchmark leaves them out.
    summaries.after_put = lambda *_args, **_kwargs: None
    data = DataDir(data_path)
    catalog = data.open_catalog()
    catalog.convert_embeddings(storage)
    with catalog.transaction():
        catalog.meta_set("model", model_id)
        catalog.meta_set("dim", str(real.shape[1]))
    k = 100
    best = (np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1, np.int64))
    best_filtered = (best[0].copy(), best[1].copy())
    started = time.perf_counter()
    files = n // PASSAGES_PER_FILE
    step = 5000  # files per transaction
    for first in range(0, files, step):
        last = min(files, first + step)
        vectors = vectors_for(range(first * PASSAGES_PER_FILE, last * PASSAGES_PER_FILE), real, params)
        ids, parts = [], []
        with catalog.transaction():
            for f in range(first, last):
                part = f % PARTS
                chunks = []
                for j in range(PASSAGES_PER_FILE):
                    position = f * PASSAGES_PER_FILE + j
                    text = texts[position % len(texts)]
                    vector = vectors[position - first * PASSAGES_PER_FILE]
                    chunks.append(NewChunk(j, text, None, j * 300, j * 300 + len(text), 40,
                                           text_hash(f"{position}:{text}"), vector))
                change = catalog.put_file(f"/bench/part{part}/doc{f:07d}.txt", f"doc{f:07d}.txt", 3000,
                                          1_700_000_000_000_000_000 + f, f"h{f}", "text", "indexed", None,
                                          chunks)
                ids += change.added_ids
                parts += [part] * len(change.added_ids)
        ids_array, parts_array = np.asarray(ids, dtype=np.int64), np.asarray(parts)
        scores = queries @ vectors.T
        best = merge_top(best, scores, ids_array, k)
        keep = parts_array == FILTER_PART
        best_filtered = merge_top(best_filtered, scores[:, keep], ids_array[keep], k)
    catalog_seconds = time.perf_counter() - started
    started = time.perf_counter()
    upkeep = VectorUpkeep(data.catalog_path, compress_above)
    if n >= compress_above:
        upkeep.start(catalog, real.shape[1])
        store, report = upkeep.take(catalog, wait=True)
    else:
        store, report = VectorIndex.build(catalog, real.shape[1]), None
    store.save(data.vectors_path)
    catalog.trim_log(store.seq if store.exact else store.base_seq)
    record(catalog, store, report)
    catalog.close()
    Config(compress_above=compress_above, embedding_storage=storage).save(data_path)
    return {"catalog_seconds": round(catalog_seconds, 1),
            "index_seconds": round(time.perf_counter() - started, 1),
            "kind": store.kind, "build": None if report is None else report.__dict__,
            "exact": best[1], "exact_filtered": best_filtered[1]}


def merge_top(best: tuple[np.ndarray, np.ndarray], scores: np.ndarray, ids: np.ndarray,
              k: int) -> tuple[np.ndarray, np.ndarray]:
    all_scores = np.hstack([best[0], scores])
    all_ids = np.hstack([best[1], np.broadcast_to(ids[None, :], scores.shape)])
    order = np.argpartition(-all_scores, k - 1, axis=1)[:, :k]
    top_scores = np.take_along_axis(all_scores, order, 1)
    resort = np.argsort(-top_scores, axis=1)
    top_ids = np.take_along_axis(all_ids, order, 1)
    return np.take_along_axis(top_scores, resort, 1), np.take_along_axis(top_ids, resort, 1)


# -- the search process: a fresh process that opens the index as the CLI does, and measures -----------------
def search_process(data_path: Path, truth_file: Path, reranker: str | None) -> dict:
    """Run in its own process: open the models and the index, then time dense top-100 with a filter
    (the query embedding excluded), whole hybrid `search()`, and recall@10 against exact search."""
    import psutil

    from indexer.config import Config
    from indexer.datadir import DataDir
    from indexer.models.factory import open_models
    from indexer.search.query import parse
    from indexer.search.searcher import Searcher

    truth = np.load(truth_file, allow_pickle=False)
    queries, texts = truth["queries"], [str(t) for t in truth["texts"]]
    config = Config(reranker=reranker or "")
    opened = open_models(config, warm=True, reranker=bool(reranker))
    searcher = Searcher(DataDir(data_path), opened.embedder, config, opened.reranker)
    started = time.perf_counter()
    vectors = searcher.vectors()
    open_seconds = time.perf_counter() - started
    folder = f"/bench/part{FILTER_PART}"
    searcher.dense(parse(f"{texts[0]} in:{folder}"), 100, query_vector=queries[0])  # warm up
    dense_ms, dense_cpu_ms, filtered_hits = [], [], []
    for vector, text in zip(queries, texts):
        t, cpu = time.perf_counter(), time.process_time()
        found = searcher.dense(parse(f"{text} in:{folder}"), 100, query_vector=vector)
        dense_ms.append((time.perf_counter() - t) * 1000)
        dense_cpu_ms.append((time.process_time() - cpu) * 1000)
        filtered_hits.append([i for i, _ in found])
    index_top = vectors.search(queries, 10)[1]
    path_top = [[i for i, _ in searcher.dense(parse(t), 10, query_vector=v)] for v, t in zip(queries, texts)]
    hybrid_ms, hybrid_cpu_ms = [], []
    searcher.search(texts[0], k=10, mode="hybrid")
    for text in texts:
        t, cpu = time.perf_counter(), time.process_time()
        searcher.search(text, k=10, mode="hybrid")
        hybrid_ms.append((time.perf_counter() - t) * 1000)
        hybrid_cpu_ms.append((time.process_time() - cpu) * 1000)

    def pct(values: list[float]) -> dict:
        return {f"p{q}": round(float(np.percentile(values, q)), 1) for q in (50, 95)}

    return {
        "kind": vectors.kind, "passages": vectors.size, "open_index_s": round(open_seconds, 2),
        "embedder": opened.embedder.model_id, "reranker": reranker,
        "dense_top100_filtered_ms": pct(dense_ms), "hybrid_search_ms": pct(hybrid_ms),
        # CPU time (all threads) per query: on a loaded machine, wall time mostly measures the wait
        "dense_top100_filtered_cpu_ms": pct(dense_cpu_ms), "hybrid_search_cpu_ms": pct(hybrid_cpu_ms),
        "recall_at_10_index": overlap(index_top, truth["exact"], 10),
        "recall_at_10_dense_stage": overlap(path_top, truth["exact"], 10),
        "recall_at_10_filtered": overlap(filtered_hits, truth["exact_filtered"], 10),
        "recall_at_100_filtered": overlap(filtered_hits, truth["exact_filtered"], 100),
        "rss_mb": round(psutil.Process().memory_info().rss / 1e6, 1),
        "peak_rss_mb": peak_rss_mb(),
        "exact_baseline": exact_baseline(searcher, queries, texts, folder),
    }


BASELINE_QUERIES = 30  # the exact baseline's queries (its index is built in memory, 1.5 GB at 1M)


def exact_baseline(searcher, queries: np.ndarray, texts: list[str], folder: str) -> dict:  # noqa: ANN001
    """The same dense top-100 with the filter on an exact index built in memory from the catalog
    (after RSS was taken): the baseline of this run."""
    from indexer.search.query import parse
    from indexer.store.vectors import VectorIndex

    searcher.store._vectors = VectorIndex.build(searcher.catalog, queries.shape[1])
    times = []
    for vector, text in list(zip(queries, texts))[:BASELINE_QUERIES]:
        t = time.perf_counter()
        searcher.dense(parse(f"{text} in:{folder}"), 100, query_vector=vector)
        times.append((time.perf_counter() - t) * 1000)
    return {"kind": "flat", "dense_top100_filtered_ms": {f"p{q}": round(float(np.percentile(times, q)), 1)
                                                          for q in (50, 95)}}


def overlap(found: list, exact: np.ndarray, k: int = 10) -> float:
    """Mean recall@k of `found` against `exact` (row by row)."""
    shares = [len(set(list(f)[:k]) & set(e[:k].tolist())) / k for f, e in zip(found, exact)]
    return round(float(np.mean(shares)), 4)


def compare_kinds(vectors: np.ndarray, queries: np.ndarray) -> dict:
    """IVF-SQ8 (what the store builds) against the other candidates on the same vectors: recall@10 to
    exact search (unfiltered, and with a filter keeping a tenth), single-query latency, bytes, build s."""
    import faiss

    from indexer.store.compressed import nlist_for

    n, dim = vectors.shape
    ids = np.arange(n, dtype=np.int64)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    kept = ids[ids % PARTS == FILTER_PART]
    masked = queries @ vectors[kept].T
    exact_filtered = kept[np.argsort(-masked, axis=1)[:, :10]]
    nlist = nlist_for(n)
    candidates = [(f"IVF{nlist},SQ8", "nprobe", (8, 16, 32)), (f"IVF{nlist},PQ48", "nprobe", (16, 32)),
                  ("HNSW32,SQ8", "efSearch", (64, 128)), ("HNSW32", "efSearch", (64, 128))]
    found: dict = {}
    for factory, knob, values in candidates:
        started = time.perf_counter()
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        training = vectors[:: max(1, n // (64 * nlist))]
        index.train(training)
        index.add(vectors)
        build_s = time.perf_counter() - started
        size = int(faiss.serialize_index(index).size)
        for value in values:
            if knob == "nprobe":
                params = faiss.SearchParametersIVF(nprobe=value)
                filtered = faiss.SearchParametersIVF(nprobe=min(nlist, value * PARTS),
                                                     sel=faiss.IDSelectorBatch(kept))
            else:
                params = faiss.SearchParametersHNSW(efSearch=value)
                filtered = faiss.SearchParametersHNSW(efSearch=value, sel=faiss.IDSelectorBatch(kept))
            times, top, top_filtered = [], [], []
            for q in queries:
                t = time.perf_counter()
                top.append(index.search(q[None, :], 10, params=params)[1][0])
                times.append((time.perf_counter() - t) * 1000)
                top_filtered.append(index.search(q[None, :], 10, params=filtered)[1][0])
            found[f"{factory} {knob}={value}"] = {
                "recall_at_10": overlap(top, exact),
                "recall_at_10_filtered": overlap(top_filtered, exact_filtered),
                "ms_p50": round(float(np.percentile(times, 50)), 2), "bytes": size,
                "build_s": round(build_s, 1)}
        del index
    return found


def peak_rss_mb() -> float | None:
    """This process's peak RSS (VmHWM: reset at exec, unlike getrusage's, which a child inherits)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())


def reranker_dir(cache: Path) -> Path:
    """The MiniLM-L6-sized cross-encoder of bench_rerank.py, exported to int8 ONNX once (cached)."""
    from benchmarks.bench_rerank import build_cross_encoder
    from indexer.models.onnx_export import export_reranker

    folder = cache / "minilm-l6-shaped"
    if not (folder / "config.json").exists():
        build_cross_encoder(folder)
        export_reranker(str(folder), folder, "int8")
    return folder


@contextlib.contextmanager
def _kept(work: Path | None) -> Iterator[str]:
    """A work folder that outlives the run (`--keep`)."""
    if work is None:
        raise SystemExit("--keep needs --work DIR")
    work.mkdir(parents=True, exist_ok=True)
    yield str(work)


def main() -> None:
    import argparse
    import json
    import os
    import subprocess
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000", help="passages per index, comma-separated "
                        "(default: 100000; --full: 100000,1000000)")
    parser.add_argument("--full", action="store_true", help="the issue's run: 100k and 1M passages")
    parser.add_argument("--real", type=int, default=50_000, help="real passage vectors (≥ 50k for the issue)")
    parser.add_argument("--queries", type=int, default=100, help="real SciFact query embeddings to use")
    parser.add_argument("--storage", default="int8", choices=("float32", "float16", "int8"))
    parser.add_argument("--compress-above", type=int, default=200_000)
    parser.add_argument("--model", default=MODEL, help="the model of the passage vectors")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--work", type=Path, default=None, help="where the indexes go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the indexes in --work (for profiling)")
    parser.add_argument("--compare", type=int, default=0,
                        help="also compare IVF-SQ8, IVF-PQ and HNSW on this many passages (e.g. 100000)")
    parser.add_argument("--search-process", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--truth", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--reranker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("FINDLING_MODELS_DIR", str(args.cache / "models"))
    if args.search_process:
        print(json.dumps(search_process(args.search_process, args.truth, args.reranker)))
        return
    started = time.perf_counter()
    texts, real, queries = real_vectors(args.real, args.model, args.cache, verbose=True)
    real = real[np.linalg.norm(real, axis=1) > 0]  # a partial cache holds zeros past what was embedded
    texts = texts[:len(real)]
    params = mixture(real, args.cache)
    from indexer.search.evaluate import load_beir

    query_texts = (list(load_beir(DATA, "train").queries.values()) + list(load_beir(DATA).queries.values()))
    pick = np.random.default_rng(1).choice(len(queries), args.queries, replace=False)
    queries, query_texts = queries[pick], [query_texts[i] for i in pick]
    from indexer.config import DEFAULT_MODEL
    from indexer.models.resolution import resolve_model

    search_model = resolve_model(DEFAULT_MODEL).model_id  # the search process's (default) embedder
    report: dict = {"real_passages": len(real), "passage_tokens": PASSAGE_TOKENS, "mixture_components": 256,
                    "queries": len(queries), "storage": args.storage, "compress_above": args.compress_above,
                    "cpus": os.cpu_count(), "load_average": os.getloadavg(), "sizes": {}}
    if args.compare:
        report["compare"] = {"passages": args.compare,
                             "kinds": compare_kinds(vectors_for(range(args.compare), real, params), queries)}
        print(json.dumps(report["compare"]), file=sys.stderr, flush=True)
    sizes = [100_000, 1_000_000] if args.full else [int(s) for s in args.sizes.split(",") if s]
    rerank = str(reranker_dir(args.cache))
    with (tempfile.TemporaryDirectory(dir=args.work) if not args.keep else _kept(args.work)) as tmp:
        for n in sizes:
            data_path = Path(tmp) / f"index-{n}"
            built = build_index(data_path, n, texts, real, params, queries, search_model, args.storage,
                                args.compress_above)
            truth = Path(tmp) / f"truth-{n}.npz"
            np.savez(truth, queries=queries, texts=np.array(query_texts), exact=built.pop("exact"),
                     exact_filtered=built.pop("exact_filtered"))
            entry = {**built, "catalog_bytes": size_of(data_path / "catalog.sqlite"),
                     "vector_file_bytes": (data_path / "vectors.faiss").stat().st_size}
            runs = [("search", None)] + ([("search_with_reranker", rerank)] if n <= 100_000 else [])
            for name, reranker in runs:
                command = [sys.executable, __file__, "--search-process", str(data_path),
                           "--truth", str(truth), "--cache", str(args.cache)]
                command += ["--reranker", reranker] if reranker else []
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                failed = {"error": done.stderr[-2000:]}
                entry[name] = json.loads(done.stdout) if done.returncode == 0 else failed
            report["sizes"][str(n)] = entry
            print(json.dumps({str(n): entry}), file=sys.stderr, flush=True)
            if not args.keep:
                import shutil

                shutil.rmtree(data_path)
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
