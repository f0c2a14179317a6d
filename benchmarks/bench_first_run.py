"""The first experience of a new user, measured through the command line only.

In a fresh HOME (empty data, config, model and hub caches), offline (a new network namespace with
`unshare -n` where it works, and HF_HUB_OFFLINE=1 always), on a multilingual folder built from what
installed packages ship, it runs `findling index --phase text`, then `findling index`, then
`findling search --json` as separate processes, and prints JSON:

- `keyword_searchable_s`: the text phase done (a keyword search then finds a known word);
- `model_ready_s`: a converted or exported model appeared in the models dir (None: none was made);
- `fully_embedded_s`: `findling index` done, every chunk embedded (`status --json`);
- `cold_search_s`: the median (and all) of 3 fresh `findling search` processes, wall and CPU seconds
  (CPU is the figure to compare on a loaded machine);
- `cross_language`: per query set, the rank of the relevant file in the top 10 (None: not found);
- `torch_imported`: whether the index or a search process imported torch/transformers/
  sentence-transformers/huggingface_hub (PYTHONPROFILEIMPORTTIME of an extra run).

The folder (`--folder-only` prints its description and stops):
- `qt/`: PySide6's Qt translations (`PySide6/Qt/translations/qtbase_*.qm`, read here): one note per
  Qt dialog (context), each note in a different language, holding that language's translations of
  the dialog's messages. Its cross-language queries are the English originals of a message of each
  dialog; the relevant file is that dialog's note (the only one with those messages).
- `scifact/`: when `../shared/data/scifact` (BEIR SciFact) is there, the abstracts judged relevant
  to the 27 claims of `benchmarks/data/scifact_xling_queries.jsonl` (German and Chinese, hand
  translated) plus `--distractors` other abstracts; the German and Chinese claims are its queries.

Backends: `auto` (the default path) always; `torch` as well, in its own fresh HOME, when the
findling under test can import torch (the `torch` extra) and `--torch-model` names a model that
PyTorch can run (the converted default has no PyTorch weights; `/work/me5`-style float32 stand-in
of the same weights, built by `../shared/tools/build_me5_small.py`).

    python benchmarks/bench_first_run.py [--findling .venv/bin/findling] [--model M]
        [--torch-model DIR] [--torch-findling F] [--queries 8] [--venv-footprint]

`--venv-footprint` (minutes; not part of pytest) first builds two fresh venvs from this project,
`pip install PROJECT` and `pip install 'PROJECT[torch]'`, and reports `du -sm`, whether
`find_spec("torch")` is None, and the install time; the first-run measurement then uses the plain
venv's findling (and the torch venv's for `--backend torch`) unless `--findling` is given.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
XLING = Path(__file__).resolve().parent / "data" / "scifact_xling_queries.jsonl"
SCIFACT = ROOT.parent / "shared" / "data" / "scifact"
HEAVY = ("torch", "transformers", "sentence_transformers", "huggingface_hub")
# one language per Qt dialog, so every note is the only one with its messages
QT_LANGUAGES = ("de", "fr", "es", "ja", "zh_CN", "ru", "ar", "ko", "pl", "it", "uk", "tr", "cs", "pt_BR",
                "hu", "da")


# -- the folder ------------------------------------------------------------------------------------


def read_qm(path: Path) -> list[tuple[str, str, str]]:
    """(context, source, translation) of a compiled Qt translation file (.qm)."""
    data = path.read_bytes()
    if data[:16] != bytes.fromhex("3cb86418caef9c95cd211cbf60a1bddd"):
        raise ValueError(f"{path} is not a .qm file")
    position, messages = 16, b""
    while position + 5 <= len(data):
        tag, length = data[position], struct.unpack(">I", data[position + 1:position + 5])[0]
        if tag == 0x69:  # the messages section
            messages = data[position + 5:position + 5 + length]
        position += 5 + length
    found, current, position = [], {}, 0
    while position < len(messages):
        tag = messages[position]
        position += 1
        if tag == 1:  # end of a message
            if current.get(3) and current.get(6):
                found.append((current.get(7, ""), current[6], current[3]))
            current = {}
        elif tag in (3, 6, 7, 8):  # translation (UTF-16), source, context, comment (UTF-8)
            length = struct.unpack(">I", messages[position:position + 4])[0]
            position += 4
            if length == 0xFFFFFFFF:
                continue
            raw = messages[position:position + length]
            position += length
            current[tag] = raw.decode("utf-16-be" if tag == 3 else "utf-8", "replace")
        elif tag == 5:  # obsolete hash
            position += 4
        elif tag in (2, 4):  # obsolete fields with no payload in current Qt
            continue
        else:
            raise ValueError(f"{path}: unknown message tag {tag}")
    return found


def _clean(text: str) -> str:
    return " ".join(text.replace("&", "").split())


def qt_translations() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "Qt" / "translations"
    return folder if folder.is_dir() else None


def build_qt_notes(out: Path, notes: int) -> tuple[list[dict], str]:
    """One note per Qt dialog in its own language; queries: an English original of each note."""
    folder = qt_translations()
    if folder is None:
        return [], "no PySide6 translations found"
    per_language = {lang: read_qm(folder / f"qtbase_{lang}.qm") for lang in QT_LANGUAGES
                    if (folder / f"qtbase_{lang}.qm").exists()}
    usable = lambda s, t: len(s) >= 20 and "%" not in s and "<" not in s and _clean(t) != _clean(s)  # noqa: E731
    contexts: dict[str, int] = {}
    for messages in per_language.values():
        for context, source, translation in messages:
            if usable(source, translation):
                contexts[context] = contexts.get(context, 0) + 1
    # dialogs with the most messages that every language translates, in a fixed order
    chosen: list[str] = []
    for context, _ in sorted(contexts.items(), key=lambda kv: (-kv[1], kv[0])):
        related = any(context.lower().startswith(c.lower()) or c.lower().startswith(context.lower())
                      for c in chosen)  # QXml and QXmlStream share messages: keep one
        if not related and len(chosen) < notes:
            chosen.append(context)
    queries, out_dir = [], out / "qt"
    out_dir.mkdir(parents=True)
    for context, lang in zip(chosen, per_language, strict=False):
        pairs = sorted({(_clean(s), _clean(t)) for c, s, t in per_language[lang]
                        if c == context and usable(s, t)})
        if len(pairs) < 3:
            continue
        name = f"{context.lower()}-{lang}.txt"
        (out_dir / name).write_text("\n".join(t for _, t in pairs) + "\n", encoding="utf-8")
        source = max(pairs, key=lambda p: (len(p[0]), p[0]))[0]  # the longest English original
        queries.append({"query": source, "relevant": [f"qt/{name}"], "language": f"en→{lang}"})
    return queries, (f"{len(queries)} notes from PySide6's {folder} (qtbase_*.qm), one Qt dialog each in "
                     f"its own language; queries: the dialog's longest English original")


def build_scifact(out: Path, distractors: int) -> tuple[dict[str, list[dict]], str]:
    """The abstracts relevant to the cross-language claims, plus distractors; German and Chinese queries."""
    if not XLING.exists():
        return {}, f"{XLING} is missing"
    if not (SCIFACT / "corpus.jsonl").exists():
        return {}, f"{SCIFACT} is missing (BEIR SciFact): no SciFact queries"
    claims = [json.loads(line) for line in XLING.read_text(encoding="utf-8").splitlines() if line.strip()]
    qrels: dict[str, set[str]] = {}
    for line in (SCIFACT / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        query, doc, score = line.split("\t")[:3]
        if int(score) > 0:
            qrels.setdefault(query, set()).add(doc)
    relevant = set().union(*(qrels.get(c["_id"], set()) for c in claims))
    folder = out / "scifact"
    folder.mkdir(parents=True)
    written = extra = 0
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as corpus:
        for line in corpus:
            doc = json.loads(line)
            if doc["_id"] not in relevant:
                if extra >= distractors:
                    continue
                extra += 1
            text = f"{doc.get('title', '')}\n\n{doc['text']}\n"
            (folder / f"{doc['_id']}.txt").write_text(text, encoding="utf-8")
            written += 1
    sets = {lang: [{"query": c[lang], "relevant": [f"scifact/{d}.txt" for d in sorted(qrels[c["_id"]])],
                    "language": f"{lang}→en"} for c in claims if c["_id"] in qrels and c.get(lang)]
            for lang in ("de", "zh")}
    return sets, (f"{written} SciFact abstracts ({len(relevant)} relevant to {XLING.name}'s claims, "
                  f"{extra} others) from {SCIFACT}")


def build_folder(out: Path, notes: int, distractors: int) -> tuple[dict[str, list[dict]], dict]:
    qt, qt_about = build_qt_notes(out, notes)
    scifact, scifact_about = build_scifact(out, distractors)
    files = [p for p in out.rglob("*") if p.is_file()]
    digest = hashlib.sha256(b"".join(sorted(p.read_bytes() for p in files))).hexdigest()[:16]
    about = {"files": len(files), "bytes": sum(p.stat().st_size for p in files), "sha256": digest,
             "qt": qt_about, "scifact": scifact_about}
    return {"qt_en_to_other": qt, **{f"scifact_{k}_to_en": v for k, v in scifact.items()}}, about


# -- running findling ------------------------------------------------------------------------------


def offline_prefix() -> tuple[list[str], str]:
    """`unshare -n` (no network at all) where this user may create a network namespace."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n"], "unshare -n (no network namespace) + HF_HUB_OFFLINE=1"
    return [], "HF_HUB_OFFLINE=1 only (unshare -n is not allowed here)"


