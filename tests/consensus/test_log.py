import pytest

from synod.consensus.raft.log import RaftLog
from synod.consensus.reads import PendingRead, ReadQueue
from synod.consensus.storage import MemoryStorage, limit_size
from synod.core.errors import LogCompacted, LogUnavailable
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import Entry, Snapshot, SnapshotMeta


def entries(*terms: int, start: int = 1) -> list[Entry]:
    return [
        Entry(LogIndex(start + i), Term(t), data=f"e{start + i}".encode())
        for i, t in enumerate(terms)
    ]


def log_with(*terms: int) -> RaftLog:
    storage = MemoryStorage()
    storage.append(entries(*terms))
    return RaftLog(storage)


def test_terms_cover_storage_and_unstable() -> None:
    log = log_with(1, 1, 2)
    log.append(entries(3, start=4))
    assert [log.term(LogIndex(i)) for i in range(6)] == [0, 1, 1, 2, 3, None]
    assert log.last_index() == 4
    assert log.last_term() == 3


@pytest.mark.parametrize(
    ("index", "term", "expected"),
    [
        (6, 4, (6, 4)),  # matches
        (6, 3, (4, 3)),  # skip the whole term-4 suffix in one step
        (6, 2, (3, 2)),
        (6, 1, (2, 1)),
        (6, 0, (0, 0)),
        (9, 3, (4, 3)),  # beyond the end: start from the last entry
    ],
)
def test_find_conflict_by_term(index: int, term: int, expected: tuple[int, int]) -> None:
    log = log_with(1, 1, 2, 3, 4, 4)
    assert log.find_conflict_by_term(LogIndex(index), Term(term)) == expected


def test_maybe_append_truncates_a_conflicting_suffix_only() -> None:
    log = log_with(1, 1, 1, 1)
    log.commit_to(LogIndex(2))
    assert log.maybe_append(LogIndex(2), Term(1), LogIndex(3), tuple(entries(2, 2, start=3))) == 4
    assert [log.term(LogIndex(i)) for i in range(1, 5)] == [1, 1, 2, 2]
    assert log.committed == 3
    assert log.unstable_offset == 3
    assert log.maybe_append(LogIndex(4), Term(9), LogIndex(4), ()) is None


def test_commit_never_runs_past_the_last_new_entry() -> None:
    log = log_with(1, 1, 1, 1)
    assert log.maybe_append(LogIndex(1), Term(1), LogIndex(9), ()) == 1
    assert log.committed == 1


def test_stable_to_ignores_entries_replaced_since_the_ready() -> None:
    log = log_with(1)
    log.append(entries(1, 1, start=2))
    log.append(entries(2, start=3))  # index 3 replaced by a new leader's entry
    log.stable_to(LogIndex(3), Term(1))  # the Ready that held the old entry 3 completes
    assert log.unstable_offset == 2
    log.stable_to(LogIndex(3), Term(2))
    assert log.unstable == []


def test_compacted_and_missing_ranges_are_reported() -> None:
    storage = MemoryStorage()
    storage.append(entries(1, 1, 1, 1))
    storage.compact(Snapshot(SnapshotMeta(LogIndex(2), Term(1)), b"s"))
    with pytest.raises(LogCompacted):
        storage.entries(LogIndex(2), LogIndex(4), 1 << 20)
    with pytest.raises(LogUnavailable):
        storage.entries(LogIndex(3), LogIndex(6), 1 << 20)
    assert [e.index for e in storage.entries(LogIndex(3), LogIndex(5), 1 << 20)] == [3, 4]
    log = RaftLog(storage)
    assert log.term(LogIndex(1)) is None
    assert log.term(LogIndex(2)) == 1
    with pytest.raises(LogCompacted):
        log.entries(LogIndex(1), 1 << 20)


def test_restore_replaces_the_log_with_a_snapshot() -> None:
    log = log_with(1, 1)
    log.restore(Snapshot(SnapshotMeta(LogIndex(10), Term(3)), b"state"))
    assert log.last_index() == 10
    assert log.committed == 10
    assert log.term(LogIndex(10)) == 3
    assert log.term(LogIndex(2)) is None


def test_limit_size_keeps_at_least_one_entry() -> None:
    big = [Entry(LogIndex(i), Term(1), data=b"x" * 100) for i in range(1, 4)]
    assert len(limit_size(big, 10)) == 1
    assert len(limit_size(big, 260)) == 2
    assert limit_size([], 10) == []


def test_read_rounds_release_in_order_once_a_quorum_confirms() -> None:
    voters = frozenset({NodeId(1), NodeId(2), NodeId(3)})
    reads = ReadQueue(reads_max=4)
    reads.add(PendingRead(b"a", NodeId(1)))
    reads.add(PendingRead(b"b", NodeId(2)))
    assert reads.start_round(LogIndex(7)) == 1
    reads.add(PendingRead(b"c", NodeId(1)))
    assert reads.start_round(LogIndex(8)) == 2
    assert reads.release(voters, NodeId(1)) == []
    reads.ack(NodeId(3), 1)
    released = reads.release(voters, NodeId(1))
    assert [(r.request_id, r.index) for r in released] == [(b"a", 7), (b"b", 7)]
    reads.ack(NodeId(2), 2)
    assert [r.request_id for r in reads.release(voters, NodeId(1))] == [b"c"]
    assert len(reads) == 0
