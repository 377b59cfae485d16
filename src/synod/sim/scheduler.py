"""The scheduler owns all ordering: a priority queue of events keyed by (time, sequence).

Two events at one time run in the order they were scheduled, so the order depends only on the
seed. Every executed event is folded into a SHA-256 trace hash: the same seed gives the same
hash, and any divergence in ordering or content shows up as a different one.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable
from typing import Any

Action = Callable[..., None]


class Scheduler:
    def __init__(self) -> None:
        self.now = 0
        self._sequence = 0
        self._queue: list[tuple[int, int, str, Action, tuple[Any, ...]]] = []
        self._trace = hashlib.sha256()
        self.executed = 0

    def __len__(self) -> int:
        return len(self._queue)

    def at(self, time: int, label: str, action: Action, *args: Any) -> None:
        """Run ``action(*args)`` at virtual ``time`` (never in the past)."""
        assert time >= self.now, f"scheduling {label} at {time}, before now ({self.now})"
        self._sequence += 1
        heapq.heappush(self._queue, (time, self._sequence, label, action, args))

    def after(self, delay: int, label: str, action: Action, *args: Any) -> None:
        self.at(self.now + delay, label, action, *args)

    def run_until(self, end: int, events_max: int, stop: Callable[[], bool]) -> bool:
        """Run events up to and including time ``end`` or until ``stop()``.

        Returns False if ``events_max`` ran out first (a runaway run)."""
        queue = self._queue
        trace = self._trace
        for _ in range(events_max):
            if not queue or queue[0][0] > end or stop():
                self.now = max(self.now, end)
                return True
            time, _sequence, label, action, args = heapq.heappop(queue)
            assert time >= self.now, "time went backwards"
            self.now = time
            self.executed += 1
            trace.update(f"{time} {label}\n".encode())
            action(*args)
        return False

    def note(self, text: str) -> None:
        """Fold an outcome (not an event) into the trace, e.g. a fault's randomly chosen target."""
        self._trace.update(f"= {text}\n".encode())

    def trace_hash(self) -> str:
        return self._trace.hexdigest()
