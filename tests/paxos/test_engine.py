"""Interaction tests for the Multi-Paxos engine: each drives messages by hand and checks the
protocol rule it names (ballots, durability split, phase 1 recovery, acceptance, reads,
catch-up, leases). Membership changes: test_membership.py."""

from __future__ import annotations

import dataclasses

import pytest

from synod.consensus.paxos.ballot import ballot, next_ballot, node_of, round_of
from synod.consensus.paxos.messages import (
    Accept,
    Accepted,
    Heartbeat,
    InstallSnapshot,
    Prepare,
    Promise,
    ReadIndexRequest,
    ReadIndexResponse,
)
from synod.consensus.storage import MemoryStorage
from synod.core.config import EngineConfig
from synod.core.engine import ReadState, Role
from synod.core.errors import NotLeader
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import (
    Entry,
    HardState,
    Membership,
    Snapshot,
    SnapshotMeta,
)
from tests.paxos.cluster import Cluster, ZeroRng

NO_LEASE = EngineConfig(election_timeout_ticks=10, heartbeat_interval_ticks=1, check_quorum=False)


def test_ballots_order_by_round_then_node_and_decode() -> None:
    b = ballot(3, NodeId(2))
    assert (round_of(b), node_of(b)) == (3, 2)
    assert ballot(3, NodeId(2)) < ballot(3, NodeId(3)) < ballot(4, NodeId(1))
    assert next_ballot(ballot(7, NodeId(5)), NodeId(1)) == ballot(8, NodeId(1))


def test_election_then_proposals_are_chosen_and_applied_everywhere() -> None:
    cluster = Cluster()
    cluster.elect(1)
    leader = cluster.engine(1)
    assert leader.role is Role.LEADER
    assert leader.term == ballot(1, NodeId(1))
    assert all(cluster.engine(n).leader == 1 for n in (2, 3))
    leader.propose(b"put x")
    leader.propose(b"put y")
    cluster.stabilize()
    cluster.tick_all()  # a heartbeat carries the final chosen index to the acceptors
    cluster.stabilize()
    for node in (1, 2, 3):
        assert cluster.values(node) == [b"put x", b"put y"]
        assert [e.term for e in cluster.log(node)[-2:]] == [leader.term] * 2
        assert cluster.nodes[NodeId(node)].storage.hard_state.term == leader.term


def test_promises_and_acceptances_wait_for_the_fsync_leader_messages_do_not() -> None:
    cluster = Cluster()
    cluster.engine(1).campaign()
    ready = cluster.process(1)
    assert ready is not None
    assert ready.hard_state is not None
    assert ready.hard_state.term == ballot(1, NodeId(1))
    assert ready.hard_state.vote == 1
    assert {type(m) for m in ready.messages} == {Prepare}
    assert not ready.early_messages
    cluster.deliver()
    promise_ready = cluster.process(2)
    assert promise_ready is not None
    assert promise_ready.hard_state is not None
    assert [type(m) for m in promise_ready.messages] == [Promise]
    assert not promise_ready.early_messages
    cluster.stabilize()
    assert cluster.early
    assert all(isinstance(m, Accept | Heartbeat) for m in cluster.early)
    assert any(isinstance(m, Accepted) for m in cluster.late)
    assert not any(isinstance(m, Accepted | Promise) for m in cluster.early)


def test_an_acceptor_refuses_a_lower_ballot_and_the_old_leader_steps_down() -> None:
    cluster = Cluster(config=NO_LEASE)
    cluster.elect(1)
    old = cluster.engine(1).term
    cluster.engine(2).campaign()
    cluster.stabilize(keep=lambda m: 1 not in (m.source, m.target))
    assert cluster.engine(2).role is Role.LEADER
    assert cluster.engine(2).term > old
    last = cluster.engine(3).last_index
    cluster.engine(1).propose(b"stale")
    cluster.process(1)
    cluster.deliver(keep=lambda m: m.target == 3)
    cluster.process(3)
    refusals = [m for m in cluster.queue if isinstance(m, Accepted)]
    assert refusals
    assert not refusals[0].ok
    assert refusals[0].term == cluster.engine(2).term
    assert cluster.engine(3).last_index == last  # nothing accepted from the lower ballot
    cluster.deliver(keep=lambda m: m.target == 1)
    assert cluster.engine(1).role is Role.FOLLOWER


def _storage(voters: frozenset[NodeId], promised: Term, entries: list[Entry]) -> MemoryStorage:
    storage = MemoryStorage(Membership(voters))
    storage.append(entries)
    storage.set_hard_state(HardState(promised, node_of(promised), LogIndex(1)))
    return storage


