"""The recovery decision table (``synod.storage.recovery``), row by row, and bit flips in every
region of the log, each ending in the row it names."""

import copy

import pytest

from synod.core.ids import LogIndex, Term
from synod.core.log import Entry, Snapshot, SnapshotMeta
from synod.storage.disk import SimDisk, SimulatedCrash
from synod.storage.records import (
    ENTRY_RECORD_BYTES_MIN,
    HEADER_BYTES,
    Fault,
    Record,
    SegmentHeader,
    SnapshotMarker,
    WalCorruption,
    decode,
    encode,
)
from synod.storage.recovery import segment_name
from synod.storage.snapshot_file import snapshot_name
from synod.storage.wal_storage import WalStorage
from tests.storage.helpers import SMALL, content, entry, fresh, hard, reopen


def filled(segments_min: int = 3, seed: int = 0) -> tuple[SimDisk, WalStorage]:
    """A log spanning at least ``segments_min`` segments, one entry and hard state a save."""
    disk, storage = fresh(seed)
    index = 0
    while len(storage.wal.segments) < segments_min or index < 5:
        index += 1
        storage.save(hard(1, 1, index - 1), [entry(index, 1, b"d" * 400)])
    return disk, storage


def records_of(disk: SimDisk, name: str) -> list[tuple[int, Record]]:
    data = disk.read(name)
    found: list[tuple[int, Record]] = []
    offset = 0
    while not isinstance(decoded := decode(data, offset), Fault):
        found.append((offset, decoded[0]))
        offset = decoded[1]
    return found


def append_raw(disk: SimDisk, storage: WalStorage, data: bytes) -> int:
    """Put bytes at the tail of the last segment, durably, behind the WAL's back."""
    name = storage.wal.segment_names[-1]
    offset = storage.wal.write_offset
    disk.write(name, offset, data)
    disk.sync(name)
    return offset


def corruption(disk: SimDisk) -> WalCorruption:
    with pytest.raises(WalCorruption) as caught:
        reopen(disk)
    return caught.value


# -- rows 1 to 4: what recovery accepts --------------------------------------------------------


def test_row_1_clean_log_reads_back_as_written() -> None:
    disk, storage = filled()
    disk.crash()
    assert content(reopen(disk)) == content(storage)


def test_row_2_no_segment_is_a_fresh_log() -> None:
    disk, storage = fresh()
    assert disk.list_names() == [segment_name(1)]
    assert storage.last_index() == 0
    assert storage.hard_state == hard(0)


@pytest.mark.parametrize("kept_bytes", [1, HEADER_BYTES - 1, HEADER_BYTES, HEADER_BYTES + 5])
def test_row_3_torn_record_at_the_tail_is_truncated(kept_bytes: int) -> None:
    disk, storage = filled()
    before = content(storage)
    torn = encode(entry(storage.last_index() + 1, 1, b"t" * 30))[:kept_bytes]
    append_raw(disk, storage, torn)
    recovered = reopen(disk)
    assert content(recovered) == before
    recovered.save(hard(1, 1, 3), [entry(recovered.last_index() + 1, 1)])
    assert reopen(disk).last_index() == before[2][-1].index + 1


def test_row_3_torn_writes_from_power_cuts_are_truncated() -> None:
    for seed in range(30):
        disk, storage = filled(segments_min=1, seed=seed)
        state, snapshot, entries = content(storage)
        new = entry(storage.last_index() + 1, 1, b"x" * 200)
        disk.operations_max = disk.operations + 1
        with pytest.raises(SimulatedCrash):
            storage.save(hard(1, 1, 2), [new])
        disk.crash(tear=True)
        # A tear keeps whole records before it: here the entry, never the hard state after it.
        allowed = [(state, snapshot, entries), (state, snapshot, (*entries, new))]
        assert content(reopen(disk)) in allowed


def test_row_3_flip_in_the_very_last_record_cannot_be_told_from_a_tear() -> None:
    disk, storage = filled()
    name = storage.wal.segment_names[-1]
    offset, _ = records_of(disk, name)[-1]
    disk.flip_bit(name, offset + HEADER_BYTES + 2)
    assert reopen(disk).hard_state == hard(1, 1, storage.last_index() - 2)


