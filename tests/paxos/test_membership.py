"""Membership changes in the Multi-Paxos engine: each test drives one change by hand and checks
the rule it names (learners catch up but never count, a change governs the slots after its
own, phase 1 covers every configuration in play, a removed leader steps down, one change at a
time, the configuration survives a restart)."""

from __future__ import annotations

import pytest

from synod.consensus.paxos.messages import Accept, Accepted, Prepare, TimeoutNow
from synod.core.engine import Role
from synod.core.errors import NotLeader, ProposalDropped
from synod.core.ids import NodeId
from synod.core.log import ChangeKind, EntryKind, Membership, MembershipChange, MembershipError
from tests.paxos.cluster import Cluster

VOTERS = frozenset(NodeId(n) for n in (1, 2, 3))


def _change(kind: ChangeKind, node: int) -> MembershipChange:
    return MembershipChange(kind, NodeId(node))


def _settle(cluster: Cluster, rounds: int = 3) -> None:
    """Heartbeats carry the final chosen index to everyone."""
    for _ in range(rounds):
        cluster.tick_all()
        cluster.stabilize()


def _with_learner(values: tuple[bytes, ...] = (b"a", b"b")) -> Cluster:
    cluster = Cluster()
    cluster.elect(1)
    for value in values:
        cluster.engine(1).propose(value)
    cluster.stabilize()
    cluster.add(4)
    cluster.engine(1).change_membership(_change(ChangeKind.ADD_LEARNER, 4))
    _settle(cluster)
    return cluster


def test_a_learner_is_added_and_caught_up_from_a_snapshot() -> None:
    cluster = _with_learner()
    expected = Membership(VOTERS, frozenset({NodeId(4)}))
    for node in (1, 2, 3, 4):
        assert cluster.engine(node).membership == expected
    learner = cluster.engine(4)
    assert learner.commit_index == cluster.engine(1).commit_index
    assert cluster.values(4) == cluster.values(1)
    assert cluster.values(4)[:2] == [b"a", b"b"]
    # It started empty: the configuration came with the leader's snapshot (the bootstrap one).
    assert cluster.nodes[NodeId(4)].storage.snapshot().meta.membership.voters == VOTERS
    for _ in range(30):  # a learner never campaigns
        learner.tick()
    assert learner.role is Role.FOLLOWER
    ready = learner.ready()
    assert ready is None or not any(isinstance(m, Prepare) for m in ready.messages)


def test_a_learner_accepts_but_does_not_count_in_a_quorum() -> None:
    cluster = _with_learner()
    leader = cluster.engine(1)
    before = leader.commit_index
    leader.propose(b"c")
    cluster.stabilize(keep=lambda m: m.source not in (2, 3) and m.target not in (2, 3))
    assert cluster.engine(4).last_index == leader.last_index  # the learner accepted it
    assert leader.commit_index == before  # but 1 and 4 are no quorum of {1, 2, 3}
    cluster.stabilize()
    _settle(cluster, 1)
    assert leader.commit_index == before + 1


def test_a_promoted_learner_counts_in_the_quorum() -> None:
    cluster = _with_learner()
    leader = cluster.engine(1)
    leader.change_membership(_change(ChangeKind.PROMOTE_LEARNER, 4))
    _settle(cluster)
    four = frozenset({*VOTERS, NodeId(4)})
    assert all(cluster.engine(n).membership == Membership(four) for n in (1, 2, 3, 4))
    before = leader.commit_index
    leader.propose(b"c")
    cluster.stabilize(keep=lambda m: 3 not in (m.source, m.target))
    assert leader.commit_index == before + 1  # 1, 2 and 4 are a quorum of four
    before = leader.commit_index
    leader.propose(b"d")
    cluster.stabilize(keep=lambda m: m.source not in (3, 4) and m.target not in (3, 4))
    assert leader.commit_index == before  # 1 and 2 are not


def test_a_removed_follower_no_longer_counts_or_hears_from_the_leader() -> None:
    cluster = Cluster()
    cluster.elect(1)
    leader = cluster.engine(1)
    leader.change_membership(_change(ChangeKind.REMOVE, 3))
    _settle(cluster)
    assert leader.membership == Membership(frozenset({NodeId(1), NodeId(2)}))
    assert cluster.engine(2).membership == leader.membership
    assert leader.progress(NodeId(3)) is None
    cluster.queue.clear()
    leader.propose(b"x")
    cluster.stabilize(keep=lambda m: 3 not in (m.source, m.target))
    assert leader.commit_index == leader.last_index
    cluster.early.clear()
    _settle(cluster)
    assert not any(m.target == 3 for m in cluster.early)


def test_a_removed_leader_steps_down_and_the_rest_elect_a_new_one() -> None:
    cluster = Cluster()
    cluster.elect(1)
    old = cluster.engine(1)
    old.propose(b"x")
    old.change_membership(_change(ChangeKind.REMOVE, 1))
    with pytest.raises(ProposalDropped, match="being removed"):
        old.propose(b"after")
    cluster.stabilize()
    assert old.role is Role.FOLLOWER
    remaining = Membership(frozenset({NodeId(2), NodeId(3)}))
    assert old.membership == remaining
    assert cluster.engine(2).membership == remaining  # it learned the choice before the exit
    leaders: list[int] = []
    for _ in range(40):
        cluster.tick_all()
        cluster.stabilize()
        leaders = [n for n in (1, 2, 3) if cluster.engine(n).role is Role.LEADER]
        if leaders:
            break
    assert leaders in ([2], [3])
    assert old.role is Role.FOLLOWER  # not a voter: it never campaigns
    new = cluster.engine(leaders[0])
    new.propose(b"y")
    _settle(cluster)
    for node in (2, 3):
        commands = [value for value in cluster.values(node) if value in (b"x", b"y")]
        assert commands == [b"x", b"y"]


