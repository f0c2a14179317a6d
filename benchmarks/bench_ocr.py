"""OCR cost and quality: seconds per screenshot, scanned page and photo, peak memory, and the share
of a first index that OCR adds; Tesseract beside RapidOCR where it is installed.

What it measures
    A set built here, on the fly:
    - screenshots: PySide6 windows (a French installer page, a settings dialog, an error box, an
      English file dialog) rendered offscreen and grabbed (``--screenshots`` of them, cycling);
    - scanned pages: A4 pages of French and English prose typeset by fpdf2, rendered at 150 dpi,
      rotated by 0.5-1.5 degrees, given sensor noise, JPEG-compressed and saved as an image-only
      PDF (no text layer) (``--pages``);
    - photos: camera-like 12 MP JPEGs (smooth colour fields, texture, EXIF Make/Model) without any
      text (``--photos``; the issue's set is 200).
    Each is read by `indexer.ingest.ocr.task.ocr_file` in this process (one intra-op thread, as
    the OCR worker runs it): seconds per item (median and mean), and the characters recognised
    against the text drawn (difflib ratio, screenshots and pages). Peak RSS is this process's
    (ru_maxrss) after the OCR runs. Then the whole set plus ``--docs`` text notes is indexed by
    the real pipeline (text, embed, OCR, embed) into a fresh data dir, each phase timed: the share
    of the first index that OCR adds = OCR seconds / all seconds. Tesseract (``tesseract``, -l
    fra+eng, OMP_THREAD_LIMIT=1, psm 3) reads the same screenshots and page images where installed.

How to run (from the project root; the machine is shared: nice, and short runs)
    nice -n 10 python benchmarks/bench_ocr.py                      # 4 screenshots, 3 pages, 10 photos
    nice -n 10 python benchmarks/bench_ocr.py --photos 200 --pages 10 --screenshots 12

One JSON object goes to stdout; notes go to stderr.
"""

from __future__ import annotations

import argparse
import difflib
import io
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

LATIN_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
PAGE_TEXTS = [
    ("Contrat de location d'un logement meublé. Entre les soussignés, le bailleur et le locataire, "
     "il a été convenu ce qui suit. Le présent contrat a pour objet la location d'un logement situé "
     "au troisième étage. Le loyer mensuel est fixé à sept cent douze euros, charges comprises, "
     "payable d'avance le premier de chaque mois. Le dépôt de garantie s'élève à un mois de loyer."),
    ("Quarterly report on the water treatment plant. Throughput rose by four percent over the "
     "previous quarter while energy use per cubic metre fell. Two pumps were replaced in March. "
     "The filtration stage met every limit set by the permit, and no sample exceeded the threshold "
     "for turbidity. Maintenance costs stayed within the approved budget for the year."),
]
WINDOWS = [
    ("Installation de Findling", ["Bienvenue dans l'assistant d'installation",
                                  "Veuillez sélectionner le disque de destination",
                                  "Espace nécessaire : 412 Mo"], ["Précédent", "Suivant", "Annuler"]),
    ("Paramètres", ["Démarrer au démarrage de la session", "Mettre en pause sur batterie",
                    "Langue de l'interface : Français"], ["Appliquer", "Fermer"]),
    ("Erreur", ["Impossible d'ouvrir le fichier « facture-mars.pdf »",
                "Le fichier est utilisé par un autre programme."], ["Réessayer", "OK"]),
    ("Open File", ["Recent documents", "Invoice from the plumber, March 2024",
                   "Tax return draft (final).xlsx"], ["Cancel", "Open"]),
]


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- the set ---------------------------------------------------------------------------------------
def screenshots(folder: Path, count: int) -> list[tuple[Path, str]]:
    """App windows rendered offscreen by Qt and grabbed, with the text they show."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication, QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

    app = QApplication.instance() or QApplication([])
    made = []
    for index in range(count):
        title, lines, buttons = WINDOWS[index % len(WINDOWS)]
        dialog = QDialog()
        dialog.setWindowTitle(title)
        layout = QVBoxLayout(dialog)
        heading = QLabel(title)
        heading.setStyleSheet("font-size:18px; font-weight:600")
        layout.addWidget(heading)
        for line in lines:
            layout.addWidget(QLabel(line))
        row = QHBoxLayout()
        for name in buttons:
            row.addWidget(QPushButton(name))
        layout.addLayout(row)
        dialog.resize(800, 600)
        dialog.show()
        app.processEvents()
        path = folder / f"Screenshot from 2024-03-07 15-09-{index:02d}.png"
        dialog.grab().save(str(path))
        dialog.close()
        made.append((path, "\n".join([title, *lines, *buttons])))
    return made


def scanned_pages(folder: Path, count: int, seed: int = 7) -> tuple[Path, list[str]]:
    """An image-only PDF: typeset pages rendered at 150 dpi, rotated a little, with noise."""
    import pypdfium2 as pdfium
    from fpdf import FPDF
    from PIL import Image

    rng = np.random.default_rng(seed)
    typeset = FPDF(format="A4")
    typeset.add_font("DejaVu", fname=LATIN_FONT)
    texts = []
    for index in range(count):
        typeset.add_page()
        typeset.set_font("DejaVu", size=12)
        text = PAGE_TEXTS[index % len(PAGE_TEXTS)]
        typeset.multi_cell(170, 7, text + "\n\n" + text)
        texts.append(text + "\n" + text)
    source = pdfium.PdfDocument(bytes(typeset.output()))
    scan = FPDF(format="A4")
    for index in range(count):
        page = source[index]
        picture = page.render(scale=150 / 72).to_pil().convert("L")
        page.close()
        picture = picture.rotate(float(rng.uniform(0.5, 1.5)) * rng.choice([-1, 1]), fillcolor=255,
                                 resample=Image.Resampling.BICUBIC)
        pixels = np.asarray(picture, dtype=np.float32) + rng.normal(0, 18, (picture.height, picture.width))
        picture = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", quality=75)
        scan.add_page()
        scan.image(buffer, x=0, y=0, w=210, h=297)
    source.close()
    path = folder / "scanned-contract.pdf"
    scan.output(str(path))
    return path, texts


def photos(folder: Path, count: int, seed: int = 11) -> list[Path]:
    """Camera-like 12 MP photos without text: smooth colour fields, texture, EXIF of a camera."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Findling", "Bench Camera"
    made = []
    for index in range(count):
        small = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
        field = Image.fromarray(small).resize((4000, 3000), Image.Resampling.BICUBIC)
        texture = rng.normal(0, 10, (3000, 4000, 1))
        pixels = np.clip(np.asarray(field, dtype=np.float32) + texture, 0, 255).astype(np.uint8)
        path = folder / f"IMG_{2000 + index}.jpg"
        Image.fromarray(pixels).save(path, "JPEG", quality=85, exif=exif)
        made.append(path)
    return made


