"""Explicit model downloads: the only network use Findling makes, and only when the user asks
(`findling models download NAME`, or Settings → Download). Nothing else probes the hub.

A repository that ships an ONNX export (`onnx/model.onnx`) is checked by embedding a sample with
ONNX Runtime and then used as it is; one without needs the `torch` extra, to run on PyTorch or
to be exported (`findling export-onnx`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from indexer.models.embedding import model_info, torch_installed

SAMPLE = ["passage: A short sentence to check that the model runs.", "query: does it run?"]


class DownloadFailed(RuntimeError):
    """The download did not complete (no network, an unknown repository, a full disk…)."""


@dataclass(frozen=True)
class Downloaded:
    model_id: str
    path: Path
    runs_on: str  # "onnx" (a checked ONNX file it ships), "torch", or "" (neither can run it here)
    note: str  # what the user should know next


def download_model(name: str, tqdm_class: Any | None = None,
                   snapshot: Callable[..., str] | None = None) -> Downloaded:
    """Fetch the hub repository `name` into the local cache, with progress, and check it runs.

    `snapshot` defaults to `huggingface_hub.snapshot_download` (tests pass a local fake).
    """
    if "/" not in name or name.startswith(("/", "~", ".")):
        raise DownloadFailed(f"{name!r} is not a model hub id (like intfloat/multilingual-e5-small).")
    if snapshot is None:
        from huggingface_hub import snapshot_download as snapshot
    try:
        path = Path(snapshot(name, tqdm_class=tqdm_class))
    except Exception as exc:  # noqa: BLE001 - network, auth, disk: one plain message
        raise DownloadFailed(f"Could not download {name}: {type(exc).__name__}: {exc}") from exc
    info = model_info(name, path)
    from indexer.models.onnx_runtime import shipped_onnx

    shipped = shipped_onnx(path)
    if shipped is not None:
        problem = _check_onnx(info)
        if problem is None:
            return Downloaded(name, path, "onnx", f"Downloaded {name}; it runs on ONNX Runtime "
                              f"({shipped.file.relative_to(path)}).")
        shipped_problem = f"its ONNX file failed a check ({problem})"
    else:
        shipped_problem = "it ships no ONNX file"
    if torch_installed():
        return Downloaded(name, path, "torch", f"Downloaded {name}; {shipped_problem}, so it runs on "
                          f"PyTorch. `findling export-onnx {name}` makes the fast ONNX path.")
    return Downloaded(name, path, "", f"Downloaded {name}, but {shipped_problem}: running or exporting it "
                      "needs the torch extra (pip install 'findling[torch]').")


def _check_onnx(info) -> str | None:  # noqa: ANN001 - a ModelInfo
    """None when the shipped ONNX file embeds a sample into finite, normalised vectors."""
    from indexer.models.onnx_runtime import OnnxUnavailable, open_embedder

    try:
        embedder, note = open_embedder(info, backend="onnx")
        if note:
            return note
        vectors = embedder.encode_passages(SAMPLE)
    except (OnnxUnavailable, RuntimeError, ValueError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if vectors.shape[0] != len(SAMPLE) or not np.isfinite(vectors).all():
        return "its output is not one finite vector per text"
    if not np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3):
        return "its vectors are not normalised"
    return None
