"""The memory budget of the current extraction worker, for extractors that can tell up front.

`indexer.ingest.workers` enforces the budget on every task (address-space limit and RSS watchdog);
an extractor that knows what it is about to inflate (a zip member's declared size, an image's
pixel count for OCR) calls `ensure_fits` first, so the file fails at once with a precise reason
instead of after minutes of work.
"""

from __future__ import annotations

_budget_bytes: int | None = None  # set in each worker process; None elsewhere (no budget)


class OverBudget(Exception):
    """The work cannot fit the budget; ``str(exc)`` is the reason to record."""


def set_memory_budget(memory_mb: int) -> None:
    global _budget_bytes
    _budget_bytes = memory_mb * 2**20 if memory_mb else None


def ensure_fits(need_bytes: int, what: str) -> None:
    """Raise OverBudget when `need_bytes` (an estimate of peak memory) exceeds the budget."""
    if _budget_bytes is not None and need_bytes > _budget_bytes:
        raise OverBudget(f"too large to index: {what}, more than the {_budget_bytes // 2**20} MB "
                         "extraction memory budget allows")
