"""BEIR-format evaluation through the real engine: nDCG@10, Recall@100, MRR@10 and latency.

The corpus is written out as one text file per document (title, blank line, text) and
indexed like any folder, so the figures measure what users get, chunking included.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np


@dataclass
class BeirDataset:
    corpus: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_beir(directory: Path, split: str = "test") -> BeirDataset:
    corpus: dict[str, str] = {}
    with (directory / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            title = (doc.get("title") or "").strip()
            corpus[str(doc["_id"])] = f"{title}\n\n{doc.get('text', '')}" if title else doc.get("text", "")
    queries: dict[str, str] = {}
    with (directory / "queries.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            query = json.loads(line)
            queries[str(query["_id"])] = query["text"]
    qrels: dict[str, dict[str, int]] = {}
    with (directory / "qrels" / f"{split}.tsv").open(encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter="\t")
        for row in reader:
            if not row or row[0] == "query-id":
                continue
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    queries = {qid: text for qid, text in queries.items() if qid in qrels}
    return BeirDataset(corpus, queries, qrels)


def doc_file_name(doc_id: str) -> str:
    return quote(doc_id, safe="") + ".txt"


def doc_id_of(path: str) -> str:
    return unquote(Path(path).name[: -len(".txt")])


def write_corpus(dataset: BeirDataset, folder: Path) -> int:
    """Write each document as a text file (unchanged files are left alone); returns files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for doc_id, text in dataset.corpus.items():
        path = folder / doc_file_name(doc_id)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        path.write_text(text, encoding="utf-8")
        written += 1
    return written


def ndcg_at(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(rel / math.log2(i + 2) for i, rel in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranked: list[str], relevant: dict[str, int], k: int = 100) -> float:
    wanted = {doc for doc, rel in relevant.items() if rel > 0}
    return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0


def mrr_at(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    for i, doc in enumerate(ranked[:k]):
        if relevant.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def evaluate(
    dataset: BeirDataset, search: Callable[[str, int], list[str]], depth: int = 100
) -> dict[str, float]:
    """Run every query through `search(query, k) -> ranked doc ids` and average the metrics."""
    ndcg, recall, mrr, latency = [], [], [], []
    for qid, text in dataset.queries.items():
        start = time.perf_counter()
        ranked = search(text, depth)
        latency.append((time.perf_counter() - start) * 1000)
        relevant = dataset.qrels[qid]
        ndcg.append(ndcg_at(ranked, relevant))
        recall.append(recall_at(ranked, relevant, depth))
        mrr.append(mrr_at(ranked, relevant))
    return {
        "ndcg@10": round(float(np.mean(ndcg)), 4),
        "recall@100": round(float(np.mean(recall)), 4),
        "mrr@10": round(float(np.mean(mrr)), 4),
        "latency_ms_p50": round(float(np.percentile(latency, 50)), 2),
        "latency_ms_p95": round(float(np.percentile(latency, 95)), 2),
        "queries": len(latency),
    }
