"""Engine edge cases that are awkward to reach in a script."""

import random

from synod.consensus.raft import RaftEngine
from synod.consensus.raft.messages import (
    AppendEntries,
    AppendResponse,
    InstallSnapshot,
    VoteRequest,
    VoteResponse,
)
from synod.consensus.storage import MemoryStorage
from synod.core.config import EngineConfig
from synod.core.engine import Role, messages_of
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import (
    ChangeKind,
    Entry,
    EntryKind,
    HardState,
    Membership,
    MembershipChange,
    Snapshot,
    SnapshotMeta,
)

VOTERS = Membership(frozenset({NodeId(1), NodeId(2), NodeId(3)}))


def test_compaction_is_skipped_while_a_leaders_snapshot_is_being_installed():
    storage = MemoryStorage(VOTERS)
    engine = RaftEngine(NodeId(2), storage, EngineConfig(), random.Random(1))
    snapshot = Snapshot(SnapshotMeta(LogIndex(50), Term(3), VOTERS), b"state")
    engine.step(InstallSnapshot(NodeId(1), NodeId(2), Term(3), snapshot))
    # The driver still holds the old state (applied 1) and asks to compact it: the log is
    # about to be replaced by the snapshot, so there is nothing of its own to fold away.
    engine.compact(LogIndex(1), b"old state")
    ready = engine.ready()
    assert ready is not None
    assert ready.snapshot == snapshot
    assert ready.compaction is None


def test_a_snapshot_received_mid_ready_supersedes_its_membership_changes():
    storage = MemoryStorage(VOTERS)
    engine = RaftEngine(NodeId(2), storage, EngineConfig(), random.Random(1))
    add_learner = MembershipChange(ChangeKind.ADD_LEARNER, NodeId(4)).encode()
    entries = (
        Entry(LogIndex(2), Term(2)),
        Entry(LogIndex(3), Term(2), EntryKind.MEMBERSHIP, add_learner),
    )
    engine.step(
        AppendEntries(NodeId(1), NodeId(2), Term(2), LogIndex(1), Term(1), entries, LogIndex(3))
    )
    ready = engine.ready()
    assert ready is not None
    assert [entry.index for entry in ready.committed_entries] == [2, 3]
    # Before the driver finishes that Ready, the leader sends a snapshot from further on,
    # taken after node 4 was removed again.
    snapshot = Snapshot(SnapshotMeta(LogIndex(9), Term(2), VOTERS), b"state")
    engine.step(InstallSnapshot(NodeId(1), NodeId(2), Term(2), snapshot))
    engine.advance(ready)
    assert engine.membership == VOTERS
    follow_up = engine.ready()
    assert follow_up is not None
    assert follow_up.snapshot == snapshot


def repairing_node(until: int) -> tuple[RaftEngine, MemoryStorage]:
    """Node 2 after a repair cut its log back to index 3 (term 2), owing entries up to
    ``until``; it had voted for node 1 in term 2."""
    storage = MemoryStorage()
    entries = [Entry(LogIndex(2), Term(2)), Entry(LogIndex(3), Term(2))]
    storage._load(
        HardState(Term(2), NodeId(1), LogIndex(3)),
        Snapshot(SnapshotMeta(LogIndex(1), Term(1), VOTERS)),
        entries,
        LogIndex(until),
    )
    return RaftEngine(NodeId(2), storage, EngineConfig(), random.Random(1)), storage


def drive(engine: RaftEngine, storage: MemoryStorage) -> list[VoteResponse]:
    """Carry out one Ready as a driver would; return the vote replies it sends."""
    ready = engine.ready()
    assert ready is not None
    storage.save(ready.hard_state, ready.entries, ready.snapshot)
    replies = [m for m in messages_of(ready) if isinstance(m, VoteResponse)]
    engine.advance(ready)
    return replies


