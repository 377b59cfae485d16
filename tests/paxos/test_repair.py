"""Phase 1 with an acceptor whose WAL repair cut its log: its promise counts toward a quorum's
size, never as proof of what was accepted (``proposer.py``'s rule on intact promises)."""

from __future__ import annotations

import dataclasses

from synod.consensus.paxos.messages import Accept, Prepare, Promise
from synod.core.engine import Role
from synod.core.ids import LogIndex, NodeId, Term
from tests.paxos.cluster import Cluster


def _repair(cluster: Cluster, node_id: int, keep_through: int) -> None:
    """Crash ``node_id`` and restart it as WAL recovery would after cutting a damaged range:
    slots past ``keep_through`` are gone, and it owes everything up to its old last slot."""
    storage = cluster.nodes[NodeId(node_id)].storage
    owed = storage.last_index()
    assert keep_through < owed, "a repair that cuts nothing"
    kept = [entry for entry in storage.all_entries() if entry.index <= keep_through]
    hard_state = storage.hard_state
    hard_state = dataclasses.replace(
        hard_state, commit=LogIndex(min(hard_state.commit, keep_through))
    )
    storage._load(hard_state, storage.snapshot(), kept, LogIndex(owed))
    cluster.restart(node_id)


def _forget_leader(cluster: Cluster, *nodes: int) -> None:
    """Let an election timeout pass at ``nodes`` with every message lost, so that they no
    longer ignore prepares for the sake of a live leader (a leader steps down on its own check
    of the quorum, which takes up to two timeouts)."""
    for _ in range(2 * cluster.config.election_timeout_ticks + 1):
        for node in nodes:
            cluster.engine(node).tick()
    cluster.process_all()
    cluster.queue.clear()


def _between(*nodes: int):
    return lambda message: message.source in nodes and message.target in nodes


def test_a_repairing_acceptor_promises_and_says_so() -> None:
    cluster = Cluster()
    cluster.elect(1)
    cluster.engine(1).propose(b"put x")
    cluster.stabilize()
    chosen = cluster.engine(1).commit_index
    _repair(cluster, 3, keep_through=chosen - 1)
    repaired = cluster.engine(3)
    ballot = Term(cluster.engine(1).term + 1)
    repaired.step(Prepare(NodeId(2), NodeId(3), ballot, LogIndex(chosen)))
    cluster.process(3)
    promise = next(m for m in cluster.queue if isinstance(m, Promise) and m.source == 3)
    assert promise.granted
    assert promise.repairing
    assert repaired.term == ballot
    # It still does not campaign, however long it hears nothing.
    cluster.queue.clear()
    for _ in range(5 * cluster.config.election_timeout_ticks):
        repaired.tick()
    assert repaired.role is Role.FOLLOWER
    cluster.process(3)
    assert not any(isinstance(m, Prepare) for m in cluster.queue)


def test_two_voters_elect_a_leader_while_one_repairs() -> None:
    """Soak seed 5943 (``--disk wal``): a change to three voters was chosen at the leader of a
    two-voter configuration, which then crashed and repaired its log. The slots before the
    change are governed by the two, so a candidate needs the repairing one's promise: counted
    toward the size only, as the candidate's own intact promise meets every majority of two.
    Without that, no leader could ever be chosen again."""
    cluster = Cluster(size=2)
    cluster.elect(1)
    for value in (b"put a", b"put b", b"put c"):
        cluster.engine(1).propose(value)
    cluster.stabilize()
    chosen = cluster.engine(1).commit_index
    _repair(cluster, 1, keep_through=chosen - 2)
    assert cluster.engine(1).last_index == chosen - 2
    survivor = cluster.engine(2)
    survivor.campaign()
    cluster.stabilize()
    assert survivor.role is Role.LEADER
    assert cluster.engine(1).leader == 2
    survivor.propose(b"put d")
    cluster.stabilize()
    # The repaired node was refilled with the chosen values, and it campaigns again.
    assert cluster.values(1)[-4:] == [b"put a", b"put b", b"put c", b"put d"]
    assert cluster.values(2)[-4:] == [b"put a", b"put b", b"put c", b"put d"]
    assert cluster.nodes[NodeId(1)].storage.repair_until() == 0
    assert not cluster.engine(1)._repairing()


def test_a_repairing_promise_never_stands_in_for_an_intact_one() -> None:
    """Three voters: ``put x`` is chosen by 2 and 3, then 3's repair loses it. A candidate that
    hears only 3 (repairing) and itself must not lead: it would fill the slot with a no-op
    and unchoose ``put x``. With 2's promise it leads and keeps the value."""
    cluster = Cluster()
    cluster.elect(2)
    cluster.engine(2).propose(b"put x")
    cluster.stabilize(keep=_between(2, 3))
    slot = cluster.engine(2).commit_index
    assert cluster.log(2)[-1].data == b"put x"
    assert cluster.engine(1).last_index < slot
    _repair(cluster, 3, keep_through=slot - 1)
    candidate = cluster.engine(1)
    candidate.campaign()
    cluster.stabilize(keep=_between(1, 3))
    assert candidate.role is Role.CANDIDATE
    assert all(entry.data != b"" or entry.index < slot for entry in cluster.log(1))
    # Node 2's promise completes phase 1 and carries the chosen value.
    _forget_leader(cluster, 2)
    candidate.campaign()
    cluster.stabilize()
    assert cluster.engine(1).role is Role.LEADER
    assert (slot, b"put x") in cluster.nodes[NodeId(1)].applied


def test_an_intact_majority_is_enough_without_the_repairing_acceptor() -> None:
    cluster = Cluster()
    cluster.elect(1)
    cluster.engine(1).propose(b"put x")
    cluster.stabilize()
    _repair(cluster, 3, keep_through=cluster.engine(1).commit_index - 1)
    _forget_leader(cluster, 1)
    cluster.engine(2).campaign()
    cluster.stabilize(keep=_between(1, 2))
    assert cluster.engine(2).role is Role.LEADER
    accepts = [m for m in cluster.late + cluster.early if isinstance(m, Accept)]
    assert accepts
