"""Each invariant check fires on a hand-made bad state and stays quiet on a good one."""

from __future__ import annotations

from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import Entry, EntryKind, HardState
from synod.kv.mvcc import CompactionRequest, MvccStore, PutRequest
from synod.sim.invariants import (
    AckedPut,
    CommitRecord,
    Digest,
    Invariants,
    LogRecord,
    check_acked_put,
    check_commit_agreement,
    check_committed_durable,
    check_durable_hard_state,
    check_election_safety,
    check_keyspace_hash,
    check_leader_completeness,
    check_log_matching,
    check_monotonic,
    check_restart,
    check_state_machine_safety,
)


def entry(index: int, term: int, data: bytes = b"x") -> Entry:
    return Entry(LogIndex(index), Term(term), EntryKind.NORMAL, data)


def test_election_safety_allows_one_leader_per_term():
    leaders: dict[Term, NodeId] = {}
    assert check_election_safety(leaders, NodeId(1), Term(3)) is None
    assert check_election_safety(leaders, NodeId(1), Term(3)) is None
    assert check_election_safety(leaders, NodeId(2), Term(4)) is None
    message = check_election_safety(leaders, NodeId(2), Term(3))
    assert message == "election safety: nodes 1 and 2 both leader in term 3"


def test_log_matching_catches_different_data_at_one_index_and_term():
    records: dict[tuple[LogIndex, Term], LogRecord] = {}
    assert check_log_matching(records, NodeId(1), entry(5, 2, b"a"), Term(2)) is None
    assert check_log_matching(records, NodeId(2), entry(5, 2, b"a"), Term(2)) is None
    message = check_log_matching(records, NodeId(3), entry(5, 2, b"b"), Term(2))
    assert message is not None
    assert "node 3 holds index 5 term 2" in message


def test_log_matching_catches_a_different_previous_term():
    records: dict[tuple[LogIndex, Term], LogRecord] = {}
    assert check_log_matching(records, NodeId(1), entry(5, 2), Term(1)) is None
    message = check_log_matching(records, NodeId(2), entry(5, 2), Term(2))
    assert message is not None
    assert "after term 2" in message
    assert "after term 1" in message


def test_log_matching_learns_an_unknown_previous_term_later():
    records: dict[tuple[LogIndex, Term], LogRecord] = {}
    assert check_log_matching(records, NodeId(1), entry(5, 2), None) is None
    assert check_log_matching(records, NodeId(2), entry(5, 2), Term(1)) is None
    assert check_log_matching(records, NodeId(3), entry(5, 2), Term(2)) is not None


def test_state_machine_safety_catches_two_entries_applied_at_one_index():
    applied: dict[LogIndex, tuple[Term, Digest]] = {}
    assert check_state_machine_safety(applied, NodeId(1), entry(7, 3, b"a")) is None
    assert check_state_machine_safety(applied, NodeId(2), entry(7, 3, b"a")) is None
    message = check_state_machine_safety(applied, NodeId(2), entry(7, 4, b"b"))
    assert message is not None
    assert "node 2 applied index 7 term 4" in message


def test_leader_completeness_catches_a_leader_missing_a_committed_entry():
    committed = {
        LogIndex(1): CommitRecord(Term(1), Term(1)),
        LogIndex(2): CommitRecord(Term(1), Term(2)),
    }
    terms = {LogIndex(1): Term(1), LogIndex(2): Term(2)}
    message = check_leader_completeness(
        committed,
        NodeId(3),
        Term(4),
        log_term=terms.get,
        covered_index=LogIndex(0),
        indexes=[LogIndex(1), LogIndex(2)],
    )
    assert message is not None
    assert "node 3 became leader of term 4 without committed index 2 term 1" in message
    covered = check_leader_completeness(
        committed,
        NodeId(3),
        Term(4),
        log_term=lambda index: None,
        covered_index=LogIndex(2),
        indexes=[LogIndex(1), LogIndex(2)],
    )
    assert covered is None


def test_monotonic_indexes_never_move_back():
    assert check_monotonic(NodeId(1), "commit index", 5, 5) is None
    assert check_monotonic(NodeId(1), "commit index", 5, 4) == (
        "commit index moved back on node 1: 5 -> 4"
    )


def test_durable_hard_state_rules():
    node = NodeId(2)
    base = HardState(Term(3), NodeId(1), LogIndex(4))
    assert check_durable_hard_state(node, base, HardState(Term(4), NodeId(2), LogIndex(4))) is None
    assert check_durable_hard_state(node, HardState(Term(3)), base) is None
    lower_term = check_durable_hard_state(node, base, HardState(Term(2), NodeId(1), LogIndex(4)))
    assert lower_term is not None
    assert "term decreased" in lower_term
    new_vote = check_durable_hard_state(node, base, HardState(Term(3), NodeId(3), LogIndex(4)))
    assert new_vote == "durable vote changed on node 2 in term 3: 1 -> 3"
    uncommit = check_durable_hard_state(node, base, HardState(Term(3), NodeId(1), LogIndex(3)))
    assert uncommit is not None
    assert "commit decreased" in uncommit


