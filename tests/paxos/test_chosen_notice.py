"""How the leader answers acknowledgements: acceptors learn that a slot is chosen at once,
without waiting for a heartbeat tick, and each piece of news once; an acknowledgement that
comes late or twice neither makes the leader tell an acceptor again what it already sent it
nor frees a place in the window of Accepts in flight twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from synod.consensus.paxos.messages import Accept, Accepted, Heartbeat
from synod.core.config import EngineConfig
from synod.core.ids import NodeId
from tests.paxos.cluster import Cluster


def _heartbeats(messages: Iterable[object]) -> list[Heartbeat]:
    return [m for m in messages if isinstance(m, Heartbeat)]


def test_every_acceptor_learns_a_chosen_slot_at_once_and_is_told_once() -> None:
    cluster = Cluster()
    cluster.elect(1)
    leader = cluster.engine(1)
    cluster.early.clear()
    leader.propose(b"put x")
    cluster.stabilize()  # no tick: only what choosing the slot sends
    for node in (2, 3):
        assert cluster.engine(node).commit_index == leader.commit_index
        assert cluster.values(node)[-1] == b"put x"
    told = Counter(m.target for m in _heartbeats(cluster.early))
    assert all(count <= 1 for count in told.values()), told


def test_a_late_or_repeated_acknowledgement_is_not_answered_with_old_news() -> None:
    cluster = Cluster()
    cluster.elect(1)
    leader = cluster.engine(1)
    cluster.late.clear()
    for command in (b"a", b"b", b"c"):
        leader.propose(command)
        cluster.stabilize()
    answers = [m for m in cluster.late if isinstance(m, Accepted) and m.target == NodeId(1)]
    assert answers, "the acceptors acknowledged the proposals"
    for answer in answers:  # every acknowledgement again, as a network that duplicates would
        leader.step(answer)
    ready = cluster.process(1)
    sent = [*ready.early_messages, *ready.messages] if ready is not None else []
    assert _heartbeats(sent) == []
    assert cluster.engine(2).commit_index == cluster.engine(3).commit_index == leader.commit_index


def test_a_duplicated_acknowledgement_does_not_widen_the_window() -> None:
    config = EngineConfig(
        election_timeout_ticks=10,
        heartbeat_interval_ticks=1,
        inflight_messages_max=2,
        message_bytes_max=1,
    )
    cluster = Cluster(config=config)
    cluster.elect(1)
    leader = cluster.engine(1)
    for command in (b"a", b"b", b"c", b"d", b"e"):
        leader.propose(command)
    cluster.process(1)

    def accepts_to_2() -> list[Accept]:
        return [m for m in cluster.queue if isinstance(m, Accept) and m.target == NodeId(2)]

    first = accepts_to_2()
    assert len(first) == 2  # the window, one value per message
    cluster.queue = [first[0]]
    cluster.deliver()
    cluster.process(2)
    (answer,) = [m for m in cluster.queue if isinstance(m, Accepted)]
    cluster.queue = []
    leader.step(answer)
    leader.step(answer)  # the network delivers the acknowledgement twice
    cluster.process(1)
    assert len(accepts_to_2()) == 1  # it freed one place in the window, not two
