"""The reranker's cost per query, with a cross-encoder of MiniLM-L6 size built on the fly.

No reranker checkpoint is reachable offline, so its quality cannot be measured here; its
cost can: a `BertForSequenceClassification` with the ms-marco-MiniLM-L-6-v2 shape (6 layers,
hidden 384, 12 heads, intermediate 1536; random weights, the bundled MiniLM's tokenizer) is
saved and loaded through the real sentence-transformers `CrossEncoder`, then scores the top
30 candidates (real SciFact passages) for SciFact queries, as `Searcher.rerank` does.

    python benchmarks/bench_rerank.py [--top 30] [--queries 20] [--max-length 320]

Prints JSON: pairs/s and milliseconds per query (the added latency of reranking).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from indexer.evaluate import load_beir
from indexer.models import bundled_model_path
from indexer.rerank import Reranker

ROOT = Path(__file__).resolve().parent.parent


def build_cross_encoder(directory: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                        intermediate_size=1536, max_position_embeddings=512, num_labels=1)
    BertForSequenceClassification(config).save_pretrained(directory)
    AutoTokenizer.from_pretrained(str(bundled_model_path())).save_pretrained(directory)
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=30, help="candidates reranked per query")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--max-length", type=int, default=320)
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    args = parser.parse_args()

    data = load_beir(args.dataset)
    passages = list(data.corpus.values())
    queries = list(data.queries.values())[: args.queries]
    with tempfile.TemporaryDirectory() as tmp:
        reranker = Reranker("minilm-l6-shaped", build_cross_encoder(Path(tmp) / "ce"),
                            max_length=args.max_length)
        reranker.score("warm up", passages[:4])
        rng = np.random.default_rng(0)
        timings = []
        for query in queries:
            candidates = [passages[i] for i in rng.choice(len(passages), args.top, replace=False)]
            started = time.perf_counter()
            reranker.score(query, candidates)
            timings.append(time.perf_counter() - started)
    per_query = np.array(timings)
    print(json.dumps({
        "pairs_per_query": args.top,
        "queries": len(queries),
        "max_length": args.max_length,
        "pairs_per_s": round(args.top * len(timings) / per_query.sum(), 1),
        "ms_per_query_p50": round(float(np.percentile(per_query, 50)) * 1000, 1),
        "ms_per_query_p95": round(float(np.percentile(per_query, 95)) * 1000, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
