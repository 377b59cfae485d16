"""Catch-up under reordering and loss: every answer, a refusal too, reports the run of slots
the acceptor holds in the leader's ballot, and the leader's view of it rises to that run
whatever order the answers arrive in."""

from __future__ import annotations

import dataclasses

from synod.consensus.paxos.ballot import ballot, node_of
from synod.consensus.paxos.messages import Accept, Accepted
from synod.consensus.storage import MemoryStorage
from synod.core.config import EngineConfig
from synod.core.ids import LogIndex, NodeId
from synod.core.log import Entry, HardState, Membership
from tests.paxos.cluster import Cluster

ONE_SLOT_PER_ACCEPT = EngineConfig(
    election_timeout_ticks=10,
    heartbeat_interval_ticks=1,
    check_quorum=False,
    inflight_messages_max=4,
    message_bytes_max=1,
)


def _elected() -> Cluster:
    """Node 1 leads; from here on the tests hand messages over one by one, and none to 3."""
    cluster = Cluster(config=ONE_SLOT_PER_ACCEPT)
    cluster.elect(1)
    cluster.queue.clear()
    return cluster


def _accepts_to(cluster: Cluster, node: int) -> list[Accept]:
    return [m for m in cluster.queue if isinstance(m, Accept) and m.target == node]


def _answers(cluster: Cluster, node: int) -> list[Accepted]:
    return [m for m in cluster.queue if isinstance(m, Accepted) and m.source == node]


def _step_all(cluster: Cluster, messages: list[Accept] | list[Accepted]) -> None:
    for message in messages:
        cluster.engine(message.target).step(message)


def test_acknowledgements_that_arrive_in_reverse_order_all_count() -> None:
    cluster = _elected()
    leader = cluster.engine(1)
    for n in range(4):
        leader.propose(f"put {n}".encode())
    cluster.process(1)
    accepts = _accepts_to(cluster, 2)
    assert [len(a.entries) for a in accepts] == [1, 1, 1, 1]  # a full window, one slot each
    cluster.queue.clear()
    _step_all(cluster, accepts)  # in order: node 2 accepts every slot
    cluster.process(2)
    answers = _answers(cluster, 2)
    assert len(answers) == 4
    assert all(a.ok for a in answers)
    cluster.queue.clear()
    _step_all(cluster, answers[::-1])  # the network reverses the answers
    progress = leader.progress(NodeId(2))
    assert progress is not None
    assert progress.match == leader.last_index
    assert leader.commit_index == leader.last_index  # all four chosen, no retransmission


def test_values_accepted_while_the_answers_were_lost_count_at_the_next_answer() -> None:
    cluster = Cluster(config=dataclasses.replace(ONE_SLOT_PER_ACCEPT, inflight_messages_max=16))
    cluster.elect(1)
    cluster.queue.clear()
    leader = cluster.engine(1)
    for n in range(12):
        leader.propose(f"put {n}".encode())
    cluster.process(1)
    accepts = _accepts_to(cluster, 2)
    assert len(accepts) == 12
    cluster.queue.clear()
    _step_all(cluster, accepts)  # node 2 accepts every slot, but its answers are lost
    cluster.process(2)
    cluster.queue.clear()
    assert cluster.engine(2).last_index == leader.last_index
    for _ in range(2):  # a heartbeat interval without progress: the leader rewinds and probes
        leader.tick()
        cluster.process(1)
    probe = _accepts_to(cluster, 2)
    assert len(probe) == 1
    cluster.queue.clear()
    _step_all(cluster, probe)
    cluster.process(2)
    _step_all(cluster, _answers(cluster, 2))  # one answer reports every slot held
    progress = leader.progress(NodeId(2))
    assert progress is not None
    assert progress.match == leader.last_index
    assert leader.commit_index == leader.last_index


def test_the_reported_run_stops_at_a_value_of_an_older_ballot() -> None:
    cluster = Cluster(config=ONE_SLOT_PER_ACCEPT)
    voters = frozenset(NodeId(n) for n in (1, 2, 3))
    old, new = ballot(2, NodeId(3)), ballot(3, NodeId(1))
    storage = MemoryStorage(Membership(voters))
    storage.append(
        [
            Entry(LogIndex(2), old, data=b"x"),
            Entry(LogIndex(3), old, data=b"y"),
            Entry(LogIndex(4), old, data=b"z"),
        ]
    )
    storage.set_hard_state(HardState(old, node_of(old), LogIndex(1)))
    cluster.nodes[NodeId(2)].storage = storage
    cluster.restart(2)
    acceptor = cluster.engine(2)

    def accept(slot: int) -> Accepted:
        entry = (Entry(LogIndex(slot), new, data=b"v"),)
        acceptor.step(Accept(NodeId(1), NodeId(2), new, LogIndex(slot - 1), entry, LogIndex(1)))
        cluster.process(2)
        reply = cluster.queue.pop()
        assert isinstance(reply, Accepted)
        assert reply.ok
        return reply

    assert accept(3).run == 1  # slot 2 still holds the older ballot's value
    assert accept(2).run == 3  # now 2 and 3 hold this ballot's values; 4 does not
    assert accept(4).run == 4


def test_a_hole_refusal_reports_the_run_and_the_leader_resends_after_it() -> None:
    cluster = _elected()
    leader = cluster.engine(1)
    for n in range(4):
        leader.propose(f"put {n}".encode())
    cluster.process(1)
    accepts = _accepts_to(cluster, 2)
    assert len(accepts) == 4
    cluster.queue.clear()
    # The first two arrive, their answers are lost; the fourth overtakes the third: a hole.
    _step_all(cluster, [accepts[0], accepts[1], accepts[3]])
    cluster.process(2)
    refusal = _answers(cluster, 2)[-1]
    assert not refusal.ok
    assert refusal.run == accepts[1].entries[-1].index
    cluster.queue.clear()
    leader.step(refusal)
    progress = leader.progress(NodeId(2))
    assert progress is not None
    assert progress.match == refusal.run  # the two lost answers count
    cluster.process(1)
    resent = _accepts_to(cluster, 2)
    # One probe (a refusal opens no window), from the first slot it lacks, not before.
    assert [a.prev for a in resent] == [refusal.run]