# -- measuring -------------------------------------------------------------------------------------
def accuracy(expected: str, found: str) -> float:
    squash = lambda text: " ".join(text.split())  # noqa: E731
    return round(difflib.SequenceMatcher(None, squash(expected), squash(found)).ratio(), 3)


def timed_reads(items: list[tuple[Path, str, str | None]]) -> tuple[list[float], list[float]]:
    from indexer.ingest.ocr.task import ocr_file

    seconds, scores = [], []
    for path, kind, expected in items:
        started = time.perf_counter()
        result = ocr_file(str(path), kind, 100)
        seconds.append(time.perf_counter() - started)
        if expected is not None:
            found = "\n".join(unit.text for unit in result.units())
            scores.append(accuracy(expected, found))
    return seconds, scores


def figures(seconds: list[float], scores: list[float] | None = None, per: int = 1) -> dict:
    per_item = [s / per for s in seconds]
    out = {"n": len(seconds) * per, "median_s": round(statistics.median(per_item), 3),
           "mean_s": round(statistics.fmean(per_item), 3)}
    if scores:
        out["char_accuracy"] = round(statistics.fmean(scores), 3)
    return out


def tesseract(items: list[tuple[Path, str]]) -> dict | None:
    exe = shutil.which("tesseract")
    if exe is None:
        return None
    languages = subprocess.run([exe, "--list-langs"], capture_output=True, text=True).stdout.split()
    lang = "+".join(x for x in ("fra", "eng") if x in languages) or "eng"
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    seconds, scores = [], []
    for path, expected in items:
        started = time.perf_counter()
        out = subprocess.run([exe, str(path), "stdout", "-l", lang], capture_output=True, text=True, env=env)
        seconds.append(time.perf_counter() - started)
        scores.append(accuracy(expected, out.stdout))
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return {"version": version, "languages": lang, **figures(seconds, scores)}


