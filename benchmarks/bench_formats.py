"""Office formats: files per second and peak RSS per format, on generated files of realistic size.

    nice python benchmarks/bench_formats.py [--files 8] [--scale 1.0] [--no-baselines]

Each format's files are made first (tests/office_files.py: XlsxWriter, xlwt, python-pptx, stdlib),
then extracted by `indexer.ingest.extract.extract` in a fresh process of its own, so the peak RSS
is that format's (`peak_rss_mb`, with `start_rss_mb` after the imports). Baselines in the same
run, where installed: python-calamine on the same workbooks and python-pptx on the same decks, and
"million_cells", a 1,048,576 × 1 sheet: openpyxl read-only stops at the row budget, calamine loads
the whole sheet first. Prints one JSON object. The default run takes about a minute on 2 cores.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def make_files(folder: Path, files: int, scale: float) -> dict[str, list[Path]]:
    """`files` files per format; sizes like a real office folder's (scale 1: a 10k-cell workbook,
    a 30-slide deck, a 20-page RTF letter, a mail with a workbook and a note, a 300-message mailbox)."""
    import office_files as make

    rows, slides, paragraphs, messages = (max(1, int(n * scale)) for n in (1_700, 30, 120, 300))
    attached = make.make_xlsx(folder / "attached.xlsx", rows=max(1, rows // 4)).read_bytes()
    note = make.sentence(1, 400).encode()
    makers = {
        "xlsx": lambda p: make.make_xlsx(p, rows=rows),
        "xls": lambda p: make.make_xls(p, rows=rows),
        "ods": lambda p: make.make_ods(p, rows=rows),
        "pptx": lambda p: make.make_pptx(p, slides=slides),
        "odp": lambda p: make.make_odp(p, slides=slides),
        "rtf": lambda p: make.make_rtf(p, paragraphs=paragraphs),
        "eml": lambda p: make.make_eml(p, {"figures.xlsx": attached, "notes.txt": note}),
        "mbox": lambda p: make.make_mbox(p, messages=messages),
    }
    made = {}
    for kind, maker in makers.items():
        made[kind] = [maker(folder / f"{kind}-{n}.{kind}") for n in range(files)]
    return made


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _peak_mb() -> float:
    """This process's peak RSS: VmHWM on Linux (ru_maxrss there keeps the parent's from before exec)."""
    try:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _reader(name: str):  # noqa: ANN202 - a function of a path returning the characters read
    if name == "findling":
        from indexer.ingest.extract import extract

        def read(path: Path) -> int:
            extraction = extract(path)
            attached = sum(len(u.text) for a in extraction.attachments if a.extraction
                           for u in a.extraction.units)
            return sum(len(u.text) for u in extraction.units) + attached
        return read
    if name == "calamine":
        import python_calamine

        def read(path: Path) -> int:
            book = python_calamine.CalamineWorkbook.from_path(str(path))
            return sum(len("\t".join(map(str, row))) for sheet in book.sheet_names
                       for row in book.get_sheet_by_name(sheet).iter_rows())
        return read
    if name == "python-pptx":
        import pptx

        def read(path: Path) -> int:
            chars = 0
            for slide in pptx.Presentation(str(path)).slides:
                chars += sum(len(s.text_frame.text) for s in slide.shapes if s.has_text_frame)
                if slide.has_notes_slide:
                    chars += len(slide.notes_slide.notes_text_frame.text)
            return chars
        return read
    raise ValueError(name)


def worker(reader: str, paths: list[str]) -> None:
    """Extract `paths` with `reader` in this process; print files/s and memory as JSON."""
    read = _reader(reader)
    read(Path(paths[0]))  # warm: imports and first-use costs are not the steady rate
    start_rss = _rss_mb()
    started = time.perf_counter()
    chars = sum(read(Path(p)) for p in paths)
    took = time.perf_counter() - started
    print(json.dumps({"files": len(paths), "seconds": round(took, 3),
                      "files_per_s": round(len(paths) / took, 2),
                      "chars_per_file": chars // len(paths), "start_rss_mb": round(start_rss, 1),
                      "peak_rss_mb": round(_peak_mb(), 1)}))


def measure(reader: str, paths: list[Path]) -> dict:
    done = subprocess.run([sys.executable, __file__, "--worker", reader, *map(str, paths)],
                          capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    result = json.loads(done.stdout)
    result["mb_per_file"] = round(sum(p.stat().st_size for p in paths) / len(paths) / 2**20, 3)
    return result


def million_cells(folder: Path) -> Path:
    import xlsxwriter

    path = folder / "million.xlsx"
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("Log")
    for row in range(1_048_576):
        sheet.write_number(row, 0, row)
    book.close()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=8, help="files per format")
    parser.add_argument("--scale", type=float, default=1.0, help="size of each file, relative to the default")
    parser.add_argument("--no-baselines", action="store_true", help="findling's readers only")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1:])
        return
    report: dict = {"cpu_count": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
                    "files": args.files, "scale": args.scale, "formats": {}, "baselines": {}}
    with tempfile.TemporaryDirectory(prefix="bench-formats-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        made = make_files(folder, args.files, args.scale)
        report["generate_s"] = round(time.perf_counter() - started, 1)
        for kind, paths in made.items():
            report["formats"][kind] = measure("findling", paths)
        if not args.no_baselines:
            for reader, kind in (("calamine", "xlsx"), ("calamine", "ods"), ("calamine", "xls"),
                                 ("python-pptx", "pptx")):
                report["baselines"][f"{reader} {kind}"] = measure(reader, made[kind])
            big = million_cells(folder)
            report["million_cells"] = {reader: measure(reader, [big, big])
                                       for reader in ("findling", "calamine")}
    report["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