def test_restart_never_starts_below_what_was_durable():
    durable = HardState(Term(2), NodeId(1), LogIndex(9))
    assert check_restart(NodeId(1), durable, LogIndex(5), 9, 5) is None
    below_commit = check_restart(NodeId(1), durable, LogIndex(5), 8, 5)
    assert below_commit is not None
    assert "commit 8 below durable commit 9" in below_commit
    below_snapshot = check_restart(NodeId(1), durable, LogIndex(5), 9, 4)
    assert below_snapshot is not None
    assert "applied 4 below its snapshot index 5" in below_snapshot


def test_the_tracker_collects_violations_across_nodes():
    invariants = Invariants()
    terms = {LogIndex(1): Term(1), LogIndex(2): Term(1)}
    invariants.on_entries(NodeId(1), [entry(1, 1), entry(2, 1)], terms.get)
    invariants.on_applied(NodeId(1), [entry(1, 1), entry(2, 1)], Term(1))
    assert invariants.violations == []
    invariants.on_entries(NodeId(2), [entry(2, 1, b"other")], terms.get)
    invariants.on_leader(NodeId(2), Term(2), {LogIndex(1): Term(1)}.get, LogIndex(0))
    assert len(invariants.violations) == 2
    assert invariants.violations[0].startswith("log matching: node 2")
    assert invariants.violations[1].startswith("leader completeness: node 2")


def test_an_entry_committed_before_a_quorum_made_it_durable_is_caught():
    assert check_committed_durable(NodeId(1), entry(4, 2), holders=2, quorum=2) is None
    message = check_committed_durable(NodeId(1), entry(4, 2), holders=1, quorum=2)
    assert message == (
        "durability: node 1 applied index 4 term 2, committed while durable on only 1 voters "
        "(quorum 2)"
    )


def test_a_leader_of_a_dead_term_need_not_hold_what_later_terms_committed():
    invariants = Invariants()
    terms = {LogIndex(1): Term(1), LogIndex(2): Term(4)}
    invariants.on_entries(NodeId(1), [entry(1, 1), entry(2, 4)], terms.get)
    invariants.on_applied(NodeId(1), [entry(1, 1)], Term(1))
    invariants.on_applied(NodeId(1), [entry(2, 4)], Term(4))
    # Node 3 wins term 3 late (its vote grants were delayed) holding only index 1: legal.
    invariants.on_leader(NodeId(3), Term(3), {LogIndex(1): Term(1)}.get, LogIndex(0))
    assert invariants.violations == []
    # The same log winning term 5 misses index 2, committed in term 4: a violation.
    invariants.on_leader(NodeId(3), Term(5), {LogIndex(1): Term(1)}.get, LogIndex(0))
    assert len(invariants.violations) == 1
    assert "without committed index 2 term 4" in invariants.violations[0]


def test_two_different_entries_committed_at_one_index_are_caught_before_any_apply():
    commits: dict[LogIndex, CommitRecord] = {}
    assert check_commit_agreement(commits, NodeId(1), LogIndex(5), Term(2), Term(4)) is None
    assert check_commit_agreement(commits, NodeId(2), LogIndex(5), Term(2), Term(3)) is None
    assert commits[LogIndex(5)].commit_term == 3
    message = check_commit_agreement(commits, NodeId(3), LogIndex(5), Term(3), Term(5))
    assert message is not None
    assert "node 3 committed index 5 term 3, another node committed term 2" in message


def test_keyspace_hashes_must_agree_at_one_applied_index():
    hashes: dict[LogIndex, tuple[NodeId, bytes]] = {}
    assert check_keyspace_hash(hashes, NodeId(1), LogIndex(32), b"\x01" * 4) is None
    assert check_keyspace_hash(hashes, NodeId(2), LogIndex(32), b"\x01" * 4) is None
    assert check_keyspace_hash(hashes, NodeId(2), LogIndex(64), b"\x02" * 4) is None
    violation = check_keyspace_hash(hashes, NodeId(3), LogIndex(32), b"\x03" * 4)
    assert violation is not None
    assert "nodes 1 and 3 applied up to index 32" in violation


def test_an_acknowledged_put_must_read_back_at_its_revision_unless_compacted():
    store = MvccStore()
    first = store.put(PutRequest(b"k", b"v1")).revision
    second = store.put(PutRequest(b"k", b"v2")).revision
    assert check_acked_put(NodeId(1), store, AckedPut(b"k", b"v1", first, LogIndex(3))) is None
    assert check_acked_put(NodeId(1), store, AckedPut(b"k", b"v2", second, LogIndex(4))) is None
    lost = check_acked_put(NodeId(2), store, AckedPut(b"k", b"other", second, LogIndex(4)))
    assert lost is not None
    assert "acknowledged put lost" in lost
    assert "node 2" in lost
    future = check_acked_put(NodeId(2), store, AckedPut(b"k", b"v3", second + 1, LogIndex(5)))
    assert future is not None
    assert "future revision" in future
    store.compact(CompactionRequest(second))
    assert check_acked_put(NodeId(1), store, AckedPut(b"k", b"x", first, LogIndex(3))) is None