def test_a_change_is_refused_while_another_is_pending_or_before_the_no_op() -> None:
    cluster = Cluster()
    cluster.engine(1).campaign()
    cluster.stabilize(keep=lambda m: not isinstance(m, Accepted))  # the no-op is never chosen
    leader = cluster.engine(1)
    assert leader.role is Role.LEADER
    with pytest.raises(ProposalDropped, match="first slot"):
        leader.change_membership(_change(ChangeKind.ADD_LEARNER, 4))
    cluster.stabilize()
    _settle(cluster, 1)
    leader.change_membership(_change(ChangeKind.ADD_LEARNER, 4))
    with pytest.raises(ProposalDropped, match="already in progress"):
        leader.change_membership(_change(ChangeKind.ADD_LEARNER, 5))
    with pytest.raises(NotLeader):
        cluster.engine(2).change_membership(_change(ChangeKind.ADD_LEARNER, 5))
    cluster.add(4)
    _settle(cluster)
    with pytest.raises(MembershipError, match="already a member"):
        leader.change_membership(_change(ChangeKind.ADD_LEARNER, 4))
    leader.change_membership(_change(ChangeKind.ADD_LEARNER, 5))  # the first one was chosen


def _membership_slot(cluster: Cluster, node: int) -> int:
    return max(e.index for e in cluster.log(node) if e.kind is EntryKind.MEMBERSHIP)


def test_a_change_accepted_by_one_acceptor_survives_a_leader_change() -> None:
    cluster = _with_learner(values=(b"a",))
    old = cluster.engine(1)
    promote = _change(ChangeKind.PROMOTE_LEARNER, 4)
    old.change_membership(promote)
    cluster.process(1)
    cluster.deliver(keep=lambda m: isinstance(m, Accept) and m.target == 2)
    cluster.process(2)
    cluster.queue.clear()  # the acceptance never reaches the old leader
    assert cluster.engine(2).last_index == old.last_index
    old.transfer_leadership(NodeId(2))
    cluster.process(1)
    cluster.deliver(keep=lambda m: isinstance(m, TimeoutNow))
    cluster.stabilize()
    _settle(cluster)
    new = cluster.engine(2)
    assert new.role is Role.LEADER
    four = Membership(frozenset({*VOTERS, NodeId(4)}))
    assert all(cluster.engine(n).membership == four for n in (1, 2, 3, 4))
    assert _membership_slot(cluster, 2) == _membership_slot(cluster, 1)


def test_phase_1_waits_for_a_quorum_of_the_configuration_a_pending_removal_makes() -> None:
    cluster = Cluster()
    cluster.elect(1)
    old = cluster.engine(1)
    old.change_membership(_change(ChangeKind.REMOVE, 3))
    cluster.process(1)
    cluster.deliver(keep=lambda m: isinstance(m, Accept) and m.target == 2)
    cluster.process(2)
    cluster.queue.clear()
    old.transfer_leadership(NodeId(2))
    cluster.process(1)
    cluster.deliver(keep=lambda m: isinstance(m, TimeoutNow))
    candidate = cluster.engine(2)
    cluster.stabilize(keep=lambda m: 1 not in (m.source, m.target))
    # 2 and 3 are a quorum of {1, 2, 3}, but the slots after the removal 2 would re-propose
    # are governed by {1, 2}: without node 1's promise, phase 1 is not done.
    assert candidate.role is Role.CANDIDATE
    prepared = [m for m in cluster.late if isinstance(m, Prepare) and m.source == 2]
    assert {m.target for m in prepared} == {1, 3}
    cluster.engine(1).step(next(m for m in prepared if m.target == 1))
    cluster.stabilize()
    _settle(cluster)
    assert cluster.engine(2).role is Role.LEADER
    pair = Membership(frozenset({NodeId(1), NodeId(2)}))
    assert candidate.membership == pair
    assert cluster.engine(1).membership == pair


def test_a_restart_recovers_the_configuration_from_the_log_and_from_a_snapshot() -> None:
    cluster = _with_learner()
    cluster.engine(1).change_membership(_change(ChangeKind.PROMOTE_LEARNER, 4))
    _settle(cluster)
    four = Membership(frozenset({*VOTERS, NodeId(4)}))
    cluster.restart(2)  # from the log: the changes are entries past the bootstrap snapshot
    assert cluster.engine(2).membership == four
    leader = cluster.engine(1)
    leader.compact(leader.applied_index, b"state")
    cluster.process(1)
    snapshot = cluster.nodes[NodeId(1)].storage.snapshot()
    assert snapshot.meta.index == leader.applied_index
    assert snapshot.meta.membership == four
    cluster.restart(1)  # from the snapshot: the changes were compacted away
    assert cluster.engine(1).membership == four
    assert cluster.engine(1).role is Role.FOLLOWER
    for _ in range(40):
        cluster.tick_all()
        cluster.stabilize()
        if any(cluster.engine(n).role is Role.LEADER for n in (1, 2, 3, 4)):
            break
    leaders = [n for n in (1, 2, 3, 4) if cluster.engine(n).role is Role.LEADER]
    assert len(leaders) == 1
    cluster.engine(leaders[0]).propose(b"after")
    _settle(cluster)
    assert all(cluster.values(n)[-1] == b"after" for n in (1, 2, 3, 4))
