"""Stop and pause for the indexer's runs, asked from any thread and obeyed at commit points.

The pipeline calls `checkpoint()` between two transactions, never inside one: there a run
waits out a pause (after `before_wait`, e.g. saving the vector file so readers stay current)
and learns whether to stop. A stopped run returns what it committed; the next run resumes,
since every batch is its own transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

POLL_SECONDS = 1.0  # how often a paused run asks again whether it may go on


class RunControl:
    """`stop()` ends a run at its next commit point; while `pause_reason()` names a reason, a run
    waits at its next commit point. `on_pause(reason)` is told each time round a wait, and
    `on_resume()` once it ends; `wait(seconds)` sleeps and may return early when woken."""

    def __init__(
        self,
        pause_reason: Callable[[], str | None] = lambda: None,
        wait: Callable[[float], object] | None = None,
        on_pause: Callable[[str], None] = lambda reason: None,
        on_resume: Callable[[], None] = lambda: None,
    ) -> None:
        self._stop = threading.Event()
        self.pause_reason = pause_reason
        self._wait = wait or self._stop.wait
        self.on_pause = on_pause
        self.on_resume = on_resume

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def checkpoint(self, before_wait: Callable[[], None] = lambda: None) -> bool:
        """At a commit point: True to go on (once any pause is over), False to stop the run here."""
        if self.stopping:
            return False
        reason = self.pause_reason()
        if reason is None:
            return True
        before_wait()
        while reason is not None and not self.stopping:
            self.on_pause(reason)
            self._wait(POLL_SECONDS)
            reason = self.pause_reason()
        if self.stopping:
            return False
        self.on_resume()
        return True
