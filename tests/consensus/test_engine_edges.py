"""Engine edge cases that are awkward to reach in a script."""

import random

from synod.consensus.raft import RaftEngine
from synod.consensus.raft.messages import AppendEntries, InstallSnapshot
from synod.consensus.storage import MemoryStorage
from synod.core.config import EngineConfig
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import (
    ChangeKind,
    Entry,
    EntryKind,
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
