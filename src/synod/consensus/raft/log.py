"""The Raft log as one engine sees it: durable storage below, not-yet-persisted entries above.

::

    storage (durable)          unstable (handed out in Ready, persisted by the driver)
    [snapshot] e1 ... eK       eK+1 ... eN        (unstable may also hold a snapshot)
                  ^applied  ^committed    ^last

Invariants (asserted): applied <= committed <= last_index; a committed entry is never
truncated; unstable entries are contiguous and start right after what storage holds
(or after the unstable snapshot).
"""

from __future__ import annotations

from synod.consensus.storage import limit_size
from synod.core.engine import LogStorage
from synod.core.errors import LogCompacted, LogUnavailable
from synod.core.ids import NO_INDEX, NO_TERM, LogIndex, Term
from synod.core.log import Entry, Snapshot


class RaftLog:
    def __init__(self, storage: LogStorage) -> None:
        self.storage = storage
        self.unstable_snapshot: Snapshot | None = None
        self.unstable: list[Entry] = []
        self.unstable_offset = LogIndex(storage.last_index() + 1)
        snapshot_index = LogIndex(storage.first_index() - 1)
        self.committed = snapshot_index
        self.applied = snapshot_index

    # -- reading -------------------------------------------------------------------------------

    def first_index(self) -> LogIndex:
        if self.unstable_snapshot is not None:
            return LogIndex(self.unstable_snapshot.meta.index + 1)
        return self.storage.first_index()

    def last_index(self) -> LogIndex:
        if self.unstable:
            return self.unstable[-1].index
        if self.unstable_snapshot is not None:
            return self.unstable_snapshot.meta.index
        return self.storage.last_index()

    def last_term(self) -> Term:
        term = self.term(self.last_index())
        assert term is not None, "the last entry always has a term"
        return term

    def term(self, index: LogIndex) -> Term | None:
        """The term at ``index``, or None when it is compacted away or beyond the log."""
        if self.unstable and index >= self.unstable_offset:
            position = index - self.unstable_offset
            return self.unstable[position].term if position < len(self.unstable) else None
        snapshot = self.unstable_snapshot
        if snapshot is not None:
            if index == snapshot.meta.index:
                return snapshot.meta.term
            return None
        try:
            return self.storage.term(index)
        except (LogCompacted, LogUnavailable):
            return None

    def matches(self, index: LogIndex, term: Term) -> bool:
        return self.term(index) == term

    def entries(self, low: LogIndex, bytes_max: int, high: LogIndex | None = None) -> list[Entry]:
        """Entries in [low, high) (to the end by default), at least one if any exist.

        Raises LogCompacted when ``low`` is no longer held (the follower needs a snapshot)."""
        high = LogIndex(self.last_index() + 1) if high is None else high
        if low >= high:
            return []
        if low < self.first_index():
            raise LogCompacted(f"entries from {low} are compacted")
        stable_high = min(high, self.unstable_offset)
        result: list[Entry] = []
        if low < stable_high:
            result = self.storage.entries(low, LogIndex(stable_high), bytes_max)
            if len(result) < stable_high - low:
                return result
        if high > self.unstable_offset:
            start = max(low, self.unstable_offset) - self.unstable_offset
            result.extend(self.unstable[start : high - self.unstable_offset])
        return limit_size(result, bytes_max)

    def is_up_to_date(self, last_index: LogIndex, last_term: Term) -> bool:
        """Raft's election restriction: is a log ending at (last_term, last_index) as fresh?"""
        own_term = self.last_term()
        return last_term > own_term or (last_term == own_term and last_index >= self.last_index())

    def find_conflict_by_term(self, index: LogIndex, term: Term) -> tuple[LogIndex, Term]:
        """The last entry at or below ``index`` whose term is at most ``term``."""
        index = min(index, self.last_index())
        while True:
            own_term = self.term(index)
            if own_term is None:
                return index, NO_TERM
            if own_term <= term or index == NO_INDEX:
                return index, own_term
            index = LogIndex(index - 1)

    # -- writing -------------------------------------------------------------------------------

    def append(self, entries: list[Entry]) -> None:
        """Append contiguous entries, truncating any conflicting suffix of unstable entries."""
        if not entries:
            return
        first = entries[0].index
        assert first > self.committed, f"truncating committed entry {first} <= {self.committed}"
        assert first <= self.last_index() + 1, "appending with a gap"
        if first == self.unstable_offset + len(self.unstable):
            self.unstable.extend(entries)
        elif first <= self.unstable_offset:
            # Replacing entries that are already durable: the driver overwrites them.
            self.unstable_offset = first
            self.unstable = list(entries)
        else:
            del self.unstable[first - self.unstable_offset :]
            self.unstable.extend(entries)

    def maybe_append(
        self, prev_index: LogIndex, prev_term: Term, commit: LogIndex, entries: tuple[Entry, ...]
    ) -> LogIndex | None:
        """A leader's AppendEntries: the new last matching index, or None if prev mismatches."""
        if not self.matches(prev_index, prev_term):
            return None
        last_new = LogIndex(prev_index + len(entries))
        for position, entry in enumerate(entries):
            if not self.matches(entry.index, entry.term):
                assert entry.index > self.committed, "a leader conflicts with a committed entry"
                self.append(list(entries[position:]))
                break
        self.commit_to(min(commit, last_new))
        return last_new

    def commit_to(self, index: LogIndex) -> None:
        if index > self.committed:
            assert index <= self.last_index(), f"commit {index} beyond last {self.last_index()}"
            self.committed = index

    def restore(self, snapshot: Snapshot) -> None:
        """Replace the whole log with a leader's snapshot (persisted through the next Ready)."""
        assert snapshot.meta.index > self.committed
        self.unstable_snapshot = snapshot
        self.unstable = []
        self.unstable_offset = LogIndex(snapshot.meta.index + 1)
        self.committed = snapshot.meta.index

    # -- after the driver persisted a Ready ------------------------------------------------------

    def stable_to(self, index: LogIndex, term: Term) -> None:
        """Entries up to (index, term) are durable; ignore if they were replaced meanwhile."""
        if not self.unstable or index < self.unstable_offset:
            return
        if self.term(index) != term:
            return
        del self.unstable[: index + 1 - self.unstable_offset]
        self.unstable_offset = LogIndex(index + 1)

    def stable_snapshot_to(self, index: LogIndex) -> None:
        if self.unstable_snapshot is not None and self.unstable_snapshot.meta.index == index:
            self.unstable_snapshot = None

    def restored_to(self, index: LogIndex) -> None:
        """The state machine was replaced by a snapshot at ``index``."""
        assert index <= self.committed
        self.applied = max(self.applied, index)

    def applied_to(self, index: LogIndex) -> None:
        assert self.applied <= index <= self.committed, (self.applied, index, self.committed)
        self.applied = index
