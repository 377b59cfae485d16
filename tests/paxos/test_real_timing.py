"""Regressions found running the Multi-Paxos engine as real processes (``synod serve --engine
paxos``), where a tick is a real heartbeat interval: each test names the rule it holds."""

from __future__ import annotations

from synod.consensus.paxos.messages import Heartbeat
from synod.core.ids import NodeId
from tests.paxos.cluster import Cluster


def test_acceptors_learn_a_chosen_slot_without_waiting_for_a_heartbeat_tick() -> None:
    """Once a slot is chosen the leader tells the acceptors that hold it at once (as Raft's
    leader sends an append carrying its new commit index): a follower serving its own client's
    write, a serializable read or a watch otherwise lags a whole heartbeat interval."""
    cluster = Cluster()
    cluster.elect(1)
    cluster.tick_all()
    cluster.stabilize()
    leader = cluster.engine(1)
    for value in (b"put x", b"put y"):
        leader.propose(value)
        cluster.stabilize()  # no tick: only the messages the proposal itself causes
        chosen = leader.commit_index
        assert chosen == leader.last_index
        for node in (2, 3):
            assert cluster.engine(node).commit_index == chosen
            assert cluster.values(node)[-1] == value
    assert any(isinstance(message, Heartbeat) for message in cluster.early)


def test_an_acceptor_is_told_only_what_it_holds() -> None:
    """The chosen index sent on commit is capped by what the acceptor acknowledged."""
    cluster = Cluster()
    cluster.elect(1)
    leader = cluster.engine(1)
    leader.propose(b"put x")
    # Node 3 hears nothing: 1 and 2 choose the value, and only 2 may learn it.
    cluster.stabilize(keep=lambda message: 3 not in (message.source, message.target))
    assert cluster.engine(2).commit_index == leader.commit_index
    progress = leader.progress(NodeId(3))
    assert progress is not None
    assert progress.match < leader.commit_index
    told = [m for m in cluster.early if isinstance(m, Heartbeat) and m.target == 3]
    assert told
    assert all(message.commit <= progress.match for message in told)


def test_an_acceptor_acknowledging_after_the_choice_is_told_at_once() -> None:
    """A slot chosen before one acceptor's acknowledgement arrived: that acceptor is told it is
    chosen when its acknowledgement comes, not a heartbeat tick later (on a real server a
    follower forwarding its client's write answered it 25-45 ms late, one tick in two)."""
    cluster = Cluster()
    cluster.elect(1)
    cluster.tick_all()
    cluster.stabilize()
    leader = cluster.engine(1)
    leader.propose(b"put x")
    cluster.process_all()
    cluster.deliver()  # the Accepts reach 2 and 3
    cluster.process_all()
    late = [message for message in cluster.queue if message.source == 3]
    cluster.queue = [message for message in cluster.queue if message.source != 3]
    cluster.stabilize()  # 1 and 2 choose the value; 3's acknowledgement is still on its way
    assert leader.commit_index == leader.last_index
    assert cluster.engine(3).commit_index < leader.commit_index
    cluster.queue.extend(late)
    cluster.stabilize()  # no tick
    assert cluster.engine(3).commit_index == leader.commit_index
    assert cluster.values(3) == [b"put x"]
