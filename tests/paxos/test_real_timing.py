"""Regressions found running the Multi-Paxos engine as real processes (``synod serve --engine
paxos``), where a tick is a real heartbeat interval: each test names the rule it holds."""

from __future__ import annotations

from synod.consensus.paxos import PaxosEngine
from synod.consensus.paxos.ballot import ballot
from synod.consensus.paxos.messages import Accept, Accepted, Heartbeat
from synod.consensus.storage import MemoryStorage
from synod.core.config import EngineConfig
from synod.core.engine import Ready
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import Entry, EntryKind, HardState, Membership
from tests.paxos.cluster import Cluster, ZeroRng


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


def _repaired_acceptor() -> tuple[PaxosEngine, MemoryStorage, Term]:
    """Node 3 after a WAL repair: it had accepted ``new`` at slot 2 in ballot ``current`` (and
    acknowledged it), but the repair brought back the older ``stale`` value it had accepted
    there in an earlier ballot. Its chosen prefix is slot 1; it owes the leader up to slot 3."""
    current = ballot(2, NodeId(1))
    storage = MemoryStorage(Membership(frozenset({NodeId(1), NodeId(2), NodeId(3)})))
    storage.set_hard_state(HardState(current, NodeId(1), LogIndex(1)))
    storage.append([Entry(LogIndex(2), ballot(1, NodeId(2)), EntryKind.NORMAL, b"stale")])
    # A repaired log, as recovery would hand it over.
    storage._load(storage.hard_state, storage.snapshot(), storage.all_entries(), LogIndex(3))
    config = EngineConfig(election_timeout_ticks=10, heartbeat_interval_ticks=1)
    acceptor = PaxosEngine(NodeId(3), storage, config, ZeroRng())
    assert (acceptor.last_index, acceptor.commit_index) == (2, 1)
    return acceptor, storage, current


def _carry_out(engine: PaxosEngine, storage: MemoryStorage) -> Ready:
    ready = engine.ready()
    assert ready is not None
    storage.save(ready.hard_state, ready.entries, ready.snapshot)
    engine.advance(ready)
    return ready


def _committed_values(engine: PaxosEngine, storage: MemoryStorage) -> list[bytes]:
    return [entry.data for entry in _carry_out(engine, storage).committed_entries]


def test_a_repaired_acceptor_commits_nothing_on_the_leaders_stale_view() -> None:
    """Found by the simulator's WAL sweep (paxos seed 5019 with heartbeats sent on commit):
    a leader still counting a repaired acceptor's old acknowledgements told it slot 2 was
    chosen, and it applied the stale value the repair had brought back there."""
    acceptor, storage, current = _repaired_acceptor()
    acceptor.step(Heartbeat(NodeId(1), NodeId(3), current, LogIndex(2)))
    assert acceptor.commit_index == 1
    new = Entry(LogIndex(2), current, EntryKind.NORMAL, b"new")
    more = Entry(LogIndex(3), current, EntryKind.NORMAL, b"more")
    acceptor.step(Accept(NodeId(1), NodeId(3), current, LogIndex(2), (more,), LogIndex(2)))
    assert acceptor.commit_index == 1
    ready = _carry_out(acceptor, storage)
    assert not ready.committed_entries
    refusal = next(m for m in ready.messages if isinstance(m, Accepted))
    assert (refusal.ok, refusal.last) == (False, 1)  # the leader resends from slot 2
    acceptor.step(Accept(NodeId(1), NodeId(3), current, LogIndex(1), (new, more), LogIndex(2)))
    assert acceptor.commit_index == 2
    assert _committed_values(acceptor, storage) == [b"new"]
    acceptor.step(Heartbeat(NodeId(1), NodeId(3), current, LogIndex(3)))
    assert _committed_values(acceptor, storage) == [b"more"]
