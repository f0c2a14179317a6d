"""Does "good match" mean what it says? SciFact test claims, and queries no abstract answers.

A corpus subset (every document a test claim is judged relevant to, plus `--limit` others, drawn
with a fixed seed; the machine is shared, so the whole 5,183 abstracts are optional) is indexed
through the real pipeline with the chosen model, then searched in hybrid mode without a reranker,
as the CLI and the app do by default. Figures:

- `relevant_top_hit_good`: of the claims whose top hit is a relevant abstract, the share whose top
  hit is marked "good" (target ≥ 0.9);
- `irrelevant_top_hit_weak`: of the claims whose top hit is not relevant, the share marked "weak";
- `off_corpus_no_good_match`: of the queries in `data/off_corpus_queries.txt` (nonsense words and
  everyday searches no abstract answers, in six languages), the share with no good match (target ≥ 0.9);
- with `--translated`, the same first figure for the German and Chinese claims of
  `data/scifact_xling_queries.jsonl` over the English abstracts;
- nDCG@10 and MRR@10 on the subset, so a calibration change that costs ranking quality shows.

    python benchmarks/bench_relevance.py                          # the bundled all-MiniLM-L6-v2
    python benchmarks/bench_relevance.py --model /work/me5 --e5 --translated --queries 60 --limit 60

`--e5` says the model directory holds multilingual-e5-small under another name (the stand-in): it is
recorded under that model's id and gets the E5 prefixes ("query: ", "passage: ").
The index is kept under `--cache` (one per model and subset), so a second run only searches.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from indexer.config import Config
from indexer.datadir import DataDir
from indexer.models.embedding import BUNDLED_MODEL_ID, TorchEmbedder
from indexer.models.resolution import resolve_model
from indexer.search.evaluate import BeirDataset, doc_id_of, load_beir, mrr_at, ndcg_at, write_corpus
from indexer.search.scores import GOOD
from indexer.search.searcher import Searcher
from indexer.write.pipeline import Indexer

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def subset(dataset: BeirDataset, limit: int | None, queries: int | None = None, seed: int = 0) -> BeirDataset:
    """The first `queries` test claims (those translated in `data/` first; all with None), the
    documents they are judged relevant to, and `limit` others (all with None)."""
    if queries is not None:
        translated = [row["_id"] for row in translated_queries() if row["_id"] in dataset.queries]
        order = list(dict.fromkeys([*translated, *dataset.queries]))[:queries]
        dataset = BeirDataset(dataset.corpus, {q: dataset.queries[q] for q in order},
                              {q: dataset.qrels[q] for q in order})
    if limit is None:
        return dataset
    relevant = {doc for judged in dataset.qrels.values() for doc in judged}
    others = sorted(set(dataset.corpus) - relevant)
    random.Random(seed).shuffle(others)
    keep = relevant | set(others[:limit])
    return BeirDataset({d: t for d, t in dataset.corpus.items() if d in keep}, dataset.queries, dataset.qrels)


def off_corpus_queries() -> list[str]:
    lines = (DATA / "off_corpus_queries.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def translated_queries() -> list[dict]:
    lines = (DATA / "scifact_xling_queries.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


E5_SMALL = "intfloat/multilingual-e5-small"


def open_embedder(model: str, e5: bool, threads: int = 0) -> TorchEmbedder:
    """`model`; with `e5`, a directory that holds multilingual-e5-small under another name (the
    stand-in): recorded under that model's id, with its prefixes, so its measured scale applies."""
    info = resolve_model(model)
    if e5:
        info = dataclasses.replace(info, model_id=E5_SMALL, query_prefix="query: ",
                                   passage_prefix="passage: ")
    return TorchEmbedder(info, threads=threads)


def build_index(data: DataDir, docs: Path, corpus: BeirDataset, embedder: TorchEmbedder) -> float:
    """Index the subset, written to `docs` (outside the data dir, which is never indexed); skipped
    when current. The seconds it took."""
    started = time.perf_counter()
    write_corpus(corpus, docs)
    with data.writer_lock(), Indexer(data, Config(), embedder) as indexer:
        indexer.run([str(docs)])
    return time.perf_counter() - started