def test_row_4_interrupted_segment_creation_is_removed() -> None:
    disk, storage = filled()
    name = segment_name(storage.wal.segments[-1].sequence + 1)
    disk.write(name, 0, encode(SegmentHeader(99, LogIndex(1)))[:7])
    disk.sync(name)
    disk.sync_directory()
    recovered = reopen(disk)
    assert name not in disk.list_names()
    assert content(recovered) == content(storage)


# -- rows 5 to 13: corruption, never truncated ---------------------------------------------------


REGIONS = {
    "record length": 0,
    "record checksum": 4,
    "record type": 8,
    "record payload": HEADER_BYTES + 3,
}


def repaired(disk: SimDisk, original: WalStorage, damaged_name: str, offset: int) -> WalStorage:
    """Reopen a damaged log and check what every repair must give: the damage named; an intact
    prefix of the entries; the same term and vote; a commit within the prefix; a bound at or
    past every index the node held; one segment on disk; and all of it durable."""
    storage = reopen(disk)
    damage = storage.wal.damage
    assert damage is not None
    assert (damage.name, damage.offset) == (damaged_name, offset)
    assert damaged_name in str(damage)
    kept = storage.all_entries()
    assert kept == original.all_entries()[: len(kept)]
    assert len(kept) < len(original.all_entries())
    assert storage.repair_until() >= original.last_index()
    before, after = original.hard_state, storage.hard_state
    assert (after.term, after.vote) == (before.term, before.vote)
    assert after.commit <= min(before.commit, storage.last_index())  # the prefix's own
    assert len(storage.wal.segments) == 1
    again = reopen(disk)
    assert again.wal.damage is None
    assert content(again) == content(storage)
    assert again.repair_until() == storage.repair_until()
    return storage


@pytest.mark.parametrize("region", sorted(REGIONS))
def test_row_5_flip_before_the_tail_of_the_last_segment_is_repaired(region: str) -> None:
    disk, storage = filled()
    name = storage.wal.segment_names[-1]
    offset = next(offset for offset, record in records_of(disk, name) if isinstance(record, Entry))
    disk.flip_bit(name, offset + REGIONS[region], bit=6)
    repaired(disk, storage, name, offset)


def test_row_5_flip_in_the_last_hard_state_record_stops_the_node() -> None:
    """The term and vote it held are unknown: voting again could vote twice in one term."""
    disk, storage = filled()
    storage.save(hard(2, 2, 4))
    storage.save(entries=[entry(storage.last_index() + 1, 2)])
    name = storage.wal.segment_names[-1]
    offset = [o for o, record in records_of(disk, name) if record == hard(2, 2, 4)][-1]
    disk.flip_bit(name, offset + HEADER_BYTES + 1)
    error = corruption(disk)
    assert error.offset == offset
    assert "term and vote are unknown" in str(error)