def page_images(pdf: Path, folder: Path) -> list[Path]:
    """The scanned PDF's pages as images at 150 dpi, for Tesseract (it reads no PDF)."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(pdf))
    out = []
    for index in range(len(document)):
        path = folder / f"page-{index + 1}.png"
        document[index].render(scale=150 / 72).to_pil().convert("L").save(path)
        out.append(path)
    document.close()
    return out


def first_index(folder: Path, data: Path, model: str) -> dict:
    """Index `folder` through the real pipeline, each phase timed."""
    from indexer.config import Config
    from indexer.datadir import DataDir
    from indexer.models.factory import open_embedder
    from indexer.models.resolution import resolve_model
    from indexer.write.pipeline import Indexer, Report

    config = Config(roots=[str(folder)], model=model, reranker="")
    embedder, _ = open_embedder(resolve_model(model), config)
    report = Report()
    times = {}
    with DataDir(data).writer_lock(), Indexer(DataDir(data), config, embedder) as indexer:
        started = time.perf_counter()
        report = indexer.run([str(folder)], phase="text")
        times["text_s"] = time.perf_counter() - started
        started = time.perf_counter()
        indexer.embed_pending(report)
        times["embed_s"] = time.perf_counter() - started
        started = time.perf_counter()
        indexer.ocr_pending(report)
        times["ocr_s"] = time.perf_counter() - started
        started = time.perf_counter()
        indexer.embed_pending(report)
        times["embed_ocr_text_s"] = time.perf_counter() - started
    total = sum(times.values())
    ocr_share = (times["ocr_s"] + times["embed_ocr_text_s"]) / total if total else 0.0
    return {**{k: round(v, 2) for k, v in times.items()}, "model": embedder.model_id,
            "files_read_by_ocr": report.ocr_read, "files_with_text": report.ocr_text,
            "ocr_share_of_first_index": round(ocr_share, 3)}


def measure(shots: list[tuple[str, str]], pdf: str, page_texts: list[str], camera: list[str]) -> dict:
    """The reads, timed, in a process of their own (one intra-op thread, as the OCR worker)."""
    from indexer.ingest.ocr.task import engine

    started = time.perf_counter()
    engine()  # built once, as the worker builds it: not counted per item
    build_s = time.perf_counter() - started
    shot_s, shot_acc = timed_reads([(Path(p), "image", text) for p, text in shots])
    pdf_s, pdf_acc = timed_reads([(Path(pdf), "pdf", "\n".join(page_texts))])
    photo_s, _ = timed_reads([(Path(p), "image", None) for p in camera])
    return {"build_s": round(build_s, 2), "screenshot": figures(shot_s, shot_acc),
            "scanned_page": figures(pdf_s, pdf_acc, per=len(page_texts)), "photo": figures(photo_s),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--screenshots", type=int, default=4)
    parser.add_argument("--pages", type=int, default=3)
    parser.add_argument("--photos", type=int, default=10)
    parser.add_argument("--docs", type=int, default=200, help="text notes beside them in the first index")
    parser.add_argument("--model", default="intfloat/multilingual-e5-small")
    parser.add_argument("--no-index", action="store_true", help="skip the first-index share")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-ocr-") as tmp:
        folder = Path(tmp) / "set"
        folder.mkdir()
        say("building the set…")
        shots = screenshots(folder, args.screenshots)
        pdf, page_texts = scanned_pages(folder, args.pages)
        camera = photos(folder, args.photos)
        say("reading the set in a fresh process (its peak memory is OCR's alone)…")
        context = multiprocessing.get_context("spawn")
        with context.Pool(1) as pool:
            measured = pool.apply(measure, ([(str(p), t) for p, t in shots], str(pdf), page_texts,
                                            [str(p) for p in camera]))
        out = {
            "machine": {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]},
            "engine": {"rapidocr": _version("rapidocr"), "onnxruntime": _version("onnxruntime"),
                       "threads": 1, "build_s": measured.pop("build_s")},
            **measured,
        }
        images = page_images(pdf, Path(tmp))
        theirs = tesseract([(p, t) for p, t in shots])
        if theirs is not None:
            pages = tesseract(list(zip(images, page_texts)))
            out["tesseract"] = {"screenshot": theirs, "scanned_page": pages}
        else:
            out["tesseract"] = "not installed"
        if not args.no_index:
            for index in range(args.docs):
                text = PAGE_TEXTS[index % len(PAGE_TEXTS)]
                (folder / f"note-{index:04d}.txt").write_text(f"Note {index}. {text}", encoding="utf-8")
            say("a first index of the set and the notes…")
            out["first_index"] = first_index(folder, Path(tmp) / "data", args.model)
            out["first_index"]["text_notes"] = args.docs
        print(json.dumps(out, ensure_ascii=False))


def _version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
