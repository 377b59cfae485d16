"""``WalStorage``: the engine's ``LogStorage`` and the replica's ``DurableLog``, on a WAL.

Reads are served from memory (the log is replayed once, at open); every write goes to the WAL
before it is visible. ``save`` makes one Ready durable with one fdatasync of the log (a
snapshot in the Ready adds the snapshot file's own syncs before it), except a save of a new
commit index alone, which is written without a sync (``synod.storage.wal``): the in-memory
commit index may then be ahead of the durable one, never the term, vote or entries. The
snapshot file is written (under its own name) before the WAL marker that names it, and counts
only once that marker is durable: a save with a snapshot is as atomic as one without.

Damage: ``open`` repairs what recovery can (rows 5 and 6 of ``synod.storage.recovery``): the
log comes back as its intact prefix with ``repair_until()`` set, ``wal.damage`` says what was
found, and the engine refuses to vote until its peers have refilled the log. What cannot be
repaired raises ``WalCorruption`` naming the file and offset: the node must stop.
"""

from __future__ import annotations

from collections.abc import Sequence

from synod.consensus.storage import MemoryStorage, bootstrap_state
from synod.core.ids import LogIndex
from synod.core.log import Entry, HardState, Membership, Snapshot
from synod.storage.disk import Disk
from synod.storage.records import SnapshotMarker
from synod.storage.recovery import LogState
from synod.storage.snapshot_file import read_snapshot, remove_other_snapshots, write_snapshot
from synod.storage.wal import Wal, WalConfig, needs_sync


class WalStorage(MemoryStorage):
    """A node's durable log: ``MemoryStorage``'s in-memory view, written through a WAL.

    Every write reaches the WAL (and is synced, bar a commit index alone) before the in-memory
    view changes, so what the engine reads is durable (a commit index may not be)."""

    def __init__(self, wal: Wal, state: LogState, snapshot: Snapshot) -> None:
        super().__init__()
        self.wal = wal
        assert state.base_index == snapshot.meta.index, "log and snapshot disagree"
        self._load(state.hard_state, snapshot, state.entries, state.repair_until)

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
            hard_state, snapshot = bootstrap_state(membership)
            storage.save(hard_state, snapshot=snapshot)
        return storage

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
        super().save(hard_state, entries, snapshot)
        if snapshot is not None:
            self._drop_covered(snapshot)

    def needs_sync(
        self, hard_state: HardState | None, entries: Sequence[Entry], snapshot: Snapshot | None
    ) -> bool:
        """Whether ``save`` of these would fdatasync (not for a commit index alone)."""
        return needs_sync(self.wal.hard_state, hard_state, bool(entries), snapshot is not None)

    def raise_commit(self, commit: LogIndex) -> None:
        """Restart rule for a durable state machine that applied past the log's commit index
        (which is saved without a sync, so a crash may lose it): the entries up to
        ``commit`` were committed when they applied, so the log's commit is raised to it."""
        hard_state = self.hard_state
        assert commit <= self.last_index(), f"commit {commit} past the log ({self.last_index()})"
        if commit > hard_state.commit:
            self.save(HardState(hard_state.term, hard_state.vote, commit))

    def compact(self, snapshot: Snapshot) -> None:
        """Save ``snapshot`` (taken locally), then drop the entries and segments it covers."""
        meta = snapshot.meta
        if meta.index <= self._snapshot.meta.index:
            return
        assert meta.index <= self.last_index(), "compacting past the end of the log"
        assert self.term(meta.index) == meta.term, "snapshot term disagrees with the log"
        write_snapshot(self.wal.disk, snapshot)
        self.wal.save(marker=SnapshotMarker(meta.index, meta.term, keeps_suffix=True))
        super().compact(snapshot)
        self._drop_covered(snapshot)

    def _drop_covered(self, snapshot: Snapshot) -> None:
        """Once the marker is durable: the segments and snapshot files it supersedes go."""
        meta = snapshot.meta
        self.wal.compact(meta.index)
        remove_other_snapshots(self.wal.disk, meta.index, meta.term)
