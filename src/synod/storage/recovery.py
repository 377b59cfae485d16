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
5    last segment fails at X and a record decodes after X             repair (below) if it can,
                                                                      else ``WalCorruption``
6    a segment that is not the last fails at X                        as row 5
7    first record is not a header of the file's own sequence          ``WalCorruption`` (name, 0)
8    a sequence number is missing between two segments                ``WalCorruption`` (name, 0)
9    a header's first index is not the replayed last index + 1        ``WalCorruption`` (name, 0)
10   an entry leaves a gap, or lies at or below the snapshot          ``WalCorruption`` (name, X)
11   entries start past the first snapshot and no marker covers them  ``WalCorruption`` (name, 0)
12   a compaction marker past the log or disagreeing on its term      ``WalCorruption`` (name, X)
     (except one in the oldest segment left, before any entry: it
     removed the segments that held its entries, so it is the base)
13   hard state commit past the last index (hard state newer than     ``WalCorruption`` (last name,
     its entries: it is written after them, so no tear explains it)   end of its records)
14   last entry's term above the hard state's term (a tear kept a     term raised to the entry's,
     Ready's entries, not its hard state; nothing of that Ready was   vote cleared
     sent, so its vote was never promised)
15   a segment starts with a restart repair marker                    earlier segments are leftovers
                                                                      of that repair: removed
===  ==============================================================  ===============================

A fault in the very last record of the log cannot be told from a torn write and is row 3.

Repair (rows 5 and 6). Corruption is never repaired by silent truncation: a committed entry may
live only in the damaged part. Recovery keeps the intact prefix before the first fault and
salvages what decodes after it (resynchronizing past every damaged span):

- the latest hard state must decode after the last damaged span, else the term and vote are
  unknown and the node could vote twice in one term: ``WalCorruption``;
- no snapshot marker after the damage may move the log's base (the older snapshot files are
  gone): ``WalCorruption``;
- ``until``, an upper bound on every index this node may ever have acknowledged: the highest
  intact entry index, plus, for every damaged span, one index per smallest possible entry record
  that fits in it.

The log is then rewritten as that prefix, the salvaged term and vote with the prefix's own
commit index (a later commit may count entries that overwrote the prefix's uncommitted
suffix), and a ``RepairMarker(until)``. While the log is shorter than ``until`` the node neither
votes nor campaigns; it still accepts a leader's entries and acknowledges what it has truly
stored. Why that is safe: a committed entry the node lost is held by a quorum; every leader
elected without this node's vote has it (its voters form a quorum, which meets that quorum in
some node other than this one), so once this node's log reaches ``until`` with a leader's
entries, it holds every committed entry it had ever acknowledged, and its old copies of
uncommitted ones were replaced, as Raft replaces any follower's conflicting suffix.

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
    ENTRY_RECORD_BYTES_MIN,
    Fault,
    Record,
    RepairMarker,
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
    repair_until: LogIndex = NO_INDEX
    """Left by a repair, while the log is shorter than it: the node may not vote (0: none)."""

    def note_progress(self) -> None:
        """The log reached the repair's bound: the repair is over for good."""
        if self.repair_until and self.last_index() >= self.repair_until:
            self.repair_until = NO_INDEX

    def last_index(self) -> LogIndex:
        return LogIndex(self.base_index + len(self.entries))

    def last_term(self) -> Term:
        return self.entries[-1].term if self.entries else self.base_term


@dataclass(frozen=True, slots=True)
class Damage:
    """Corruption recovery repairs by rewriting the log (rows 5 and 6)."""

    name: str
    offset: int
    reason: str
    until: LogIndex
    """Bound on every index this node may have acknowledged; 0 when nothing was lost."""

    def __str__(self) -> str:
        return f"{self.name} at offset {self.offset}: {self.reason}"


@dataclass(slots=True)
class Recovered:
    state: LogState
    segments: list[SegmentInfo]
    damage: Damage | None = None
    """Set when the log must be rewritten as ``state`` (a repair)."""
    next_sequence: int = 1
    """Above every segment file present, damaged ones included."""


