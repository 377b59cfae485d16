"""Reading a WAL back after a restart, by a decision table.

Segments are read in sequence order (``wal-<sequence>.log``); each begins with a segment
header, the hard state and a snapshot marker, then records appended by ``Wal.save``. A
record's bytes either decode (length in bounds, CRC32C matching, payload well formed) or fail
at some offset X of some segment. What happens then:

===  ==============================================================  ===============================
row  condition                                                        decision
===  ==============================================================  ===============================
1    every record of every segment decodes                            the log as written
2    no segment at all                                                a fresh, empty log
3    last segment fails at X and nothing decodes after X              torn tail: truncated at X,
     (partial header or payload, or preallocation zeros)              the rest zeroed again
4    last segment fails at 0 (its header) and nothing decodes after   interrupted creation: removed
5    last segment fails at X and a record decodes after X             ``WalCorruption`` (name, X)
6    a segment that is not the last fails at X                        ``WalCorruption`` (name, X)
7    first record is not a header of the file's own sequence          ``WalCorruption`` (name, 0)
8    a sequence number is missing between two segments                ``WalCorruption`` (name, 0)
9    a header's first index is not the replayed last index + 1        ``WalCorruption`` (name, 0)
10   an entry leaves a gap, or lies at or below the snapshot          ``WalCorruption`` (name, X)
11   entries start past the first snapshot and no marker covers them  ``WalCorruption`` (name, 0)
12   a compaction marker past the log or disagreeing on its term      ``WalCorruption`` (name, X)
13   hard state commit past the last index (hard state newer than     ``WalCorruption`` (last name,
     its entries: it is written after them, so no tear explains it)   end of its records)
14   last entry's term above the hard state's term (a tear kept a     term raised to the entry's,
     Ready's entries, not its hard state; nothing of that Ready was   vote cleared
     sent, so its vote was never promised)
===  ==============================================================  ===============================

Corruption is never repaired by truncation: a committed entry may live only in the damaged
part. The caller must refuse to vote or acknowledge and repair from its peers, or stop.
A fault in the very last record of the log cannot be told from a torn write and is row 3.

Replay rules: an entry at index i discards every entry at index >= i (overwrites need no
truncation record). A marker that keeps the suffix (a local compaction) drops entries up to
its index; one that does not (a leader's snapshot) replaces the whole log.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from synod.core.ids import NO_INDEX, NO_NODE, NO_TERM, LogIndex, Term
from synod.core.log import Entry, HardState
from synod.storage.disk import Disk
from synod.storage.records import (
    Fault,
    Record,
    SegmentHeader,
    SnapshotMarker,
    WalCorruption,
    decode,
    valid_record_after,
)

SEGMENT_PREFIX = "wal-"
SEGMENT_SUFFIX = ".log"


def segment_name(sequence: int) -> str:
    return f"{SEGMENT_PREFIX}{sequence:016d}{SEGMENT_SUFFIX}"


def segment_sequence(name: str) -> int | None:
    """The sequence number in a segment file name, or None for any other file."""
    digits = name.removeprefix(SEGMENT_PREFIX).removesuffix(SEGMENT_SUFFIX)
    is_segment = name.startswith(SEGMENT_PREFIX) and name.endswith(SEGMENT_SUFFIX)
    return int(digits) if is_segment and digits.isdigit() else None


@dataclass(slots=True)
class SegmentInfo:
    """What the writer needs to know of a segment: where it sits and the lowest index it wrote
    (every live entry at or above ``low_index`` comes from this segment or a later one)."""

    sequence: int
    low_index: LogIndex
    end_offset: int = 0


@dataclass(slots=True)
class LogState:
    """The replayed log: hard state, snapshot base, and entries contiguous after the base."""

    hard_state: HardState = field(default_factory=HardState)
    base_index: LogIndex = NO_INDEX
    base_term: Term = NO_TERM
    entries: list[Entry] = field(default_factory=list)
    base_known: bool = True
    """False while the entries start past a base no marker has vouched for (row 11)."""
    started: bool = False

    def last_index(self) -> LogIndex:
        return LogIndex(self.base_index + len(self.entries))

    def last_term(self) -> Term:
        return self.entries[-1].term if self.entries else self.base_term


@dataclass(slots=True)
class Recovered:
    state: LogState
    segments: list[SegmentInfo]


class _Replay:
    """Applies records in order, raising ``WalCorruption`` for rows 9 to 12."""

    def __init__(self) -> None:
        self.state = LogState()
        self.segments: list[SegmentInfo] = []

    def begin_segment(self, name: str, header: SegmentHeader) -> None:
        state = self.state
        if self.segments and header.first_index != state.last_index() + 1:
            raise WalCorruption(
                name, 0, f"header expects {header.first_index} next, log has {state.last_index()}"
            )
        self.segments.append(SegmentInfo(header.sequence, header.first_index))

    def apply(self, name: str, offset: int, record: Record) -> None:
        match record:
            case SegmentHeader():
                raise WalCorruption(name, offset, "segment header in the middle of a segment")
            case HardState():
                self.state.hard_state = record
            case SnapshotMarker():
                self._on_marker(name, offset, record)
            case Entry():
                self._on_entry(name, offset, record)

    def _on_entry(self, name: str, offset: int, entry: Entry) -> None:
        state = self.state
        segment = self.segments[-1]
        segment.low_index = LogIndex(min(segment.low_index, entry.index))
        jumps = not state.entries and entry.index > state.base_index + 1
        if (jumps and len(self.segments) == 1) or (
            not state.base_known and entry.index <= state.base_index
        ):
            # The first segment left after a compaction may start past its own start marker;
            # a later marker must vouch for the base (row 11).
            state.base_index, state.base_known, state.entries = LogIndex(entry.index - 1), False, []
        if entry.index <= state.base_index or entry.index > state.last_index() + 1:
            raise WalCorruption(
                name,
                offset,
                f"entry {entry.index} does not follow the log "
                f"({state.base_index}, {state.last_index()}]",
            )
        del state.entries[entry.index - state.base_index - 1 :]
        state.entries.append(entry)
        assert state.last_index() == entry.index, "replayed entries not contiguous"
        state.started = True

    def _on_marker(self, name: str, offset: int, marker: SnapshotMarker) -> None:
        state = self.state
        started, state.started = state.started, True
        if not started or not marker.keeps_suffix:
            state.base_index, state.base_term, state.entries = marker.index, marker.term, []
            state.base_known = True
            segment = self.segments[-1]
            segment.low_index = LogIndex(min(segment.low_index, marker.index + 1))
            return
        if marker.index < state.base_index or (
            marker.index == state.base_index and state.base_known
        ):
            return
        position = marker.index - state.base_index - 1
        if marker.index > state.last_index() or (
            position >= 0 and state.entries[position].term != marker.term
        ):
            raise WalCorruption(name, offset, f"compaction to {marker.index} does not fit the log")
        state.entries = state.entries[position + 1 :]
        state.base_index, state.base_term, state.base_known = marker.index, marker.term, True


def recover(disk: Disk) -> Recovered:
    """Replay every segment by the table above, repairing only rows 3 and 4."""
    names = _segment_names(disk)
    replay = _Replay()
    for position, name in enumerate(names):
        is_last = position == len(names) - 1
        if not _replay_segment(disk, name, replay, is_last):
            disk.remove(name)
            disk.sync_directory()
    _check_end(replay)
    return Recovered(replay.state, replay.segments)


def _segment_names(disk: Disk) -> list[str]:
    """Segment files in sequence order; raises for a missing sequence number (row 8)."""
    numbered = sorted(
        (sequence, name)
        for name in disk.list_names()
        if (sequence := segment_sequence(name)) is not None
    )
    for (before, _), (after, name) in itertools.pairwise(numbered):
        if after != before + 1:
            raise WalCorruption(name, 0, f"segment {before + 1} is missing")
    return [name for _, name in numbered]


def _replay_segment(disk: Disk, name: str, replay: _Replay, is_last: bool) -> bool:
    """Replay one segment; False when it is an interrupted creation to remove (row 4)."""
    data = disk.read(name)
    offset = 0
    while True:
        decoded = decode(data, offset)
        if isinstance(decoded, Fault):
            break
        record, end = decoded
        if offset == 0:
            _check_header(name, record)
            assert isinstance(record, SegmentHeader)
            replay.begin_segment(name, record)
        else:
            replay.apply(name, offset, record)
        offset = end
    fault = decoded
    if fault is not Fault.ZEROS or offset == 0 or any(data[offset:]):
        _on_fault(disk, name, data, offset, fault, is_last=is_last)
    if offset == 0:
        return False
    replay.segments[-1].end_offset = offset
    return True


def _check_header(name: str, record: Record) -> None:
    expected = segment_sequence(name)
    if not isinstance(record, SegmentHeader) or record.sequence != expected:
        raise WalCorruption(name, 0, f"first record is not the header of segment {expected}")


def _on_fault(
    disk: Disk, name: str, data: bytes, offset: int, fault: Fault, *, is_last: bool
) -> None:
    """Rows 3 to 6: a torn tail is cut at ``offset``; anything else is corruption."""
    if not is_last:
        raise WalCorruption(name, offset, f"{fault.value} before the last segment")
    later = valid_record_after(data, offset)
    if later is not None:
        raise WalCorruption(name, offset, f"{fault.value}, yet a valid record follows at {later}")
    disk.truncate(name, offset)
    disk.truncate(name, len(data))
    disk.sync(name)


def _check_end(replay: _Replay) -> None:
    """Rows 11, 13 and 14: what only the whole log can tell."""
    state = replay.state
    if not replay.segments:
        assert state == LogState(), "records replayed without a segment"
        return
    first, last = replay.segments[0], replay.segments[-1]
    last_name, end_offset = segment_name(last.sequence), last.end_offset
    if not state.base_known:
        raise WalCorruption(
            segment_name(first.sequence), 0, f"entries up to {state.base_index} are missing"
        )
    hard_state = state.hard_state
    if hard_state.commit > state.last_index():
        raise WalCorruption(
            last_name,
            end_offset,
            f"commit {hard_state.commit} is past the last index {state.last_index()}",
        )
    if state.last_term() > hard_state.term:
        state.hard_state = HardState(state.last_term(), NO_NODE, hard_state.commit)
