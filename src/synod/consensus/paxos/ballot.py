"""Ballots: (round, owner) pairs, totally ordered, carried in the contract's ``Term``.

``ballot = round * 2**32 + owner``: comparing the integers compares rounds first and breaks
ties by owner, so every node can always pick a ballot higher than any it has seen. Term 0 is
"no ballot"; the bootstrap term 1 is (round 0, owner 1), which no node ever leads (campaigns
start at round 1).

A ballot's owner is its node's id when the id fits 32 bits (the simulator's 1, 2, 3...), and
the low 32 bits of the id otherwise: a server's member ids are etcd's 64-bit hashes of its peer
URLs, and the term must fit 64 bits (the WAL and both wire codecs store it as a u64). Two
nodes never share a ballot as long as their owners differ: a cluster must check that of its
members (``owners_collide``) before it runs this engine, as ``synod serve`` does.
"""

from __future__ import annotations

from collections.abc import Iterable

from synod.core.ids import NodeId, Term

OWNER_BITS = 32
OWNER_LIMIT = 1 << OWNER_BITS
ROUND_LIMIT = 1 << (64 - OWNER_BITS)
"""A term is a u64 on disk and on the wire: 2**32 rounds, each one an election at least."""


def owner_of_node(node: NodeId) -> NodeId:
    """The owner part of ``node``'s ballots."""
    return NodeId(node & (OWNER_LIMIT - 1))


def ballot(round_number: int, node: NodeId) -> Term:
    owner = owner_of_node(node)
    assert owner > 0, f"node id {node:#x} has no usable ballot owner (its low 32 bits are 0)"
    assert 0 <= round_number < ROUND_LIMIT, f"ballot round {round_number} is out of range"
    return Term(round_number * OWNER_LIMIT + owner)


def round_of(term: Term) -> int:
    return term >> OWNER_BITS


def node_of(term: Term) -> NodeId:
    """The ballot's owner: the node's id itself for ids below 2**32."""
    return NodeId(term & (OWNER_LIMIT - 1))


def next_ballot(seen: Term, node: NodeId) -> Term:
    """The smallest ballot of ``node`` in a round above every round in ``seen``."""
    return ballot(round_of(seen) + 1, node)


def owners_collide(nodes: Iterable[NodeId]) -> str:
    """Why ``nodes`` cannot run Multi-Paxos together ("" when they can): two share a ballot
    owner, or one has none."""
    by_owner: dict[NodeId, NodeId] = {}
    for node in sorted(nodes):
        owner = owner_of_node(node)
        if owner == 0:
            return f"member {node:x} has no ballot owner (the low 32 bits of its id are 0)"
        if owner in by_owner:
            return f"members {by_owner[owner]:x} and {node:x} share the ballot owner {owner:x}"
        by_owner[owner] = node
    return ""


def describe_ballot(term: Term) -> str:
    return f"{round_of(term)}.{node_of(term)}"