def test_row_5_flip_in_a_superseded_hard_state_loses_no_entry() -> None:
    """No entry is lost, but nothing tells what the damaged record held: the node waits for
    as many entries as could have fit in it before it votes again."""
    disk, storage = filled()
    storage.save(hard(2, 2, 4))
    storage.save(hard(3, 3, 4))
    name = storage.wal.segment_names[-1]
    offset = [o for o, record in records_of(disk, name) if record == hard(2, 2, 4)][-1]
    disk.flip_bit(name, offset + HEADER_BYTES + 1)
    recovered = reopen(disk)
    assert recovered.wal.damage is not None
    assert content(recovered) == content(storage)
    span = len(encode(hard(2, 2, 4)))
    bound = storage.last_index() + -(-span // ENTRY_RECORD_BYTES_MIN)
    assert recovered.repair_until() == bound


def test_row_5_misdirected_write_leaves_a_hole_before_valid_records() -> None:
    disk, storage = filled()
    name = storage.wal.segment_names[-1]
    hole = storage.wal.write_offset
    disk.misdirect_next_write(name, 64)
    storage.save(hard(1, 1, 3), [entry(storage.last_index() + 1, 1)])
    repaired(disk, storage, name, hole)


def test_row_5_misdirected_write_over_earlier_records() -> None:
    disk, storage = filled()
    name = storage.wal.segment_names[-1]
    aimed = storage.wal.write_offset
    landed = aimed - 20
    hit = max(offset for offset, _ in records_of(disk, name) if offset < landed)
    disk.misdirect_next_write(name, landed - aimed)
    storage.save(hard(1, 1, 3), [entry(storage.last_index() + 1, 1)])
    repaired(disk, storage, name, hit)


@pytest.mark.parametrize("region", sorted(REGIONS))
def test_row_6_flip_in_a_segment_before_the_last_is_repaired(region: str) -> None:
    disk, storage = filled()
    name = storage.wal.segment_names[0]
    offset, _ = records_of(disk, name)[-1]
    disk.flip_bit(name, offset + REGIONS[region], bit=1)
    repaired(disk, storage, name, offset)


def test_row_6_snapshot_after_the_damage_stops_the_node() -> None:
    """Compaction past the damage removed the older snapshot the prefix would need."""
    disk, storage = filled(segments_min=4)
    name = storage.wal.segment_names[-1]
    offset = next(offset for offset, record in records_of(disk, name) if isinstance(record, Entry))
    index = storage.last_index()
    storage.compact(
        Snapshot(SnapshotMeta(index, storage.term(index), storage.snapshot().meta.membership))
    )
    storage.save(hard(1, 1, 4), [entry(index + 1, 1)])
    disk.flip_bit(name, offset + HEADER_BYTES + 2)
    assert "snapshot" in str(corruption(disk))


@pytest.mark.parametrize("segment", [0, -1])
def test_row_6_and_7_flip_in_a_segment_header(segment: int) -> None:
    disk, storage = filled()
    storage.save(hard(1, 1, 3))
    name = storage.wal.segment_names[segment]
    disk.flip_bit(name, HEADER_BYTES + 6)
    error = corruption(disk)
    assert (error.name, error.offset) == (name, 0)


def test_row_7_header_of_another_segment() -> None:
    disk, storage = filled()
    first, second = storage.wal.segment_names[:2]
    disk.remove(second)
    disk.write(second, 0, disk.read(first))
    error = corruption(disk)
    assert (error.name, error.offset) == (second, 0)
    assert "header of segment 2" in error.reason


def test_row_8_missing_segment_in_the_middle() -> None:
    disk, storage = filled(segments_min=4)
    names = storage.wal.segment_names
    disk.remove(names[1])
    error = corruption(disk)
    assert (error.name, error.offset) == (names[2], 0)
    assert "missing" in error.reason


def test_row_9_header_expecting_another_index() -> None:
    disk, storage = filled()
    name = storage.wal.segment_names[-1]
    sequence = storage.wal.segments[-1].sequence
    disk.write(name, 0, encode(SegmentHeader(sequence, LogIndex(storage.last_index() + 50))))
    assert corruption(disk).name == name


def test_row_10_entry_leaving_a_gap() -> None:
    disk, storage = filled()
    offset = append_raw(disk, storage, encode(entry(storage.last_index() + 3, 1)))
    assert corruption(disk).offset == offset


def test_row_11_oldest_segment_lost_without_a_snapshot() -> None:
    disk, storage = filled()
    first = storage.wal.segment_names[0]
    disk.remove(first)
    error = corruption(disk)
    assert error.name == storage.wal.segment_names[1]
    assert "missing" in error.reason


def test_row_12_compaction_marker_past_the_log() -> None:
    disk, storage = filled()
    marker = SnapshotMarker(LogIndex(storage.last_index() + 2), Term(1), keeps_suffix=True)
    offset = append_raw(disk, storage, encode(marker))
    assert corruption(disk).offset == offset


def test_row_13_hard_state_newer_than_the_entries() -> None:
    disk, storage = filled()
    append_raw(disk, storage, encode(hard(1, 1, storage.last_index() + 1)))
    error = corruption(disk)
    assert error.name == storage.wal.segment_names[-1]
    assert "past the last index" in error.reason


def test_row_14_entries_newer_than_the_hard_state_raise_its_term() -> None:
    disk, storage = filled()
    append_raw(disk, storage, encode(entry(storage.last_index() + 1, 5)))
    recovered = reopen(disk)
    assert recovered.hard_state == hard(5, 0, storage.hard_state.commit)
    assert recovered.last_index() == storage.last_index() + 1


# -- the snapshot file ---------------------------------------------------------------------------


def test_snapshot_named_by_the_log_must_exist_and_be_whole() -> None:
    disk, storage = filled()
    storage.compact(Snapshot(SnapshotMeta(LogIndex(3), Term(1)), b"state"))
    name = snapshot_name(LogIndex(3), Term(1))
    assert name in disk.list_names()
    disk.flip_bit(name, 12)
    assert corruption(disk).name == name
    disk.remove(name)
    assert "missing" in corruption(disk).reason


def test_unreferenced_snapshot_files_are_removed_at_open() -> None:
    disk, storage = filled()
    stale = snapshot_name(LogIndex(4), Term(1))
    disk.write(stale, 0, b"left by a save that never reached the log")
    disk.sync(stale)
    disk.sync_directory()
    recovered = reopen(disk)
    assert stale not in disk.list_names()
    assert content(recovered) == content(storage)
    assert recovered.snapshot().meta.index == 0


def test_row_10_entry_at_or_below_the_snapshot() -> None:
    disk, storage = filled()
    storage.compact(Snapshot(SnapshotMeta(LogIndex(3), Term(1)), b"state"))
    offset = append_raw(disk, storage, encode(entry(2, 1)))
    error = corruption(disk)
    assert (error.name, error.offset) == (storage.wal.segment_names[-1], offset)


def test_row_2_an_empty_log_reopens_empty() -> None:
    disk, _ = fresh()
    disk.crash()
    recovered = reopen(disk)
    assert content(recovered) == content(fresh()[1])
    assert disk.list_names() == [segment_name(1)]


def outcome_of_flip(disk: SimDisk, name: str, offset: int) -> WalStorage | WalCorruption:
    damaged = copy.deepcopy(disk)
    damaged.flip_bit(name, offset, bit=offset % 8)
    try:
        return reopen(damaged)
    except WalCorruption as error:
        return error


def test_a_flip_anywhere_is_refused_repaired_or_costs_at_most_the_last_record() -> None:
    """Every third byte of every segment, each with one bit flipped: recovery either raises
    ``WalCorruption`` naming that segment; or repairs (an intact prefix, the same term and
    vote, and a bound at or past the old last index whenever entries were lost); or returns
    the log with at most its last record, the hard state, gone (row 3)."""
    disk, storage = filled(segments_min=2)
    (hard_state, _), snapshot, entries = content(storage)
    outcomes = {"refused": 0, "repaired": 0, "kept": 0}
    for segment in storage.wal.segments:
        name = segment_name(segment.sequence)
        for offset in range(0, segment.end_offset + 16, 3):
            outcome = outcome_of_flip(disk, name, offset)
            if isinstance(outcome, WalCorruption):
                assert outcome.name == name
                outcomes["refused"] += 1
                continue
            assert outcome.snapshot() == snapshot
            kept = tuple(outcome.all_entries())
            assert kept == entries[: len(kept)]
            assert (outcome.hard_state.term, outcome.hard_state.vote) == (
                hard_state.term,
                hard_state.vote,
            )
            if outcome.wal.damage is not None:
                outcomes["repaired"] += 1
                assert outcome.wal.damage.name == name
                if len(kept) < len(entries):
                    assert outcome.repair_until() >= len(entries) + snapshot.meta.index
                continue
            outcomes["kept"] += 1
            assert kept == entries
            assert outcome.hard_state.commit in (hard_state.commit, hard_state.commit - 1)
    assert min(outcomes.values()) > 0, outcomes


# -- repairs that crash, and repairs that end -----------------------------------------------------


def damaged_log() -> tuple[SimDisk, WalStorage, str, int]:
    disk, storage = filled()
    name = storage.wal.segment_names[0]
    offset, _ = records_of(disk, name)[-1]
    disk.flip_bit(name, offset + HEADER_BYTES + 2)
    return disk, storage, name, offset


def test_row_15_a_power_cut_at_every_point_of_a_repair() -> None:
    """The repair's own writes, cut after each one (torn or not): the next open either repairs
    afresh or finds the repaired log, leftovers of the repair removed; never anything else."""
    disk, original, name, offset = damaged_log()
    expected = content(repaired(copy.deepcopy(disk), original, name, offset))
    operations = 0
    while True:
        trial = copy.deepcopy(disk)
        trial.operations, trial.operations_max = 0, operations
        try:
            reopen(trial)
        except SimulatedCrash:
            for tear in (False, True):
                cut = copy.deepcopy(trial)
                cut.crash(tear=tear)
                cut.operations_max = None
                recovered = reopen(cut)
                assert content(recovered) == expected
                assert recovered.repair_until() >= original.last_index()
                assert len(recovered.wal.segments) == 1
            operations += 1
            continue
        break
    assert operations > 4


def test_a_repair_lasts_through_new_segments_until_the_log_reaches_its_bound() -> None:
    disk, original, name, offset = damaged_log()
    storage = repaired(disk, original, name, offset)
    until = storage.repair_until()
    term = storage.hard_state.term
    index = int(storage.last_index())
    while index + 1 < until:
        index += 1
        storage.save(hard(term, 0, 0), [entry(index, term, b"r" * 300)])
        assert reopen(disk).repair_until() == until
    assert len(storage.wal.segments) > 1, "the bound should lie a few segments away"
    storage.compact(
        Snapshot(SnapshotMeta(LogIndex(index - 1), Term(term), original.snapshot().meta.membership))
    )
    assert reopen(disk).repair_until() == until, "a compaction must not forget the repair"
    storage.save(entries=[entry(index + 1, term)])
    assert storage.repair_until() == 0
    assert reopen(disk).repair_until() == 0


def test_a_compaction_that_opens_a_segment_outlives_the_segments_it_removed():
    """The compaction marker does not fit the full segment, so it opens a new one (after that
    segment's own, older start marker); the old segments go; the log must still replay."""
    disk, storage = fresh()
    index = 0
    while storage.wal.write_offset + 400 < SMALL.segment_bytes_max:
        index += 1
        storage.save(hard(1, 1, index), [entry(index, 1, b"x" * 150)])
    # One last save that leaves 10 bytes: too few for the marker (entry and hard state
    # records take 26 + data and 33 bytes).
    index += 1
    room = SMALL.segment_bytes_max - storage.wal.write_offset
    storage.save(hard(1, 1, index), [entry(index, 1, b"y" * (room - 10 - 26 - 33))])
    assert SMALL.segment_bytes_max - storage.wal.write_offset == 10
    membership = storage.snapshot().meta.membership
    storage.compact(Snapshot(SnapshotMeta(LogIndex(index), Term(1), membership), b"state"))
    assert len(storage.wal.segments) == 1
    assert [type(r).__name__ for _, r in records_of(disk, storage.wal.segment_names[0])][:4] == [
        "SegmentHeader",
        "HardState",
        "SnapshotMarker",
        "SnapshotMarker",
    ]
    storage.save(hard(1, 1, index + 1), [entry(index + 1, 1)])
    assert content(reopen(disk)) == content(storage)


def test_a_repair_keeps_the_prefixs_commit_not_one_counting_overwritten_entries():
    """Entries 4 and 5 of term 1 are replaced by term 2 ones, which then commit. Damage in
    the replacement leaves the stale term-1 entries in the prefix: the salvaged commit (5)
    would apply them; the prefix's own commit (3) cannot."""
    disk, storage = fresh()
    storage.save(hard(1, 1, 3), [entry(i, 1, b"o" * 40) for i in range(1, 6)])
    name = storage.wal.segment_names[-1]
    storage.save(hard(2, 2, 3), [entry(4, 2, b"n" * 40), entry(5, 2, b"n" * 40)])
    storage.save(hard(2, 2, 5))
    storage.save(entries=[entry(6, 2)])
    overwrite = next(
        offset for offset, record in records_of(disk, name) if record == entry(4, 2, b"n" * 40)
    )
    disk.flip_bit(name, overwrite + HEADER_BYTES + 20)
    recovered = reopen(disk)
    assert recovered.wal.damage is not None
    assert [e.term for e in recovered.all_entries()[3:5]] == [1, 1], "the stale suffix remains"
    assert recovered.hard_state == hard(2, 2, 3)
    assert recovered.repair_until() >= 6
