"""The reranker's cost per query, with a cross-encoder of MiniLM-L6 size built on the fly.

No reranker checkpoint is reachable offline, so its quality cannot be measured here; its
cost can: a `BertForSequenceClassification` with the ms-marco-MiniLM-L-6-v2 shape (6 layers,
hidden 384, 12 heads, intermediate 1536; random weights, the bundled MiniLM's tokenizer) is
saved and loaded through the real sentence-transformers `CrossEncoder`, then scores the top
30 candidates (real SciFact passages) for SciFact queries, as `Searcher.rerank` does.

    python benchmarks/bench_rerank.py [--top 30] [--queries 20] [--max-length 320] [--no-onnx]

Prints JSON: pairs/s and milliseconds per query (the added latency of reranking), on PyTorch
and on the int8 ONNX export of the same model (same queries, same passages, same run).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from indexer.models.embedding import bundled_model_path
from indexer.models.rerank import TorchReranker
from indexer.search.evaluate import load_beir

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


def time_queries(reranker, queries: list[str], passages: list[str], top: int) -> np.ndarray:  # noqa: ANN001
    """Seconds per query for scoring `top` random passages (the same ones for every backend)."""
    rng = np.random.default_rng(0)
    reranker.score("warm up", passages[:4])
    timings = []
    for query in queries:
        candidates = [passages[i] for i in rng.choice(len(passages), top, replace=False)]
        started = time.perf_counter()
        reranker.score(query, candidates)
        timings.append(time.perf_counter() - started)
    return np.array(timings)


def summary(per_query: np.ndarray, top: int) -> dict:
    return {"pairs_per_s": round(top * len(per_query) / per_query.sum(), 1),
            "ms_per_query_p50": round(float(np.percentile(per_query, 50)) * 1000, 1),
            "ms_per_query_p95": round(float(np.percentile(per_query, 95)) * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=30, help="candidates reranked per query")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--max-length", type=int, default=320)
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    parser.add_argument("--no-onnx", action="store_true", help="time PyTorch only")
    args = parser.parse_args()

    data = load_beir(args.dataset)
    passages = list(data.corpus.values())
    queries = list(data.queries.values())[: args.queries]
    report: dict = {"pairs_per_query": args.top, "queries": len(queries), "max_length": args.max_length}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FINDLING_MODELS_DIR"] = str(Path(tmp) / "models")  # the export stays in here
        path = build_cross_encoder(Path(tmp) / "ce")
        reranker = TorchReranker("minilm-l6-shaped", path, max_length=args.max_length)
        report["torch"] = summary(time_queries(reranker, queries, passages, args.top), args.top)
        if not args.no_onnx:
            from indexer.models.onnx_export import export_reranker
            from indexer.models.onnx_runtime import open_reranker

            export_reranker("minilm-l6-shaped", path, "int8")
            onnx, note = open_reranker(reranker)
            report["onnx_variant"] = getattr(getattr(onnx, "onnx", None), "variant", note)
            report["onnx"] = summary(time_queries(onnx, queries, passages, args.top), args.top)
            report["onnx_speedup"] = round(report["onnx"]["pairs_per_s"] / report["torch"]["pairs_per_s"], 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
