"""A shared index on Milvus Lite beside the local engine, on the same SciFact passages (issue 22).

A SciFact subset (`--queries` test claims, the abstracts judged for them and `--limit` others,
as `bench_relevance.subset` draws them) is written as a BEIR data set and run through the real
command line twice: `findling eval` (local catalog + FAISS) and `findling --store milvus:///… eval`
(the same local catalog, mirrored into Milvus Lite, searched there with no catalog). Then, in this
process, on the same index:

- `insert`: passages per second the writer's mirror uploads into a fresh collection (a full
  reconcile: rows read from the catalog, upserted in batches of 500);
- `hybrid_ms`: p50/p95 of one hybrid search (no reranker, no sentence marking), local and Milvus
  (and Milvus again on the same queries, whose terms' document counts it keeps);
- `fusion`: how the keyword signal's IDF weights differ. Milvus counts document frequencies live
  with `text_match` over the folded terms; the alternative, shipping the local FTS5 vocabulary's
  statistics, is run by giving the Milvus store the local catalog's `query_terms`: nDCG@10 of
  both, and the mean relative difference of the weights.

    python benchmarks/bench_milvus.py --limit 200 --queries 100     # a few minutes, bundled MiniLM
    python benchmarks/bench_milvus.py --model /path/to/tiny-model    # mechanics only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_relevance import subset

from indexer.config import Config
from indexer.datadir import DataDir
from indexer.models.embedding import bundled_model_path
from indexer.models.resolution import resolve_model
from indexer.search.evaluate import BeirDataset, doc_id_of, evaluate, load_beir
from indexer.search.searcher import Searcher

ROOT = Path(__file__).resolve().parent.parent


def write_beir(dataset: BeirDataset, folder: Path) -> Path:
    """The subset as a BEIR directory `findling eval` reads."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for doc_id, doc in dataset.corpus.items():
            title, text = (doc.get("title", ""), doc.get("text", "")) if isinstance(doc, dict) else ("", doc)
            fh.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for qid, text in dataset.queries.items():
            fh.write(json.dumps({"_id": qid, "text": text}) + "\n")
    with (folder / "qrels" / "test.tsv").open("w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for qid, judged in dataset.qrels.items():
            for doc_id, grade in judged.items():
                fh.write(f"{qid}\t{doc_id}\t{grade}\n")
    return folder


def cli_eval(data: Path, model: str, dataset: Path, store: str | None) -> tuple[dict, float]:
    """`findling [--store URI] eval DATASET --mode hybrid --no-rerank --json` and its wall time."""
    command = [sys.executable, "-m", "indexer.cli", "--data-dir", str(data), "--model", model,
               *(["--store", store] if store else []), "eval", str(dataset), "--mode", "hybrid",
               "--no-rerank", "--json"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                          check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout), seconds


def percentiles(samples: list[float]) -> dict:
    return {"p50": round(float(np.percentile(samples, 50)) * 1000, 1),
            "p95": round(float(np.percentile(samples, 95)) * 1000, 1)}


def timed_searches(searcher: Searcher, queries: list[str]) -> list[float]:
    seconds = []
    for text in queries:
        started = time.perf_counter()
        searcher.search(text, k=10, mode="hybrid", rerank=False, passages_per_file=0, mark_sentences=0)
        seconds.append(time.perf_counter() - started)
    return seconds


def ndcg(searcher: Searcher, dataset: BeirDataset) -> float:
    return evaluate(dataset, lambda q, k: [
        doc_id_of(r.path) for r in searcher.search(q, k=k, mode="hybrid", rerank=False, passages_per_file=0,
                                                   mark_sentences=0)])["ndcg@10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="embedding model (default: the bundled MiniLM)")
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    parser.add_argument("--limit", type=int, default=200, help="abstracts besides the judged ones")
    parser.add_argument("--queries", type=int, default=100, help="test claims")
    parser.add_argument("--work", type=Path, default=None, help="where the indexes go (default: a temp dir)")
    args = parser.parse_args()
    model = args.model or str(bundled_model_path())

    from indexer.models.embedding import TorchEmbedder
    from indexer.store.milvus_mirror import MilvusMirror
    from indexer.store.milvus_store import MilvusStore
    from indexer.store.store_uri import parse_store_uri
    from indexer.write.pipeline import Indexer

    corpus = subset(load_beir(args.dataset), args.limit, args.queries)
    report: dict = {"model": model, "documents": len(corpus.corpus), "queries": len(corpus.queries),
                    "machine": f"{os.cpu_count()} cores, shared with other work"}
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        root = Path(tmp)
        dataset = write_beir(corpus, root / "scifact-subset")
        data = root / "data"
        store = f"milvus://{root / 'shared.db'}?collection=scifact"
        local, local_s = cli_eval(data, model, dataset, None)
        shared, shared_s = cli_eval(data, model, dataset, store)
        report["cli_eval"] = {"local": {"ndcg@10": local["ndcg@10"], "seconds": round(local_s, 1)},
                              "milvus": {"ndcg@10": shared["ndcg@10"], "seconds": round(shared_s, 1)},
                              "ndcg_difference": round(shared["ndcg@10"] - local["ndcg@10"], 4)}
        print(json.dumps(report["cli_eval"]), file=sys.stderr, flush=True)

        embedder = TorchEmbedder(resolve_model(model))
        # the mirror's upload into a fresh collection: a full reconcile of the catalog
        fresh = parse_store_uri(f"milvus://{root / 'insert.db'}?collection=insert")
        embedder.dim  # noqa: B018 - load the weights before the clock starts
        with Indexer(DataDir(data), Config(), embedder) as indexer:
            passages = indexer.catalog.embedded_count()
            started = time.perf_counter()
            mirror = MilvusMirror(fresh, indexer.catalog, embedder, "bench").open()
            opened = time.perf_counter() - started
            mirror.close()
        report["insert"] = {"passages": passages, "upload_seconds": round(mirror.sync_seconds, 2),
                            "passages_per_s": round(passages / mirror.sync_seconds, 1),
                            "open_seconds_with_start_and_collection_creation": round(opened, 2)}

        queries = list(corpus.queries.values())
        local_searcher = Searcher(DataDir(data), embedder, Config(reranker=""))
        milvus = MilvusStore(parse_store_uri(store))
        milvus_searcher = Searcher(None, embedder, Config(reranker=""), store=milvus)
        try:
            timed_searches(local_searcher, queries[:5])  # warm both
            timed_searches(milvus_searcher, queries[:5])
            report["hybrid_ms"] = {"local": percentiles(timed_searches(local_searcher, queries)),
                                   "milvus": percentiles(timed_searches(milvus_searcher, queries)),
                                   # the same queries again: their terms' document counts are kept
                                   "milvus_terms_counted_before": percentiles(
                                       timed_searches(milvus_searcher, queries))}
            differences = []
            for text in queries:
                ours = milvus.query_terms(milvus_searcher.parse(text)).weights
                theirs = local_searcher.store.query_terms(local_searcher.parse(text)).weights
                differences += [abs(ours[t] - theirs[t]) / max(theirs[t], 1e-6) for t in theirs if t in ours]
            live = ndcg(milvus_searcher, corpus)
            milvus.query_terms = local_searcher.store.query_terms  # the shipped-statistics alternative
            shipped = ndcg(milvus_searcher, corpus)
            report["fusion"] = {"idf_from_milvus_text_match": {"ndcg@10": round(live, 4)},
                                "idf_from_local_fts_vocabulary": {"ndcg@10": round(shipped, 4)},
                                "idf_weight_mean_relative_difference": round(float(np.mean(differences)), 4),
                                "terms_compared": len(differences)}
        finally:
            local_searcher.close()
            milvus_searcher.close()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
