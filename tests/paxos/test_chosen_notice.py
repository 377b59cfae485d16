"""How acceptors learn that a slot is chosen: at once, without waiting for a heartbeat tick,
and each piece of news once (an acknowledgement that comes late or twice does not make the
leader tell an acceptor again what it already sent it)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from synod.consensus.paxos.messages import Accepted, Heartbeat
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