class _Damaged(Exception):
    """Rows 5 and 6, raised inside replay: the first fault before the tail."""

    def __init__(self, name: str, offset: int, fault: Fault, detail: str) -> None:
        super().__init__(f"{name} at offset {offset}: {detail}")
        self.name = name
        self.offset = offset
        self.fault = fault
        self.detail = detail


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
            case RepairMarker():
                if record.until > self.state.last_index():
                    self.state.repair_until = LogIndex(max(self.state.repair_until, record.until))

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
        state.note_progress()

    def _on_marker(self, name: str, offset: int, marker: SnapshotMarker) -> None:
        state = self.state
        started, state.started = state.started, True
        if not started or not marker.keeps_suffix:
            state.base_index, state.base_term, state.entries = marker.index, marker.term, []
            state.base_known = True
            segment = self.segments[-1]
            segment.low_index = LogIndex(min(segment.low_index, marker.index + 1))
            state.note_progress()
            return
        if marker.index < state.base_index or (
            marker.index == state.base_index and state.base_known
        ):
            return
        if marker.index > state.last_index() and len(self.segments) == 1 and not state.entries:
            # The oldest segment left opens with a compaction whose entries lived in segments
            # removed once it was durable: it vouches for the new base.
            state.base_index, state.base_term, state.base_known = marker.index, marker.term, True
            return
        position = marker.index - state.base_index - 1
        if marker.index > state.last_index() or (
            position >= 0 and state.entries[position].term != marker.term
        ):
            raise WalCorruption(name, offset, f"compaction to {marker.index} does not fit the log")
        state.entries = state.entries[position + 1 :]
        state.base_index, state.base_term, state.base_known = marker.index, marker.term, True


def recover(disk: Disk) -> Recovered:
    """Replay every segment by the table above. Rows 3 and 4 are repaired on disk here; rows 5
    and 6 come back as a ``Damage`` whose log the caller rewrites (``Wal.open``)."""
    numbered = _segment_names(disk)
    names = _live_segments(disk, numbered)
    _check_sequence(names)
    next_sequence = (segment_sequence(numbered[-1]) or 0) + 1 if numbered else 1
    replay = _Replay()
    for position, name in enumerate(names):
        is_last = position == len(names) - 1
        try:
            kept = _replay_segment(disk, name, replay, is_last)
        except _Damaged as damaged:
            damage = _salvage(disk, names[position:], damaged, replay.state)
            _check_end(replay)
            return Recovered(replay.state, replay.segments, damage, next_sequence)
        if not kept:
            disk.remove(name)
            disk.sync_directory()
    _check_end(replay)
    return Recovered(replay.state, replay.segments, None, next_sequence)


def _segment_names(disk: Disk) -> list[str]:
    """Segment files in sequence order."""
    numbered = sorted(
        (sequence, name)
        for name in disk.list_names()
        if (sequence := segment_sequence(name)) is not None
    )
    return [name for _, name in numbered]


def _check_sequence(names: list[str]) -> None:
    """Row 8: no sequence number missing between two segments."""
    for before, after in itertools.pairwise(names):
        expected = (segment_sequence(before) or 0) + 1
        if segment_sequence(after) != expected:
            raise WalCorruption(after, 0, f"segment {expected} is missing")


def _live_segments(disk: Disk, names: list[str]) -> list[str]:
    """Row 15: the newest segment that starts with a restart marker supersedes all before it
    (a repair wrote it, then crashed before removing them)."""
    for position in range(len(names) - 1, 0, -1):
        data = disk.read(names[position])
        header = decode(data, 0)
        if isinstance(header, Fault):
            continue
        second = decode(data, header[1])
        if isinstance(second, Fault) or not _is_restart(second[0]):
            continue
        for name in names[:position]:
            disk.remove(name)
        disk.sync_directory()
        return names[position:]
    return names


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


