"""The write-ahead log: preallocated segment files of checksummed records, group commit.

``save`` writes everything of one Ready (a snapshot marker, then entries, then the hard
state, in that order so a torn write can never keep a commit index without its entries) as
ONE write followed by ONE fdatasync. Overwriting a conflicting suffix needs no truncation
record: replay lets an entry at index i discard every entry at or above i (see
``synod.storage.recovery`` for the whole decision table).

A segment is preallocated to ``segment_bytes_max`` (zeros, which never decode as a record).
A save that does not fit rolls to a new segment; a save larger than a whole segment gets a
segment of its own that simply grows, because a save is never split (splitting would make it
non-atomic). A new segment starts with its header, the hard state and the snapshot marker, so
every older segment may go once compaction covers it; creation and removal fsync the
directory.

A save whose only change is a higher commit index (same term, same vote, no entries, no
snapshot marker: ``needs_sync`` is False) is written but not synced, as etcd does: the commit
index is a fact its peers hold too, and nothing sent after it promises that it is durable. It
is written at the end of the log without moving the write offset: the next save writes over it
(adding the latest hard state if it has none) and syncs, so the unsynced bytes are only ever
one write from the synced end, and a crash leaves a torn tail (row 3 of the recovery table) or
an older commit index, never a gap before valid records. Rolling to a new segment syncs a
pending one where it lies first: no segment but the last may end unsynced (rows 5 and 6). The
restart rule that makes a lost commit index safe for a durable state machine (which may have
applied past it) belongs to the runtime: commit = max(log commit, applied index).

A write or sync that raises leaves the disk in an unknown state (a retried fdatasync may
succeed for pages the kernel already dropped), so the ``Wal`` refuses every later write with
``WalFailed``; reopening, which reads the disk back through recovery, is the only way on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from synod.core.errors import ConfigError, SynodError
from synod.core.ids import NO_INDEX, LogIndex
from synod.core.log import Entry, HardState
from synod.storage.disk import Disk
from synod.storage.records import Record, RepairMarker, SegmentHeader, SnapshotMarker, encode
from synod.storage.recovery import (
    Damage,
    LogState,
    SegmentInfo,
    recover,
    segment_name,
    segment_sequence,
)

REPAIR_TEMPORARY = "wal-repair.tmp"

SEGMENT_BYTES_MIN = 4096
"""Smaller segments would hold little beyond their own start records."""


def needs_sync(
    previous: HardState, hard_state: HardState | None, has_entries: bool, has_marker: bool
) -> bool:
    """Whether a save must be fdatasynced: anything but a commit index alone must be.

    ``previous`` is the last hard state saved (synced or not: its term and vote always were,
    since a change of either is synced)."""
    if has_entries or has_marker:
        return True
    if hard_state is None:
        return False
    return hard_state.term != previous.term or hard_state.vote != previous.vote


class WalFailed(SynodError):
    """A write or sync failed earlier: this ``Wal`` object takes no more writes."""


@dataclass(frozen=True, slots=True)
class WalConfig:
    segment_bytes_max: int = 4 << 20
    """Preallocated size of a segment; a save that would cross it opens a new segment."""

    def __post_init__(self) -> None:
        if self.segment_bytes_max < SEGMENT_BYTES_MIN:
            raise ConfigError(f"segment_bytes_max must be >= {SEGMENT_BYTES_MIN}")


class Wal:
    """Appends to the last segment; knows just enough of the log to write headers and compact.

    Invariant: ``segments`` is non-empty, in sequence order, and the last one is written at
    its ``end_offset``. The log content itself lives with the caller (``WalStorage``)."""

    def __init__(
        self, disk: Disk, config: WalConfig, state: LogState, segments: list[SegmentInfo]
    ) -> None:
        self.disk = disk
        self.config = config
        self.segments = segments
        self.hard_state = state.hard_state
        self.base_index = state.base_index
        self.base_term = state.base_term
        self.last_index = state.last_index()
        self.repair_until = state.repair_until
        self.damage: Damage | None = None
        """What recovery found and this open repaired, if anything (for the node's log)."""
        self.failure: BaseException | None = None
        """Set by a write or sync that raised: the log takes no more writes (``WalFailed``)."""
        self.pending_bytes = 0
        """Length of a hard state written without a sync at ``write_offset`` (not counted in
        it): the next save writes over it and carries the latest hard state, so what is not
        synced is always one write starting at the synced end, as for any save in flight."""
        self.syncs = 0
        """fdatasyncs of segments made by ``save`` (for tests and measurements)."""

    @classmethod
    def open(cls, disk: Disk, config: WalConfig | None = None) -> tuple[Wal, LogState]:
        """Recover the log (raising ``WalCorruption`` when it is damaged before its tail)."""
        recovered = recover(disk)
        wal = cls(disk, config or WalConfig(), recovered.state, recovered.segments)
        if recovered.damage is not None:
            wal._rewrite(recovered.state, recovered.next_sequence)
            wal.damage = recovered.damage
        if not wal.segments:
            wal._create_segment(b"")
        return wal, recovered.state

    def _rewrite(self, state: LogState, sequence: int) -> None:
        """Replace every segment by one holding the repaired ``state`` (recovery's rows 5 and
        6). It is written whole under a temporary name and renamed; it starts with a restart
        marker, so until the old segments are all removed, recovery removes them (row 15)."""
        first_index = LogIndex(state.base_index + 1)
        records: list[Record] = [
            SegmentHeader(sequence, first_index),
            RepairMarker(state.repair_until, restart=True),
            state.hard_state,
            SnapshotMarker(state.base_index, state.base_term, keeps_suffix=True),
            *state.entries,
        ]
        content = b"".join(encode(record) for record in records)
        disk = self.disk
        disk.write(REPAIR_TEMPORARY, 0, content)
        disk.truncate(REPAIR_TEMPORARY, max(self.config.segment_bytes_max, len(content)))
        disk.sync(REPAIR_TEMPORARY)
        disk.rename(REPAIR_TEMPORARY, segment_name(sequence))
        disk.sync_directory()
        for name in disk.list_names():
            number = segment_sequence(name)
            if number is not None and number < sequence:
                disk.remove(name)
        disk.sync_directory()
        self.segments = [SegmentInfo(sequence, first_index, len(content))]

    @property
    def segment_names(self) -> list[str]:
        return [segment_name(segment.sequence) for segment in self.segments]

    @property
    def write_offset(self) -> int:
        """Where the next record goes in the last segment."""
        return self.segments[-1].end_offset

    def save(
        self,
        hard_state: HardState | None = None,
        entries: Sequence[Entry] = (),
        marker: SnapshotMarker | None = None,
    ) -> None:
        """Make one Ready durable with a single write and a single fdatasync (no fdatasync when
        it only raises the commit index: ``needs_sync``)."""
        records: list[Record] = []
        if marker is not None:
            records.append(marker)
        records.extend(entries)
        if hard_state is not None:
            records.append(hard_state)
        if not records:
            return
        self._check_usable()
        low_index = self._check_batch(entries, marker)
        sync = needs_sync(self.hard_state, hard_state, bool(entries), marker is not None)
        if sync and hard_state is None and self.pending_bytes:
            records.append(self.hard_state)  # the pending commit index goes with it
        data = b"".join(encode(record) for record in records)
        try:
            if sync:
                self._write(data)
            else:
                self._write_pending(data)
        except BaseException as error:
            self.failure = error
            raise
        self._remember(hard_state, entries, marker)
        segment = self.segments[-1]
        segment.low_index = LogIndex(min(segment.low_index, low_index))

    def _write(self, data: bytes) -> None:
        """Append ``data`` (over a pending hard state) and sync it."""
        if self.write_offset + len(data) > self.config.segment_bytes_max and self._has_records():
            if self.pending_bytes:
                self._settle_pending()  # no unsynced tail may stay behind a newer segment
            self._create_segment(data)
        else:
            self.disk.write(self._current_name(), self.write_offset, data)
            self.disk.sync(self._current_name())
            self.syncs += 1
            self.segments[-1].end_offset += len(data)
        self.pending_bytes = 0

    def _write_pending(self, data: bytes) -> None:
        """Write a hard state at the end without a sync, leaving it to be overwritten."""
        if self.write_offset + len(data) > self.config.segment_bytes_max:
            self._write(data)  # no room left: it opens the next segment like any save
            return
        self.disk.write(self._current_name(), self.write_offset, data)
        self.pending_bytes = len(data)

    def _settle_pending(self) -> None:
        """Sync the pending hard state where it lies: it becomes an ordinary record."""
        self.disk.sync(self._current_name())
        self.syncs += 1
        self.segments[-1].end_offset += self.pending_bytes
        self.pending_bytes = 0

    @property
    def unsynced(self) -> bool:
        """A hard state saved without a sync waits for the next synced save."""
        return self.pending_bytes > 0

    def sync(self) -> None:
        """Make a pending hard state durable now (nothing once a write failed: what reached
        the disk is unknown)."""
        if self.pending_bytes and self.failure is None:
            try:
                self._settle_pending()
            except BaseException as error:
                self.failure = error
                raise

    def _check_usable(self) -> None:
        """After a failed write or sync, what reached the disk is unknown: a retried fdatasync
        can report success for pages the kernel already dropped. Only a reopen (recovery
        reading the disk back) may continue."""
        if self.failure is not None:
            raise WalFailed(f"the log failed earlier ({self.failure!r}); reopen it to go on")

    def _check_batch(self, entries: Sequence[Entry], marker: SnapshotMarker | None) -> LogIndex:
        """Assert the batch continues the log; return the lowest index it writes."""
        base, last = self.base_index, self.last_index
        if marker is not None and not marker.keeps_suffix:
            base, last = marker.index, marker.index
        elif marker is not None:
            assert base <= marker.index <= last, f"compaction to {marker.index} outside the log"
            base = marker.index
        for expected, entry in enumerate(entries, start=entries[0].index if entries else 0):
            assert entry.index == expected, f"entries not contiguous at {entry.index}"
        if entries:
            assert base < entries[0].index <= last + 1, f"entry {entries[0].index} leaves a gap"
            return entries[0].index
        return LogIndex(base + 1 if marker is not None and not marker.keeps_suffix else last + 1)

    def _remember(
        self, hard_state: HardState | None, entries: Sequence[Entry], marker: SnapshotMarker | None
    ) -> None:
        if marker is not None:
            if not marker.keeps_suffix:
                self.last_index = marker.index
            self.base_index, self.base_term = marker.index, marker.term
        if entries:
            self.last_index = entries[-1].index
        if self.repair_until and self.last_index >= self.repair_until:
            self.repair_until = NO_INDEX
        if hard_state is not None:
            self.hard_state = hard_state
        assert self.base_index <= self.last_index, "snapshot past the last index"

    def _has_records(self) -> bool:
        return self.write_offset > self._start_bytes_length()

    def _start_bytes_length(self) -> int:
        return len(self._start_records(self.segments[-1].sequence, LogIndex(0)))

    def _current_name(self) -> str:
        return segment_name(self.segments[-1].sequence)

    def _start_records(self, sequence: int, first_index: LogIndex) -> bytes:
        """Header, hard state, snapshot marker, and a repair still under way: all a segment
        needs to replay once every older one is gone."""
        header = SegmentHeader(sequence, first_index)
        marker = SnapshotMarker(self.base_index, self.base_term, keeps_suffix=True)
        start = encode(header) + encode(self.hard_state) + encode(marker)
        if self.repair_until > self.last_index:
            start += encode(RepairMarker(self.repair_until, restart=False))
        return start

    def _create_segment(self, data: bytes) -> None:
        """A new segment holding its start records and ``data``: durable, and listed durably."""
        sequence = self.segments[-1].sequence + 1 if self.segments else 1
        first_index = LogIndex(self.last_index + 1)
        start = self._start_records(sequence, first_index)
        name = segment_name(sequence)
        content = start + data
        self.disk.write(name, 0, content)
        self.disk.truncate(name, max(self.config.segment_bytes_max, len(content)))
        self.disk.sync(name)
        self.syncs += 1
        self.disk.sync_directory()
        self.segments.append(SegmentInfo(sequence, first_index, len(content)))

    def compact(self, index: LogIndex) -> None:
        """Remove whole segments whose live entries all lie at or below ``index``.

        The marker for ``index`` must already be durable (written by ``save``), so a crash
        between removals leaves a log that still replays."""
        self._check_usable()
        assert index <= self.base_index, f"compact({index}) before its marker ({self.base_index})"
        keep_from = 0
        low_after = self.segments[-1].low_index
        for position in range(len(self.segments) - 1, 0, -1):
            low_after = LogIndex(min(low_after, self.segments[position].low_index))
            if low_after <= index + 1:
                keep_from = position
                break
        try:
            for segment in self.segments[:keep_from]:
                self.disk.remove(segment_name(segment.sequence))
            if keep_from:
                self.disk.sync_directory()
        except BaseException as error:
            self.failure = error
            raise
        del self.segments[:keep_from]
        assert self.segments, "the last segment is never removed"
