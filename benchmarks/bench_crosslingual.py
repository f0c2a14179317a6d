"""Cross-lingual check: does hybrid search hurt German or Chinese questions over English text?

Keywords cannot help a German or Chinese question over English documents, and fusing a
useless keyword ranking into a good dense one can only hurt. This runs 27 SciFact test
claims, hand-translated to German and Chinese (`data/scifact_xling_queries.jsonl`), and
the English originals, against the whole English SciFact corpus, in dense and in hybrid
mode on the same index, and prints nDCG@10 / Recall@100 / MRR@10 per language and mode.

    python benchmarks/bench_crosslingual.py --model /path/to/multilingual-e5-small \
        [--data-dir DIR]   # reuse an index of SciFact built with that model, e.g. findling eval's
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from indexer.config import Config
from indexer.datadir import DataDir
from indexer.models.embedding import TorchEmbedder
from indexer.models.resolution import resolve_model
from indexer.search.evaluate import BeirDataset, doc_id_of, evaluate, load_beir, write_corpus
from indexer.search.searcher import Searcher
from indexer.write.pipeline import Indexer

ROOT = Path(__file__).resolve().parent.parent
QUERIES = Path(__file__).resolve().parent / "data" / "scifact_xling_queries.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="/work/models/multilingual-e5-small")
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    parser.add_argument("--data-dir", type=Path, help="an existing (or new) index of the data set")
    args = parser.parse_args()

    scifact = load_beir(args.dataset)
    translations = [json.loads(line) for line in QUERIES.read_text(encoding="utf-8").splitlines()]
    embedder = TorchEmbedder(resolve_model(args.model))
    data = DataDir(args.data_dir or Path(tempfile.mkdtemp(prefix="findling-xling-")))
    docs = data.path / "docs"
    write_corpus(scifact, docs)
    print(f"Indexing {len(scifact.corpus)} documents into {data.path} (skipped when current)…",
          file=sys.stderr)
    with data.writer_lock(), Indexer(data, Config(), embedder) as indexer:
        indexer.run([str(docs)])

    searcher = Searcher(data, embedder, Config())
    report: dict = {"queries": len(translations), "model": embedder.model_id}
    try:
        for language in ("en", "de", "zh"):
            queries = {t["_id"]: scifact.queries[t["_id"]] if language == "en" else t[language]
                       for t in translations}
            subset = BeirDataset(scifact.corpus, queries, {q: scifact.qrels[q] for q in queries})
            report[language] = {}
            for mode in ("dense", "keyword", "hybrid"):
                metrics = evaluate(subset, lambda q, k, m=mode: [
                    doc_id_of(r.path)
                    for r in searcher.search(q, k=k, mode=m, passages_per_file=0, mark_sentences=0)
                ])
                report[language][mode] = {key: metrics[key] for key in ("ndcg@10", "recall@100", "mrr@10")}
            report[language]["hybrid_minus_dense_ndcg@10"] = round(
                report[language]["hybrid"]["ndcg@10"] - report[language]["dense"]["ndcg@10"], 4)
    finally:
        searcher.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