def test_a_new_leader_re_proposes_the_highest_ballot_value_of_every_slot() -> None:
    cluster = Cluster(config=NO_LEASE)
    voters = frozenset(NodeId(n) for n in (1, 2, 3))
    low, high = ballot(2, NodeId(2)), ballot(3, NodeId(3))
    own = [Entry(LogIndex(2), low, data=b"x"), Entry(LogIndex(3), low, data=b"q")]
    other = [Entry(LogIndex(2), high, data=b"y")]
    cluster.nodes[NodeId(1)].storage = _storage(voters, low, own)
    cluster.nodes[NodeId(2)].storage = _storage(voters, high, other)
    cluster.restart(1)
    cluster.restart(2)
    cluster.engine(1).campaign()
    cluster.stabilize()
    assert cluster.engine(1).role is Role.FOLLOWER  # refused: it learns of round 3
    cluster.engine(1).campaign()
    cluster.stabilize()
    leader = cluster.engine(1)
    assert leader.role is Role.LEADER
    assert round_of(leader.term) == 4
    promises = [m for m in cluster.late if isinstance(m, Promise) and m.term == leader.term]
    assert promises[0].source == 2  # the quorum is {1, 2}: slot 2 has two values
    cluster.tick_all()
    cluster.stabilize()
    for node in (1, 2, 3):
        log = cluster.log(node)
        assert [(e.index, e.data) for e in log] == [(2, b"y"), (3, b"q"), (4, b"")]
        assert {e.term for e in log} == {leader.term}
        assert cluster.values(node) == [b"y", b"q"]


def test_an_acceptor_keeps_the_values_after_a_shorter_accepted_batch() -> None:
    cluster = Cluster()
    voters = frozenset(NodeId(n) for n in (1, 2, 3))
    old = ballot(2, NodeId(3))
    entries = [Entry(LogIndex(2), old, data=b"x"), Entry(LogIndex(3), old, data=b"y")]
    cluster.nodes[NodeId(2)].storage = _storage(voters, old, entries)
    cluster.restart(2)
    new = ballot(3, NodeId(1))
    batch = (Entry(LogIndex(2), new, data=b"x"),)
    cluster.engine(2).step(Accept(NodeId(1), NodeId(2), new, LogIndex(1), batch, LogIndex(1)))
    cluster.process(2)
    log = cluster.log(2)
    assert [(e.index, e.term, e.data) for e in log] == [(2, new, b"x"), (3, old, b"y")]
    reply = cluster.queue[-1]
    assert isinstance(reply, Accepted)
    assert reply.ok
    assert (reply.prev, reply.last) == (1, 2)


def test_an_accept_past_the_end_of_the_log_is_refused_as_a_hole() -> None:
    cluster = Cluster()
    b = ballot(1, NodeId(1))
    entry = (Entry(LogIndex(5), b, data=b"x"),)
    cluster.engine(2).step(Accept(NodeId(1), NodeId(2), b, LogIndex(4), entry, LogIndex(1)))
    cluster.process(2)
    reply = cluster.queue[-1]
    assert isinstance(reply, Accepted)
    assert not reply.ok
    assert reply.term == b
    assert cluster.engine(2).last_index == 1


def test_only_the_leader_takes_proposals() -> None:
    cluster = Cluster()
    cluster.elect(1)
    with pytest.raises(NotLeader) as caught:
        cluster.engine(2).propose(b"x")
    assert caught.value.leader == 1


def test_a_read_waits_for_a_quorum_to_confirm_the_ballot() -> None:
    cluster = Cluster()
    cluster.elect(1)
    leader = cluster.engine(1)
    leader.read_index(b"r1")
    ready = cluster.process(1)
    assert ready is not None
    assert not ready.read_states
    beats = [m for m in cluster.queue if isinstance(m, Heartbeat) and m.read_round]
    assert {m.target for m in beats} == {2, 3}
    cluster.deliver(keep=lambda m: False)  # acknowledgements lost: no answer
    cluster.process_all()
    assert not any(r.read_states for r in cluster.readies[NodeId(1)])
    leader.read_index(b"r2")
    cluster.stabilize()
    answered = [s for r in cluster.readies[NodeId(1)] for s in r.read_states]
    assert answered == [
        ReadState(leader.commit_index, b"r1"),
        ReadState(leader.commit_index, b"r2"),
    ]


def test_a_follower_forwards_reads_to_the_leader() -> None:
    cluster = Cluster()
    cluster.elect(1)
    cluster.engine(3).read_index(b"r")
    cluster.stabilize()
    assert any(isinstance(m, ReadIndexRequest) for m in cluster.late)
    assert any(isinstance(m, ReadIndexResponse) and m.index for m in cluster.early)
    states = [s for r in cluster.readies[NodeId(3)] for s in r.read_states]
    assert states == [ReadState(cluster.engine(1).commit_index, b"r")]


def test_a_lagging_acceptor_is_caught_up_with_a_snapshot() -> None:
    cluster = Cluster()
    cluster.elect(1)
    cut_off = lambda m: 3 not in (m.source, m.target)  # noqa: E731
    for n in range(5):
        cluster.engine(1).propose(f"put {n}".encode())
        cluster.stabilize(keep=cut_off)
    leader = cluster.engine(1)
    cluster.engine(1).compact(leader.applied_index, b"state")
    cluster.stabilize(keep=cut_off)
    assert cluster.nodes[NodeId(1)].storage.first_index() > 2
    cluster.tick_all()
    cluster.stabilize()
    cluster.tick_all()
    cluster.stabilize()
    assert any(isinstance(m, InstallSnapshot) and m.target == 3 for m in cluster.early)
    lagging = cluster.nodes[NodeId(3)].storage
    assert lagging.snapshot().meta.index == leader.applied_index
    assert lagging.snapshot().data == b"state"
    assert cluster.engine(3).commit_index == leader.commit_index


