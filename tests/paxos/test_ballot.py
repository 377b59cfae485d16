"""Ballots over a server's 64-bit member ids: owners, ordering, collisions, and an election
among nodes whose ids do not fit the owner field."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from synod.consensus.paxos.ballot import (
    OWNER_LIMIT,
    ballot,
    next_ballot,
    node_of,
    owner_of_node,
    owners_collide,
    round_of,
)
from synod.consensus.storage import MemoryStorage
from synod.core.engine import Role
from synod.core.ids import NodeId, Term
from synod.core.log import Membership
from tests.paxos.cluster import Cluster

# etcd-style member ids: 64-bit hashes of peer URLs.
WIDE = (NodeId(0x8E9E05C52164694D), NodeId(0x91BC3C398FB3C146), NodeId(0xFD422379FDA50E48))


def test_small_ids_are_their_own_owner() -> None:
    for node in (1, 2, 7, OWNER_LIMIT - 1):
        assert owner_of_node(NodeId(node)) == node
        assert node_of(ballot(5, NodeId(node))) == node


def test_wide_ids_get_distinct_ballots_that_order_by_round_first() -> None:
    first, second, _ = WIDE
    b1, b2 = ballot(3, first), ballot(3, second)
    assert b1 != b2
    assert round_of(b1) == round_of(b2) == 3
    assert max(b1, b2) < ballot(4, first)
    assert max(b1, b2) < ballot(4, second)
    assert next_ballot(b2, first) == ballot(4, first)
    assert all(ballot(2**32 - 1, node) < 2**64 for node in WIDE)


def test_colliding_owners_are_named() -> None:
    assert owners_collide(WIDE) == ""
    twin = NodeId((0x1234 << 32) | owner_of_node(WIDE[0]))
    reason = owners_collide([*WIDE, twin])
    assert "share the ballot owner" in reason
    assert f"{twin:x}" in reason
    assert "no ballot owner" in owners_collide([NodeId(5 << 32)])


@dataclass
class WideCluster(Cluster):
    """The interaction harness with etcd-style member ids instead of 1..n."""

    def __post_init__(self) -> None:
        voters = frozenset(WIDE)
        for node_id in sorted(voters):
            self.nodes[node_id] = self._start(node_id, MemoryStorage(Membership(voters)))


@pytest.mark.parametrize("candidate", WIDE)
def test_nodes_with_64_bit_ids_elect_a_leader_and_choose_values(candidate: NodeId) -> None:
    cluster = WideCluster()
    cluster.elect(candidate)
    leader = cluster.engine(candidate)
    assert leader.role is Role.LEADER
    assert leader.term == ballot(1, candidate)
    assert all(cluster.engine(node).leader == candidate for node in WIDE)
    leader.propose(b"put x")
    cluster.stabilize()
    cluster.tick_all()
    cluster.stabilize()
    for node in WIDE:
        assert cluster.values(node) == [b"put x"]
        assert cluster.nodes[node].storage.hard_state.term == Term(leader.term)
