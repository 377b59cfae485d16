"""Majority arithmetic shared by every engine. Learners never count: callers pass voters only."""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping

from synod.core.ids import NO_INDEX, LogIndex, NodeId


class VoteResult(enum.Enum):
    PENDING = "pending"
    WON = "won"
    LOST = "lost"


def majority(voter_count: int) -> int:
    assert voter_count >= 1, "a configuration needs at least one voter"
    return voter_count // 2 + 1


def committed_index(voters: Collection[NodeId], match: Mapping[NodeId, LogIndex]) -> LogIndex:
    """The highest index held by a majority of ``voters``, per their ``match`` indexes."""
    if not voters:
        return NO_INDEX
    held = sorted((match.get(voter, NO_INDEX) for voter in voters), reverse=True)
    return held[majority(len(voters)) - 1]


def vote_result(voters: Collection[NodeId], votes: Mapping[NodeId, bool]) -> VoteResult:
    """WON once a majority granted, LOST once a majority can no longer be reached."""
    needed = majority(len(voters))
    granted = sum(1 for voter in voters if votes.get(voter) is True)
    rejected = sum(1 for voter in voters if votes.get(voter) is False)
    if granted >= needed:
        return VoteResult.WON
    if len(voters) - rejected < needed:
        return VoteResult.LOST
    return VoteResult.PENDING


def has_quorum(voters: Collection[NodeId], present: Collection[NodeId]) -> bool:
    return bool(voters) and sum(1 for v in voters if v in present) >= majority(len(voters))
