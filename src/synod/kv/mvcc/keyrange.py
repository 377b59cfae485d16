"""etcd's key-range rules, shared by Range, DeleteRange, Compare and the txn duplicate check.

- ``range_end`` empty: exactly ``key``.
- ``range_end`` ``b"\\x00"``: every key >= ``key`` (so key ``b"\\x00"`` with it means all keys).
- otherwise the half-open ``[key, range_end)``; ``range_end <= key`` is empty.
"""

from __future__ import annotations

from dataclasses import dataclass

FROM_KEY = b"\x00"


@dataclass(frozen=True, slots=True)
class KeyRange:
    """``[start, end)``; ``end`` None means unbounded above."""

    start: bytes
    end: bytes | None

    def contains(self, key: bytes) -> bool:
        return self.start <= key and (self.end is None or key < self.end)

    def is_empty(self) -> bool:
        return self.end is not None and self.end <= self.start


def key_range(key: bytes, range_end: bytes) -> KeyRange:
    """The keys a request's ``key`` and ``range_end`` name."""
    if not range_end:
        return KeyRange(key, key + b"\x00")
    if range_end == FROM_KEY:
        return KeyRange(key, None)
    return KeyRange(key, range_end)


def prefix_end(prefix: bytes) -> bytes:
    """The ``range_end`` that selects every key starting with ``prefix`` (clients compute this)."""
    for position in range(len(prefix) - 1, -1, -1):
        if prefix[position] < 0xFF:
            return prefix[:position] + bytes([prefix[position] + 1])
    return FROM_KEY
