"""``WalStorage``: the engine's ``LogStorage`` and the replica's ``DurableLog``, on a WAL.

Reads are served from memory (the log is replayed once, at open); every write goes to the WAL
before it is visible. ``save`` makes one Ready durable with one fdatasync of the log (a
snapshot in the Ready adds the snapshot file's own syncs before it). The snapshot file is
written (under its own name) before the WAL marker that names it, and counts only once that
marker is durable: a save with a snapshot is as atomic as one without.

Refusal: ``open`` raises ``WalCorruption`` (naming the file and offset) instead of returning
a storage built on a damaged log, so a node whose log is corrupt has nothing to vote or
acknowledge with. Repairing it from peers is the caller's job.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from synod.core.errors import LogCompacted, LogUnavailable
from synod.core.ids import LogIndex, Term
from synod.core.log import Entry, HardState, Membership, Snapshot, SnapshotMeta
from synod.storage.disk import Disk
from synod.storage.records import SnapshotMarker
from synod.storage.recovery import LogState
from synod.storage.snapshot_file import read_snapshot, remove_other_snapshots, write_snapshot
from synod.storage.wal import Wal, WalConfig

BOOTSTRAP_INDEX = LogIndex(1)
BOOTSTRAP_TERM = Term(1)


class WalStorage:
    """A node's durable log. Layout in memory as ``MemoryStorage``: ``_entries[0]`` is a
    sentinel for the snapshot, so ``_entries[i - offset]`` is the entry at index ``i``."""

    def __init__(self, wal: Wal, state: LogState, snapshot: Snapshot) -> None:
        self.wal = wal
        self.hard_state = state.hard_state
        self._snapshot = snapshot
        self._entries = [Entry(state.base_index, state.base_term), *state.entries]
        assert self._entries[0].index == snapshot.meta.index, "log and snapshot disagree"

    @classmethod
    def open(
        cls, disk: Disk, config: WalConfig | None = None, membership: Membership | None = None
    ) -> WalStorage:
        """Recover from ``disk``; an empty disk given ``membership`` is bootstrapped the way
        ``MemoryStorage`` bootstraps a founding member."""
        wal, state = Wal.open(disk, config)
        storage = cls(wal, state, read_snapshot(disk, state.base_index, state.base_term))
        remove_other_snapshots(disk, state.base_index, state.base_term)
        fresh = storage.last_index() == 0 and storage.hard_state == HardState()
        if membership is not None and fresh:
            bootstrap = Snapshot(SnapshotMeta(BOOTSTRAP_INDEX, BOOTSTRAP_TERM, membership))
            storage.save(HardState(BOOTSTRAP_TERM, commit=BOOTSTRAP_INDEX), snapshot=bootstrap)
        return storage

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
        return _limit_size(self._entries[low - offset : high - offset], bytes_max)

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def all_entries(self) -> list[Entry]:
        return self._entries[1:]

    # -- writes: durable before they return ----------------------------------------------------

    def save(
        self,
        hard_state: HardState | None = None,
        entries: Sequence[Entry] = (),
        snapshot: Snapshot | None = None,
    ) -> None:
        """One Ready's hard state, received snapshot and entries: one fdatasync of the log."""
        marker = None
        if snapshot is not None:
            meta = snapshot.meta
            assert meta.index >= self._snapshot.meta.index, "snapshot older than the one held"
            write_snapshot(self.wal.disk, snapshot)
            marker = SnapshotMarker(meta.index, meta.term, keeps_suffix=False)
        self.wal.save(hard_state, entries, marker)
        if snapshot is not None:
            self._snapshot = snapshot
            self._entries = [Entry(snapshot.meta.index, snapshot.meta.term)]
        self._append_in_memory(entries)
        if hard_state is not None:
            self.hard_state = hard_state
        if snapshot is not None:
            self._drop_covered(snapshot)

    def _append_in_memory(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        offset = self._entries[0].index
        del self._entries[entries[0].index - offset :]
        self._entries.extend(entries)
        assert self._entries[-1].index - offset == len(self._entries) - 1, "log not contiguous"

    def set_hard_state(self, hard_state: HardState) -> None:
        self.save(hard_state)

    def append(self, entries: Iterable[Entry]) -> None:
        """Append entries, replacing any conflicting suffix (entries must be contiguous)."""
        self.save(entries=tuple(entries))

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        """Replace the whole log with a snapshot received from the leader."""
        self.save(snapshot=snapshot)

    def compact(self, snapshot: Snapshot) -> None:
        """Save ``snapshot`` (taken locally), then drop the entries and segments it covers."""
        meta = snapshot.meta
        offset = self._entries[0].index
        if meta.index <= offset:
            return
        assert meta.index <= self.last_index(), "compacting past the end of the log"
        assert self.term(meta.index) == meta.term, "snapshot term disagrees with the log"
        write_snapshot(self.wal.disk, snapshot)
        self.wal.save(marker=SnapshotMarker(meta.index, meta.term, keeps_suffix=True))
        self._snapshot = snapshot
        self._entries = [Entry(meta.index, meta.term), *self._entries[meta.index - offset + 1 :]]
        self._drop_covered(snapshot)

    def _drop_covered(self, snapshot: Snapshot) -> None:
        """Once the marker is durable: the segments and snapshot files it supersedes go."""
        meta = snapshot.meta
        self.wal.compact(meta.index)
        remove_other_snapshots(self.wal.disk, meta.index, meta.term)


def _limit_size(entries: list[Entry], bytes_max: int) -> list[Entry]:
    """The longest prefix under ``bytes_max``, but never empty if ``entries`` is not."""
    total = 0
    for count, entry in enumerate(entries):
        total += entry.size_bytes()
        if total > bytes_max and count > 0:
            return entries[:count]
    return entries
