"""An in-memory ``LogStorage``: what the engine reads, plus the writes a driver makes.

Tests and the simulator use it as a node's durable log. Its layout is one list whose first
element is a sentinel standing for the snapshot (index and term of the last compacted entry),
so ``entries[i - offset]`` is the entry at index ``i``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from synod.core.errors import LogCompacted, LogUnavailable
from synod.core.ids import NO_INDEX, LogIndex, Term
from synod.core.log import Entry, HardState, Membership, Snapshot, SnapshotMeta

BOOTSTRAP_INDEX = LogIndex(1)
BOOTSTRAP_TERM = Term(1)


class MemoryStorage:
    """Empty storage, for a node that joins an existing cluster; or, given the initial
    configuration, a new cluster's bootstrap state.

    Bootstrap is a snapshot at index 1, term 1, holding the configuration and an empty state
    machine, identical on every founding member. Because the configuration lives in a
    snapshot that no log replays, a node that joins later with empty storage always learns
    it the one way that cannot go wrong: the leader must send it that snapshot.
    """

    def __init__(self, membership: Membership | None = None) -> None:
        hard_state, snapshot = HardState(), Snapshot()
        if membership is not None:
            hard_state, snapshot = bootstrap_state(membership)
        self.hard_state = hard_state
        self._snapshot = snapshot
        self._entries: list[Entry] = [Entry(snapshot.meta.index, snapshot.meta.term)]
        self._repair_until = NO_INDEX

    def _load(
        self,
        hard_state: HardState,
        snapshot: Snapshot,
        entries: Sequence[Entry],
        repair_until: LogIndex = NO_INDEX,
    ) -> None:
        """Replace the contents wholesale with a recovered log (entries follow the snapshot)."""
        meta = snapshot.meta
        assert not entries or entries[0].index == meta.index + 1, "entries must follow the snapshot"
        self.hard_state = hard_state
        self._snapshot = snapshot
        self._entries = [Entry(meta.index, meta.term), *entries]
        self._repair_until = repair_until
        self._note_progress()

    # -- LogStorage (read side) --------------------------------------------------------------

    def initial_state(self) -> tuple[HardState, Membership]:
        return self.hard_state, self._snapshot.meta.membership

    def first_index(self) -> LogIndex:
        return LogIndex(self._entries[0].index + 1)

    def last_index(self) -> LogIndex:
        return self._entries[-1].index

    def term(self, index: LogIndex) -> Term:
        offset = self._entries[0].index
        if index < offset:
            raise LogCompacted(f"index {index} is compacted (snapshot at {offset})")
        if index > self.last_index():
            raise LogUnavailable(f"index {index} is past the last index {self.last_index()}")
        return self._entries[index - offset].term

    def entries(self, low: LogIndex, high: LogIndex, bytes_max: int) -> list[Entry]:
        offset = self._entries[0].index
        if low <= offset:
            raise LogCompacted(f"index {low} is compacted (snapshot at {offset})")
        if high > self.last_index() + 1:
            raise LogUnavailable(f"index {high - 1} is past the last index {self.last_index()}")
        return limit_size(self._entries[low - offset : high - offset], bytes_max)

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def repair_until(self) -> LogIndex:
        return self._repair_until

    def _note_progress(self) -> None:
        if self._repair_until and self.last_index() >= self._repair_until:
            self._repair_until = NO_INDEX

    # -- writes, made by the driver after a Ready ---------------------------------------------

    def save(
        self,
        hard_state: HardState | None = None,
        entries: Sequence[Entry] = (),
        snapshot: Snapshot | None = None,
    ) -> None:
        """One Ready's writes, in the order recovery expects: a snapshot received from the
        leader (it replaces the whole log), then entries (replacing any conflicting suffix),
        then the hard state. The single write primitive: subclasses that persist override it
        (and ``compact``), and the convenience writers below all come through here."""
        if snapshot is not None:
            meta = snapshot.meta
            assert meta.index >= self._snapshot.meta.index, "snapshot older than the one held"
            self._snapshot = snapshot
            self._entries = [Entry(meta.index, meta.term)]
        if entries:
            self._append(entries)
        if hard_state is not None:
            self.hard_state = hard_state
        self._note_progress()

    def _append(self, entries: Sequence[Entry]) -> None:
        first = entries[0].index
        offset = self._entries[0].index
        assert first > offset, f"appending compacted index {first} (snapshot at {offset})"
        assert first <= self.last_index() + 1, f"gap: appending {first} after {self.last_index()}"
        del self._entries[first - offset :]
        self._entries.extend(entries)
        assert self._entries[-1].index - offset == len(self._entries) - 1, "log not contiguous"

    def set_hard_state(self, hard_state: HardState) -> None:
        self.save(hard_state=hard_state)

    def append(self, entries: Iterable[Entry]) -> None:
        """Append contiguous entries, replacing any conflicting suffix."""
        self.save(entries=tuple(entries))

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        """Replace the whole log with a snapshot received from the leader."""
        self.save(snapshot=snapshot)

    def compact(self, snapshot: Snapshot) -> None:
        """Save ``snapshot`` (taken locally) and drop the entries it covers."""
        meta = snapshot.meta
        offset = self._entries[0].index
        if meta.index <= offset:
            return
        assert meta.index <= self.last_index(), "compacting past the end of the log"
        assert self.term(meta.index) == meta.term, "snapshot term disagrees with the log"
        self._snapshot = snapshot
        self._entries = [Entry(meta.index, meta.term), *self._entries[meta.index - offset + 1 :]]

    def all_entries(self) -> list[Entry]:
        """Every entry held (not the snapshot sentinel): for invariant checks."""
        return self._entries[1:]


def bootstrap_state(membership: Membership) -> tuple[HardState, Snapshot]:
    """A founding member's first durable state: see ``MemoryStorage``."""
    snapshot = Snapshot(SnapshotMeta(BOOTSTRAP_INDEX, BOOTSTRAP_TERM, membership))
    return HardState(BOOTSTRAP_TERM, commit=BOOTSTRAP_INDEX), snapshot


def limit_size(entries: list[Entry], bytes_max: int) -> list[Entry]:
    """The longest prefix under ``bytes_max``, but never empty if ``entries`` is not."""
    total = 0
    for count, entry in enumerate(entries):
        total += entry.size_bytes()
        if total > bytes_max and count > 0:
            return entries[:count]
    return entries
