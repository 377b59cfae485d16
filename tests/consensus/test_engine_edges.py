"""Engine edge cases that are awkward to reach in a script."""

import random

from synod.consensus.raft import RaftEngine
from synod.consensus.raft.messages import InstallSnapshot
from synod.consensus.storage import MemoryStorage
from synod.core.config import EngineConfig
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import Membership, Snapshot, SnapshotMeta

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