def _is_restart(record: Record) -> bool:
    return isinstance(record, RepairMarker) and record.restart


def _on_fault(
    disk: Disk, name: str, data: bytes, offset: int, fault: Fault, *, is_last: bool
) -> None:
    """Rows 3 to 7: a torn tail is cut at ``offset``; a damaged segment header stops the node
    (row 7: where the segment belongs is unknown); anything else is damage to repair."""
    if offset == 0 and (not is_last or valid_record_after(data, offset) is not None):
        raise WalCorruption(name, 0, f"segment header: {fault.value}")
    if not is_last:
        raise _Damaged(name, offset, fault, f"{fault.value} before the last segment")
    later = valid_record_after(data, offset)
    if later is not None:
        raise _Damaged(name, offset, fault, f"{fault.value}, yet a valid record follows at {later}")
    disk.truncate(name, offset)
    disk.truncate(name, len(data))
    disk.sync(name)


@dataclass(slots=True)
class _Salvage:
    """What the records after the first fault tell (see "Repair" above)."""

    base_index: LogIndex
    until: int
    hard_state: HardState | None = None
    """The latest hard state, if one decoded after the last damaged span."""
    refusal: str | None = None

    def on_record(self, record: Record) -> None:
        match record:
            case Entry():
                self.until = max(self.until, record.index)
            case HardState():
                self.hard_state = record
            case RepairMarker():
                self.until = max(self.until, record.until)
            case SnapshotMarker() if record.index != self.base_index:
                self.refusal = f"a snapshot at {record.index} follows it"

    def on_damaged_span(self, span_bytes: int) -> None:
        self.until += -(-span_bytes // ENTRY_RECORD_BYTES_MIN)
        self.hard_state = None


def _salvage(disk: Disk, names: list[str], damaged: _Damaged, state: LogState) -> Damage:
    """Walk every record that decodes from the first fault on; decide whether the prefix
    before it can stand, repaired, or the node must stop (``WalCorruption``)."""
    salvage = _Salvage(state.base_index, state.last_index())
    for position, name in enumerate(names):
        data = disk.read(name)
        offset = damaged.offset if position == 0 else 0
        while offset < len(data):
            decoded = decode(data, offset)
            if not isinstance(decoded, Fault):
                salvage.on_record(decoded[0])
                offset = decoded[1]
                continue
            later = valid_record_after(data, offset)
            is_tail = position == len(names) - 1
            if later is None and (is_tail or decoded is Fault.ZEROS):
                break  # a torn tail, or the zeros after a segment's last record
            end = later if later is not None else _written_end(data)
            salvage.on_damaged_span(end - offset)
            offset = end
    if salvage.refusal is None and salvage.hard_state is None:
        salvage.refusal = "no intact hard state follows it, so the term and vote are unknown"
    if salvage.refusal is not None:
        raise WalCorruption(damaged.name, damaged.offset, f"{damaged.detail}; {salvage.refusal}")
    hard_state = salvage.hard_state
    assert hard_state is not None
    last = state.last_index()
    term = max(hard_state.term, state.last_term())
    vote = hard_state.vote if term == hard_state.term else NO_NODE
    # The commit index is the prefix's own: the salvaged one may count entries that later
    # records overwrote in the prefix (an uncommitted suffix replaced after the damage), and
    # committed entries are never overwritten, so the prefix's commit is sound for it.
    commit = LogIndex(min(state.hard_state.commit, hard_state.commit, last))
    state.hard_state = HardState(term, vote, commit)
    until = LogIndex(salvage.until) if salvage.until > last else NO_INDEX
    state.repair_until = LogIndex(max(state.repair_until, until))
    state.note_progress()
    return Damage(damaged.name, damaged.offset, damaged.detail, until)


def _written_end(data: bytes) -> int:
    """One past the last non-zero byte: the end of what was ever written in a segment."""
    return len(data.rstrip(b"\x00"))


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
