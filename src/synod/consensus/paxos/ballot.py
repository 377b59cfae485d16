"""Ballots: (round, node) pairs, totally ordered, carried in the contract's ``Term``.

``ballot = round * 2**16 + node``: comparing the integers compares rounds first and breaks
ties by node id, so two nodes never share a ballot and every node can always pick one higher
than any it has seen. Node ids must stay below 2**16. Term 0 is "no ballot"; the bootstrap
term 1 is (round 0, node 1), which no node ever leads (campaigns start at round 1).
"""

from __future__ import annotations

from synod.core.ids import NodeId, Term

NODE_BITS = 16
NODE_LIMIT = 1 << NODE_BITS


def ballot(round_number: int, node: NodeId) -> Term:
    assert 0 < node < NODE_LIMIT, f"node id {node} does not fit a ballot"
    assert round_number >= 0
    return Term(round_number * NODE_LIMIT + node)


def round_of(term: Term) -> int:
    return term >> NODE_BITS


def node_of(term: Term) -> NodeId:
    return NodeId(term & (NODE_LIMIT - 1))


def next_ballot(seen: Term, node: NodeId) -> Term:
    """The smallest ballot of ``node`` in a round above every round in ``seen``."""
    return ballot(round_of(seen) + 1, node)


def describe_ballot(term: Term) -> str:
    return f"{round_of(term)}.{node_of(term)}"
