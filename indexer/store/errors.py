"""What a shared search store can fail with: one plain message each, never a traceback."""

from __future__ import annotations


class StoreUnavailable(RuntimeError):
    """The shared store cannot be used (unreachable, not installed, locked, newer)."""


class StoreEmpty(StoreUnavailable):
    """The shared store holds no index yet."""


class StoreBusy(StoreUnavailable):
    """Another writer holds the shared index's lease."""