class FreshHome:
    """A fresh HOME and the environment of a new user in it, offline."""

    def __init__(self, base: Path, findling: Path, model: str | None, backend: str) -> None:
        self.home = base / "home"
        self.home.mkdir(parents=True)
        self.findling = findling
        self.prefix, self.offline = offline_prefix()
        keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "QT_QPA_PLATFORM")
        self.env = {k: v for k, v in os.environ.items() if k in keep}
        self.env.update({"HOME": str(self.home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                         "PYTHONDONTWRITEBYTECODE": "1"})
        self.options = [*(["--model", model] if model else []), "--backend", backend]

    def models_dir(self) -> Path:
        return self.home / ".local" / "share" / "findling-models"  # platformdirs' default on Linux

    def run(self, *args: str, importtime: bool = False,
            timeout: float = 3600) -> tuple[float, subprocess.CompletedProcess]:
        """(wall seconds, result); the child's CPU seconds go to `self.cpu` (runs are sequential)."""
        env = {**self.env, **({"PYTHONPROFILEIMPORTTIME": "1"} if importtime else {})}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = subprocess.run([*self.prefix, str(self.findling), *self.options, *args], env=env,
                                capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        took = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu = round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2)
        return took, result


def imported_heavy(stderr: str) -> list[str]:
    """The HEAVY top-level modules in a PYTHONPROFILEIMPORTTIME trace."""
    found = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip().split(".")[0]
            if name in HEAVY:
                found.add(name)
    return sorted(found)


def watch_models_dir(folder: Path, start: float, stop: threading.Event, seen: dict) -> None:
    """Records when the first model folder with a manifest appears (installs are atomic renames)."""
    while not stop.is_set():
        if folder.is_dir() and any(folder.glob("*/manifest.json")):
            seen["model_ready_s"] = round(time.perf_counter() - start, 2)
            return
        stop.wait(0.2)


def rank_of(payload: dict, relevant: list[str], docs: Path) -> int | None:
    wanted = {str(docs / r) for r in relevant}
    for position, result in enumerate(payload.get("results", []), 1):
        if result["path"] in wanted:
            return position
    return None


def first_run(findling: Path, model: str | None, backend: str, docs: Path, query_sets: dict[str, list[dict]],
              queries: int, keyword: str) -> dict:
    base = Path(tempfile.mkdtemp(prefix=f"findling-first-run-{backend}-"))
    try:
        user = FreshHome(base, findling, model, backend)
        report: dict = {"backend": backend, "model": model or "(the default)", "offline": user.offline,
                        "findling": str(findling)}
        stop, seen = threading.Event(), {}
        start = time.perf_counter()
        watcher = threading.Thread(target=watch_models_dir, args=(user.models_dir(), start, stop, seen),
                                   daemon=True)
        watcher.start()
        took, text = user.run("index", str(docs), "--phase", "text", importtime=True)
        report["text_phase"] = {"exit": text.returncode, "seconds": round(took, 2), "cpu_s": user.cpu,
                                "torch_imported": imported_heavy(text.stderr)}
        if text.returncode != 0:
            report["error"] = _tail(text.stderr)
            return report
        _, found = user.run("search", keyword, "--mode", "keyword", "--json")
        hits = json.loads(found.stdout)["results"] if found.returncode == 0 else []
        report["keyword_searchable_s"] = round(took, 2) if hits else None
        took_all, full = user.run("index", importtime=True)
        report["fully_embedded_s"] = round(took + took_all, 2)
        report["embed_phase"] = {"exit": full.returncode, "seconds": round(took_all, 2), "cpu_s": user.cpu,
                                 "torch_imported": imported_heavy(full.stderr)}
        stop.set()
        watcher.join()
        report["model_ready_s"] = seen.get("model_ready_s")
        if full.returncode != 0:
            report["error"] = _tail(full.stderr)
            return report
        _, status = user.run("status", "--json")
        report["status"] = {k: v for k, v in json.loads(status.stdout).items()
                            if k in ("indexed", "skipped", "errors", "chunks", "chunks_embedded",
                                     "chunks_pending", "model")}
        cold, cpu = [], []
        for _ in range(3):
            took, result = user.run("search", "invoice from the plumber", "--json")
            cold.append(round(took, 3))
            cpu.append(user.cpu)
        report["cold_search_s"] = {"median": statistics.median(cold), "runs": cold, "exit": result.returncode,
                                   "cpu_median": statistics.median(cpu), "cpu_runs": cpu}
        _, traced = user.run("search", "invoice from the plumber", "--json", importtime=True)
        report["search_torch_imported"] = imported_heavy(traced.stderr)
        report["torch_imported"] = bool(report["text_phase"]["torch_imported"]
                                        or report["embed_phase"]["torch_imported"]
                                        or report["search_torch_imported"])
        report["cross_language"] = {}
        for name, items in query_sets.items():
            ranks = []
            for item in items[:queries]:
                _, result = user.run("search", item["query"], "--json", "--k", "10")
                ranks.append(rank_of(json.loads(result.stdout), item["relevant"], docs)
                             if result.returncode == 0 else "error")
            numeric = [r for r in ranks if isinstance(r, int)]
            report["cross_language"][name] = {
                "queries": len(ranks), "at_rank_1": sum(r == 1 for r in numeric),
                "in_top_10": len(numeric),
                "mrr@10": round(sum(1 / r for r in numeric) / max(len(ranks), 1), 4),
                "ranks": ranks}
        return report
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _tail(text: str, lines: int = 6) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith("import time:"))[-1500:]