def test_acceptors_that_hear_a_leader_ignore_a_stray_candidate() -> None:
    cluster = Cluster()
    cluster.elect(1)
    leader_ballot = cluster.engine(1).term
    cluster.engine(3).campaign()
    cluster.stabilize()
    assert cluster.engine(1).role is Role.LEADER
    assert cluster.engine(2).term == leader_ballot
    assert not any(isinstance(m, Promise) and m.target == 3 for m in cluster.late)


def test_a_silent_leader_is_replaced_after_the_election_timeout() -> None:
    cluster = Cluster()
    cluster.elect(1)
    old = cluster.engine(1).term
    for _ in range(25):
        cluster.tick_all()
        cluster.stabilize(keep=lambda m: 1 not in (m.source, m.target))
    leaders = [n for n in (2, 3) if cluster.engine(n).role is Role.LEADER]
    assert len(leaders) == 1
    assert cluster.engine(leaders[0]).term > old
    assert cluster.engine(1).role is Role.FOLLOWER  # check quorum: it heard nobody


def test_a_restarted_acceptor_keeps_its_promise() -> None:
    cluster = Cluster()
    cluster.elect(1)
    promised = cluster.engine(2).term
    cluster.restart(2)
    assert cluster.engine(2).term == promised
    low = ballot(0, NodeId(3))
    cluster.engine(2).step(Prepare(NodeId(3), NodeId(2), low, LogIndex(2)))
    cluster.process(2)
    reply = cluster.queue[-1]
    assert isinstance(reply, Promise)
    assert not reply.granted
    assert reply.term == promised


def test_a_restarted_leader_campaigns_in_a_higher_round() -> None:
    cluster = Cluster(config=dataclasses.replace(NO_LEASE))
    cluster.elect(1)
    first = cluster.engine(1).term
    cluster.restart(1)
    assert cluster.engine(1).role is Role.FOLLOWER
    cluster.elect(1)
    assert cluster.engine(1).role is Role.LEADER
    assert round_of(cluster.engine(1).term) == round_of(first) + 1


def test_zero_rng_is_the_lower_bound() -> None:
    assert ZeroRng().randrange(10, 20) == 10


def test_a_snapshot_received_while_entries_are_in_flight_is_written_before_them() -> None:
    cluster = Cluster()
    voters = frozenset(NodeId(n) for n in (1, 2, 3))
    old = ballot(1, NodeId(3))
    entries = [Entry(LogIndex(2), old, data=b"a"), Entry(LogIndex(3), old, data=b"b")]
    cluster.nodes[NodeId(2)].storage = _storage(voters, old, entries)
    cluster.restart(2)
    node = cluster.nodes[NodeId(2)]
    b = ballot(2, NodeId(1))
    batch = (Entry(LogIndex(4), b, data=b"c"),)
    node.engine.step(Accept(NodeId(1), NodeId(2), b, LogIndex(3), batch, LogIndex(1)))
    in_flight = node.engine.ready()
    assert in_flight is not None
    assert [e.index for e in in_flight.entries] == [4]
    meta = SnapshotMeta(LogIndex(3), old, Membership(voters))
    node.engine.step(InstallSnapshot(NodeId(1), NodeId(2), b, Snapshot(meta, b"state")))
    node.storage.save(in_flight.hard_state, in_flight.entries, in_flight.snapshot)
    node.engine.advance(in_flight)
    after = node.engine.ready()
    assert after is not None
    assert after.snapshot is not None
    assert [e.index for e in after.entries] == [4]  # the kept value, rewritten after it
    node.storage.save(after.hard_state, after.entries, after.snapshot)
    node.engine.advance(after)
    assert node.storage.snapshot().meta.index == 3
    assert [(e.index, e.data) for e in node.storage.all_entries()] == [(4, b"c")]


def test_an_acceptor_that_lost_acknowledged_values_is_resent_them() -> None:
    cluster = Cluster()
    cluster.elect(1)
    for n in range(3):
        cluster.engine(1).propose(f"put {n}".encode())
    cluster.stabilize()
    leader = cluster.engine(1)
    progress = leader.progress(NodeId(2))
    assert progress is not None
    acknowledged = progress.match
    assert acknowledged == leader.last_index
    # A repair cut node 2's log back to the bootstrap snapshot: its refusal says so.
    refusal = Accepted(NodeId(2), NodeId(1), leader.term, False, acknowledged, LogIndex(1))
    leader.propose(b"put more")
    cluster.process(1)
    cluster.queue.clear()
    leader.step(dataclasses.replace(refusal, commit=LogIndex(1)))
    assert progress.match == 1
    cluster.process(1)
    resent = [m for m in cluster.queue if isinstance(m, Accept) and m.target == 2]
    assert [m.prev for m in resent] == [1]
