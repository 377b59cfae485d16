"""WalStorage against MemoryStorage, across reopens, crashes and a real directory."""

import contextlib
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from synod.consensus.storage import MemoryStorage
from synod.core.engine import LogStorage
from synod.core.errors import ConfigError, LogCompacted, LogUnavailable
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import Entry, HardState, Membership, Snapshot, SnapshotMeta
from synod.replica.replica import DurableLog
from synod.storage.disk import OsDisk, SimDisk, SimulatedCrash
from synod.storage.wal import SEGMENT_BYTES_MIN, WalConfig, WalFailed
from synod.storage.wal_storage import WalStorage
from tests.storage.helpers import SMALL, Content, content, entry, fresh, hard, reopen


@dataclass(frozen=True)
class Append:
    back: int
    """How many entries before the end the batch starts (0: a plain append)."""
    count: int
    size_bytes: int


@dataclass(frozen=True)
class SetHardState:
    vote: int


@dataclass(frozen=True)
class Compact:
    back: int


@dataclass(frozen=True)
class Reopen:
    pass


@dataclass(frozen=True)
class CrashDuring:
    """Cut the power after ``operations`` disk calls of the next operation (if it gets there)."""

    operations: int


operations = st.lists(
    st.one_of(
        st.builds(Append, st.integers(0, 4), st.integers(1, 6), st.integers(0, 600)),
        st.builds(SetHardState, st.integers(0, 3)),
        st.builds(Compact, st.integers(0, 6)),
        st.just(Reopen()),
        st.builds(CrashDuring, st.integers(0, 12)),
    ),
    max_size=40,
)


def rebuilt(state: Content) -> MemoryStorage:
    """A MemoryStorage holding ``state``: the model follows the WAL after a power cut."""
    (hard_state, _), snapshot, entries = state
    model = MemoryStorage()
    model.apply_snapshot(snapshot)
    model.append(entries)
    model.set_hard_state(hard_state)
    return model


class Pair:
    """The same operations on a MemoryStorage and on a WalStorage over a SimDisk."""

    def __init__(self) -> None:
        self.model = MemoryStorage()
        self.disk, self.storage = fresh()
        self.term = 1
        self.crash_budget: int | None = None

    def run(self, operation: object) -> None:
        """Apply to both; under a crash budget, the WAL may end before or after the operation."""
        if isinstance(operation, CrashDuring):
            self.crash_budget = operation.operations
            return
        if self.crash_budget is None:
            self.apply(operation)
            return
        before = content(self.model)
        self.disk.operations_max = self.disk.operations + self.crash_budget
        self.crash_budget = None
        with contextlib.suppress(SimulatedCrash):
            self.apply(operation)
        after = content(self.model)
        self.disk.crash()
        self.storage = reopen(self.disk)
        recovered = content(self.storage)
        assert recovered in (before, after), f"{operation}: recovered {recovered}"
        event("crash kept the operation" if recovered == after != before else "crash lost it")
        self.model = rebuilt(recovered)

    def apply(self, operation: object) -> None:
        match operation:
            case Append(back, count, size_bytes):
                self.append(back, count, size_bytes)
            case SetHardState(vote):
                state = hard(self.term, vote, min(self.model.hard_state.commit, self.last()))
                self.model.set_hard_state(state)
                self.storage.set_hard_state(state)
            case Compact(back):
                self.compact(back)
            case Reopen():
                self.storage = reopen(self.disk)

    def last(self) -> int:
        """The model's last index (what the next operation builds on)."""
        return self.model.last_index()

    def append(self, back: int, count: int, size_bytes: int) -> None:
        commit = self.model.hard_state.commit
        start = max(self.last() - back, commit, self.model.first_index() - 1) + 1
        self.term += 1
        batch = [entry(start + i, self.term, bytes(size_bytes) + b"x") for i in range(count)]
        state = hard(self.term, 0, start - 1)
        self.model.append(batch)
        self.model.set_hard_state(state)
        self.storage.save(state, batch)

    def compact(self, back: int) -> None:
        index = self.model.hard_state.commit - back
        if index < self.model.first_index():
            return
        meta = SnapshotMeta(LogIndex(index), self.model.term(LogIndex(index)))
        snapshot = Snapshot(meta, f"state at {index}".encode())
        self.model.compact(snapshot)
        self.storage.compact(snapshot)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_same_content_as_memory_storage_across_reopens(script: list[object]) -> None:
    pair = Pair()
    for operation in script:
        pair.run(operation)
        assert content(pair.storage) == content(pair.model)
    assert content(reopen(pair.disk)) == content(pair.model)
    pair.disk.crash()
    assert content(reopen(pair.disk)) == content(pair.model)