def can_import_torch(findling: Path) -> bool:
    python = _python_of(findling)
    code = "import importlib.util as u, sys; sys.exit(u.find_spec('torch') is None)"
    return python is not None and subprocess.run([str(python), "-c", code]).returncode == 0


def _python_of(findling: Path) -> Path | None:
    """The interpreter of a console script (its shebang), or the one beside it."""
    try:
        first = findling.read_text(encoding="utf-8", errors="replace").splitlines()[0]
    except (OSError, IndexError):
        return None
    if first.startswith("#!") and Path(first[2:].strip().split()[0]).exists():
        return Path(first[2:].strip().split()[0])
    beside = findling.parent / "python"
    return beside if beside.exists() else None


# -- the install footprint -------------------------------------------------------------------------


def footprint(base: Path, extra: str) -> dict:
    venv = base / (extra or "plain")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    target = f"{ROOT}[{extra}]" if extra else str(ROOT)
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", target], capture_output=True,
                             text=True)
    took = time.perf_counter() - start
    if install.returncode != 0:
        return {"extra": extra or None, "error": _tail(install.stderr)}
    du = subprocess.run(["du", "-sm", str(venv)], capture_output=True, text=True, check=True)
    probe = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import importlib.util as u; print(u.find_spec('torch') is None)"],
                           capture_output=True, text=True, check=True)
    return {"extra": extra or None, "venv": str(venv), "du_sm": int(du.stdout.split()[0]),
            "torch_absent": probe.stdout.strip() == "True", "install_s": round(took, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findling", type=Path, help="the findling to test (default: beside this Python)")
    parser.add_argument("--model", help="embedding model (default: the app's own default)")
    parser.add_argument("--torch-model", help="a model PyTorch can run, for the --backend torch comparison")
    parser.add_argument("--torch-findling", type=Path,
                        help="the findling (with the torch extra) for the torch run (default: --findling's)")
    parser.add_argument("--backends", default="auto,torch",
                        help="comma-separated; torch runs only where the torch extra is installed")
    parser.add_argument("--queries", type=int, default=8, help="cross-language queries per set")
    parser.add_argument("--notes", type=int, default=12, help="Qt dialog notes")
    parser.add_argument("--distractors", type=int, default=60,
                        help="SciFact abstracts beside the relevant ones")
    parser.add_argument("--venv-footprint", action="store_true",
                        help="first build fresh venvs with and without the torch extra (minutes)")
    parser.add_argument("--keep-venvs", type=Path, help="build the footprint venvs here and keep them")
    parser.add_argument("--folder-only", action="store_true", help="build the folder, describe it, stop")
    args = parser.parse_args()

    report: dict = {"cpu_count": os.cpu_count(), "load_average": os.getloadavg()}
    findling = args.findling or Path(sys.executable).parent / "findling"
    torch_findling = args.torch_findling or findling
    if args.venv_footprint:
        base = args.keep_venvs or Path(tempfile.mkdtemp(prefix="findling-venvs-"))
        base.mkdir(parents=True, exist_ok=True)
        report["footprint"] = [footprint(base, ""), footprint(base, "torch")]
        if args.findling is None and "venv" in report["footprint"][0]:
            findling = Path(report["footprint"][0]["venv"]) / "bin" / "findling"
            if "venv" in report["footprint"][1] and args.torch_findling is None:
                torch_findling = Path(report["footprint"][1]["venv"]) / "bin" / "findling"
    docs = Path(tempfile.mkdtemp(prefix="findling-first-run-docs-"))
    try:
        query_sets, report["folder"] = build_folder(docs, args.notes, args.distractors)
        if args.folder_only:
            report["queries"] = query_sets
            print(json.dumps(report, indent=2, ensure_ascii=False))
            return
        keyword = "Klempner"  # a word no file contains would find nothing: use one that one file has
        some_file = next((p for p in sorted(docs.rglob("*.txt"))), None)
        if some_file is not None:
            words = [w for w in some_file.read_text(encoding="utf-8").split() if w.isalpha() and len(w) > 5]
            keyword = max(words, key=len) if words else keyword
        report["runs"] = []
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            if backend == "torch":
                if not can_import_torch(torch_findling):
                    report["runs"].append({"backend": "torch", "skipped": "the torch extra is not installed"})
                    continue
                if not args.torch_model:
                    report["runs"].append({"backend": "torch", "skipped": "no --torch-model given"})
                    continue
                print(f"First run on PyTorch ({torch_findling})…", file=sys.stderr)
                report["runs"].append(first_run(torch_findling, args.torch_model, "torch", docs, query_sets,
                                                args.queries, keyword))
            else:
                print(f"First run, backend {backend} ({findling})…", file=sys.stderr)
                report["runs"].append(first_run(findling, args.model, backend, docs, query_sets, args.queries,
                                                keyword))
    finally:
        shutil.rmtree(docs, ignore_errors=True)
    report["load_average_after"] = os.getloadavg()
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