def top_hit_figures(searcher: Searcher, queries: dict[str, str], qrels: dict[str, dict[str, int]],
                    corpus: set[str]) -> dict:
    """Relevant top hits marked good, irrelevant ones marked weak, nDCG@10 and MRR@10."""
    relevant_good, relevant_top, weak_wrong, wrong_top = 0, 0, 0, 0
    ndcg, mrr = [], []
    for qid, text in queries.items():
        results = searcher.search(text, k=10, mode="hybrid", rerank=False, passages_per_file=0,
                                  mark_sentences=0)
        ranked = [doc_id_of(r.path) for r in results]
        judged = {d: g for d, g in qrels[qid].items() if d in corpus}
        ndcg.append(ndcg_at(ranked, judged))
        mrr.append(mrr_at(ranked, judged))
        if not results:
            continue
        good = results[0].match == "good"
        if judged.get(ranked[0], 0) > 0:
            relevant_top += 1
            relevant_good += good
        else:
            wrong_top += 1
            weak_wrong += not good
    return {"queries": len(queries), "relevant_top_hits": relevant_top,
            "relevant_top_hit_good": round(relevant_good / max(relevant_top, 1), 3),
            "irrelevant_top_hits": wrong_top,
            "irrelevant_top_hit_weak": round(weak_wrong / max(wrong_top, 1), 3),
            "ndcg@10": round(float(np.mean(ndcg)), 4), "mrr@10": round(float(np.mean(mrr)), 4)}


def no_good_match_figures(searcher: Searcher, queries: list[str]) -> dict:
    said_so, leaks = 0, []
    for text in queries:
        results = searcher.search(text, k=10, mode="hybrid", rerank=False, passages_per_file=0,
                                  mark_sentences=0)
        good = [r for r in results if r.match == "good"]
        said_so += not good
        if good:
            leaks.append({"query": text, "top": doc_id_of(good[0].path),
                          "relevance": round(good[0].relevance, 3)})
    return {"queries": len(queries), "off_corpus_no_good_match": round(said_so / max(len(queries), 1), 3),
            "good_matches_for": leaks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=BUNDLED_MODEL_ID)
    parser.add_argument("--e5", action="store_true",
                        help=f"the model directory holds {E5_SMALL} (the stand-in): its id and prefixes")
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    parser.add_argument("--limit", type=int, default=500,
                        help="documents besides the judged ones (-1: the whole corpus)")
    parser.add_argument("--queries", type=int, default=None,
                        help="only this many test claims (the translated ones first) and their documents")
    parser.add_argument("--translated", action="store_true", help="also the German and Chinese claims")
    parser.add_argument("--threads", type=int, default=0,
                        help="PyTorch threads (1 on a loaded machine: spinning threads cost more than help)")
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "findling-bench-relevance",
                        help="where the index is kept (not under ~/.cache: the default excludes skip caches)")
    args = parser.parse_args()

    scifact = load_beir(args.dataset)
    corpus = subset(scifact, None if args.limit < 0 else args.limit, args.queries)
    embedder = open_embedder(args.model, args.e5, args.threads)
    slug = "".join(c if c.isalnum() else "-" for c in embedder.model_id).strip("-")
    name = f"{args.limit}" + (f"-q{args.queries}" if args.queries else "")
    data = DataDir(args.cache / f"{slug}--{name}")
    data.path.mkdir(parents=True, exist_ok=True)
    print(f"Indexing {len(corpus.corpus)} abstracts into {data.path} (skipped when current)…",
          file=sys.stderr)
    index_seconds = build_index(data, args.cache / f"docs--{name}", corpus, embedder)

    searcher = Searcher(data, embedder, Config())
    report: dict = {"model": embedder.model_id, "documents": len(corpus.corpus), "good_line": GOOD,
                    "index_seconds": round(index_seconds, 1)}
    try:
        documents = set(corpus.corpus)
        report["scifact_test"] = top_hit_figures(searcher, corpus.queries, corpus.qrels, documents)
        report["off_corpus"] = no_good_match_figures(searcher, off_corpus_queries())
        if args.translated:
            for language in ("de", "zh"):
                rows = [row for row in translated_queries() if row["_id"] in corpus.queries]
                queries = {row["_id"]: row[language] for row in rows}
                report[f"scifact_test_{language}"] = top_hit_figures(
                    searcher, queries, {q: corpus.qrels[q] for q in queries}, documents)
    finally:
        searcher.close()
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