def scripted_saves() -> list[tuple[HardState | None, list[Entry], Snapshot | None]]:
    """A Ready sequence touching every write path: appends that fill and roll segments, an
    overwrite of a suffix, a hard state alone, a received snapshot, and appends after it."""
    big = b"z" * 900
    saves: list[tuple[HardState | None, list[Entry], Snapshot | None]] = [
        (hard(1, 1), [entry(1, 1), entry(2, 1)], None),
        (hard(1, 1, 2), [entry(i, 1, big) for i in range(3, 8)], None),
        (hard(2, 2, 2), [entry(5, 2), entry(6, 2)], None),
        (hard(2, 2, 6), [], None),
        (None, [entry(i, 2, big) for i in range(7, 10)], None),
    ]
    snapshot = Snapshot(SnapshotMeta(LogIndex(20), Term(3)), b"received")
    saves.append((hard(3, 0, 20), [], snapshot))
    saves.append((hard(3, 0, 20), [entry(21, 3), entry(22, 3, big)], None))
    return saves


def test_crash_after_every_disk_operation_recovers_the_last_synced_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    saves = scripted_saves()
    model_disk, model = fresh()
    expected = [content(model)]
    # The disk operation count after each save's WAL write, and whether it was synced.
    traced_points: list[tuple[int, bool]] = []
    wal_save = model.wal.save

    def traced(*args: Any, **kwargs: Any) -> None:
        wal_save(*args, **kwargs)
        traced_points.append((model_disk.operations, not model.wal.unsynced))

    monkeypatch.setattr(model.wal, "save", traced)
    for hard_state, batch, snapshot in saves:
        model.save(hard_state, batch, snapshot)
        expected.append(content(model))
    assert len(traced_points) == len(saves)
    # A save written without a sync (a commit index alone) is durable with the next sync.
    assert [synced for _, synced in traced_points].count(False) == 1
    durable_points = [
        next(point for point, synced in traced_points[position:] if synced)
        for position in range(len(traced_points))
    ]
    for budget in range(model_disk.operations + 1):
        disk = SimDisk(random.Random(budget))
        disk.operations_max = budget
        try:
            storage = WalStorage.open(disk, SMALL)
            for hard_state, batch, snapshot in saves:
                storage.save(hard_state, batch, snapshot)
        except SimulatedCrash:
            pass
        disk.crash()
        durable = sum(1 for point in durable_points if point <= budget)
        recovered = content(reopen(disk))
        assert recovered == expected[durable], f"power cut after {budget} disk operations"


def test_crash_with_torn_writes_recovers_a_prefix_of_the_saves() -> None:
    saves = scripted_saves()
    _, model = fresh()
    expected = [content(model)]
    for hard_state, batch, snapshot in saves:
        model.save(hard_state, batch, snapshot)
        expected.append(content(model))
    for budget in range(60):
        disk = SimDisk(random.Random(budget))
        disk.operations_max = budget
        try:
            storage = WalStorage.open(disk, SMALL)
            for hard_state, batch, snapshot in saves:
                storage.save(hard_state, batch, snapshot)
        except SimulatedCrash:
            pass
        disk.crash(tear=True)
        recovered = reopen(disk)
        last = recovered.last_index()
        assert recovered.hard_state.commit <= max(last, recovered.snapshot().meta.index)
        assert any(
            tuple(recovered.all_entries()) == state[2][: len(recovered.all_entries())]
            for state in expected
            if state[1] == recovered.snapshot()
        ), f"budget {budget}"


def test_reads_follow_the_memory_storage_contract() -> None:
    _, storage = fresh()
    storage.append([entry(1, 1), entry(2, 1), entry(3, 2)])
    storage.compact(Snapshot(SnapshotMeta(LogIndex(1), Term(1)), b"s"))
    assert storage.first_index() == 2
    assert storage.last_index() == 3
    assert storage.term(LogIndex(1)) == 1
    assert [e.index for e in storage.entries(LogIndex(2), LogIndex(4), 1)] == [2]
    for call in (
        lambda: storage.term(LogIndex(0)),
        lambda: storage.entries(LogIndex(1), LogIndex(2), 100),
    ):
        try:
            call()
            raise AssertionError("expected LogCompacted")
        except LogCompacted:
            pass
    try:
        storage.term(LogIndex(4))
        raise AssertionError("expected LogUnavailable")
    except LogUnavailable:
        pass