def test_a_node_repairing_its_log_neither_votes_nor_campaigns_until_refilled():
    engine, storage = repairing_node(until=6)
    for _ in range(10 * EngineConfig().election_timeout_ticks):
        engine.tick()
    assert engine.role is Role.FOLLOWER, "a repairing node must not campaign"
    # A candidate whose log is as fresh as the repaired one: refused, pre-vote or not.
    for pre_vote in (True, False):
        request = VoteRequest(NodeId(3), NodeId(2), Term(3), LogIndex(3), Term(2), pre_vote)
        engine.step(request)
        assert [reply.granted for reply in drive(engine, storage)] == [False]
    # The leader of term 3 refills the log up to the bound; from then on it votes again.
    refill = tuple(Entry(LogIndex(i), Term(3)) for i in (4, 5, 6))
    engine.step(
        AppendEntries(NodeId(1), NodeId(2), Term(3), LogIndex(3), Term(2), refill, LogIndex(6))
    )
    drive(engine, storage)
    assert storage.repair_until() == 0
    # (a transfer, so that the leader lease it just renewed does not hide the answer)
    request = VoteRequest(NodeId(3), NodeId(2), Term(4), LogIndex(6), Term(3), transfer=True)
    engine.step(request)
    assert [reply.granted for reply in drive(engine, storage)] == [True]


def test_a_repair_owing_nothing_votes_at_once():
    engine, storage = repairing_node(until=0)
    assert storage.repair_until() == 0
    engine.step(VoteRequest(NodeId(3), NodeId(2), Term(3), LogIndex(3), Term(2)))
    assert [reply.granted for reply in drive(engine, storage)] == [True]


def appends_to(engine: RaftEngine, storage: MemoryStorage, node: int) -> list[AppendEntries]:
    """Carry out one Ready; return the AppendEntries it sends to ``node``."""
    ready = engine.ready()
    if ready is None:
        return []
    storage.save(ready.hard_state, ready.entries, ready.snapshot)
    sent = [m for m in messages_of(ready) if isinstance(m, AppendEntries) and m.target == node]
    engine.advance(ready)
    return sent


def test_answers_from_before_a_followers_log_loss_are_ignored():
    """A follower acknowledged the leader's log, then a repair cut it back to index 1. Once the
    leader has heard so, a duplicate of the old acknowledgement must not make it believe the
    follower holds it all again (it would probe there forever: the follower lacks it)."""
    storage = MemoryStorage(VOTERS)
    leader = RaftEngine(NodeId(1), storage, EngineConfig(pre_vote=False), random.Random(1))
    leader.campaign()
    appends_to(leader, storage, 2)
    term = leader.term
    leader.step(VoteResponse(NodeId(2), NodeId(1), term, granted=True))
    assert leader.role is Role.LEADER
    for command in (b"a", b"b", b"c"):
        leader.propose(command)
    appends_to(leader, storage, 2)
    acknowledged = leader.log.last_index()
    old_ack = AppendResponse(NodeId(2), NodeId(1), term, acknowledged)
    leader.step(old_ack)
    appends_to(leader, storage, 2)
    leader.propose(b"d")
    [append] = appends_to(leader, storage, 2)
    assert (append.prev_index, append.epoch) == (acknowledged, 0)

    lost = AppendResponse(
        NodeId(2), NodeId(1), term, append.prev_index, True, LogIndex(1), Term(1), log_lost=True
    )
    leader.step(lost)
    [probe] = appends_to(leader, storage, 2)
    assert (probe.prev_index, probe.epoch) == (1, 1), "probe from what the follower holds"

    leader.step(old_ack)  # duplicated by the network, from before the loss
    assert appends_to(leader, storage, 2) == [], "a stale answer moves nothing"

    leader.step(AppendResponse(NodeId(2), NodeId(1), term, LogIndex(2), epoch=1))
    [catch_up] = appends_to(leader, storage, 2)
    assert (catch_up.prev_index, catch_up.epoch) == (2, 1)