def test_bootstrap_matches_memory_storage_and_survives_reopen() -> None:
    membership = Membership(frozenset({NodeId(1), NodeId(2), NodeId(3)}))
    disk = SimDisk(random.Random(0))
    storage = WalStorage.open(disk, SMALL, membership)
    model = MemoryStorage(membership)
    assert content(storage) == content(model)
    disk.crash()
    assert content(WalStorage.open(disk, SMALL, membership)) == content(model)


def test_compaction_removes_whole_segments_only() -> None:
    disk, storage = fresh()
    for index in range(1, 40):
        storage.save(hard(1, 1, index - 1), [entry(index, 1, b"p" * 300)])
    segments_before = len(storage.wal.segments)
    assert segments_before > 3
    storage.compact(Snapshot(SnapshotMeta(LogIndex(30), Term(1)), b"s"))
    assert 1 <= len(storage.wal.segments) < segments_before
    disk.crash()
    recovered = reopen(disk)
    assert content(recovered) == content(storage)
    assert recovered.first_index() == 31


def test_os_disk_round_trip(tmp_path: Path) -> None:
    disk = OsDisk(str(tmp_path / "wal"))
    storage = WalStorage.open(disk, SMALL)
    for index in range(1, 30):
        storage.save(hard(2, 1, index - 1), [entry(index, 2, b"q" * 200)])
    storage.save(entries=[entry(25, 3)])
    storage.compact(Snapshot(SnapshotMeta(LogIndex(20), Term(2)), b"snapshot data"))
    storage.save(hard(3, 1, 24))
    recovered = WalStorage.open(OsDisk(str(tmp_path / "wal")), SMALL)
    assert content(recovered) == content(storage)
    assert recovered.last_index() == 25


def test_wal_storage_is_what_the_engine_reads_and_the_replica_writes() -> None:
    _, storage = fresh()
    readable: LogStorage = storage
    durable: DurableLog = storage
    durable.save(entries=(entry(1, 1),))
    assert readable.last_index() == 1


def test_a_recovered_log_takes_new_saves_after_every_crash_point() -> None:
    saves = scripted_saves()
    for budget in range(0, 40, 3):
        disk = SimDisk(random.Random(budget))
        disk.operations_max = budget
        try:
            storage = WalStorage.open(disk, SMALL)
            for hard_state, batch, snapshot in saves:
                storage.save(hard_state, batch, snapshot)
        except SimulatedCrash:
            pass
        disk.crash()
        storage = reopen(disk)
        term = max(storage.hard_state.term, 4)
        nexts = [entry(storage.last_index() + i, term, b"n" * 700) for i in range(1, 8)]
        storage.save(hard(term, 1, storage.hard_state.commit), nexts)
        assert content(reopen(disk)) == content(storage)


def test_a_save_larger_than_a_segment_gets_a_segment_of_its_own() -> None:
    disk, storage = fresh()
    storage.save(hard(1, 1), [entry(1, 1)])
    storage.save(hard(1, 1, 1), [entry(i, 1, b"L" * 1000) for i in range(2, 12)])
    assert len(storage.wal.segments) == 2
    assert len(disk.read(storage.wal.segment_names[-1])) > SMALL.segment_bytes_max
    storage.save(entries=[entry(12, 1)])
    assert len(storage.wal.segments) == 3
    disk.crash()
    assert content(reopen(disk)) == content(storage)


def test_one_save_is_one_write_and_one_fdatasync() -> None:
    disk, storage = fresh()
    storage.save(hard(1, 1), [entry(1, 1)])
    before = disk.operations
    storage.save(hard(1, 1, 1), [entry(i, 1) for i in range(2, 20)])
    assert disk.operations - before == 2


def test_segments_smaller_than_their_floor_are_refused() -> None:
    with pytest.raises(ConfigError):
        WalConfig(segment_bytes_max=SEGMENT_BYTES_MIN - 1)


def test_after_a_failed_write_the_log_takes_nothing_until_reopened() -> None:
    disk, storage = fresh()
    storage.save(hard(1, 1), [entry(1, 1)])
    disk.operations_max = disk.operations + 1
    with pytest.raises(SimulatedCrash):
        storage.save(hard(1, 1, 1), [entry(2, 1)])
    disk.operations_max = None
    with pytest.raises(WalFailed):
        storage.save(entries=[entry(3, 1)])
    recovered = reopen(disk)
    recovered.save(hard(1, 1, 1), [entry(2, 1)])
    assert reopen(disk).last_index() == 2
