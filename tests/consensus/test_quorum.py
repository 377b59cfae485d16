import pytest

from synod.consensus.quorum import VoteResult, committed_index, has_quorum, majority, vote_result
from synod.core.ids import LogIndex, NodeId


def ids(*numbers: int) -> frozenset[NodeId]:
    return frozenset(NodeId(n) for n in numbers)


@pytest.mark.parametrize(
    ("voters", "majority_size"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (7, 4)]
)
def test_majority(voters: int, majority_size: int) -> None:
    assert majority(voters) == majority_size


@pytest.mark.parametrize(
    ("matches", "expected"),
    [
        ({1: 5, 2: 5, 3: 5}, 5),
        ({1: 7, 2: 5, 3: 1}, 5),
        ({1: 7, 2: 1, 3: 1}, 1),
        ({1: 7}, 0),  # voters 2 and 3 unknown: nothing is on a majority beyond 0
        ({1: 9, 2: 8, 3: 7, 4: 6, 5: 5}, 7),
    ],
)
def test_committed_index_is_the_majority_floor(matches: dict[int, int], expected: int) -> None:
    voters = ids(*range(1, 6)) if len(matches) == 5 else ids(1, 2, 3)
    match = {NodeId(k): LogIndex(v) for k, v in matches.items()}
    assert committed_index(voters, match) == expected


def test_learners_are_not_counted_by_callers() -> None:
    # Only the voters passed in count: a learner's match is ignored.
    match = {NodeId(1): LogIndex(9), NodeId(4): LogIndex(9)}
    assert committed_index(ids(1, 2, 3), match) == 0


@pytest.mark.parametrize(
    ("votes", "expected"),
    [
        ({}, VoteResult.PENDING),
        ({1: True}, VoteResult.PENDING),
        ({1: True, 2: True}, VoteResult.WON),
        ({1: True, 2: False}, VoteResult.PENDING),
        ({1: True, 2: False, 3: False}, VoteResult.LOST),
        ({2: False, 3: False}, VoteResult.LOST),
        ({1: True, 9: True}, VoteResult.PENDING),  # 9 is not a voter
    ],
)
def test_vote_result(votes: dict[int, bool], expected: VoteResult) -> None:
    assert vote_result(ids(1, 2, 3), {NodeId(k): v for k, v in votes.items()}) is expected


def test_has_quorum() -> None:
    assert has_quorum(ids(1, 2, 3), ids(1, 3))
    assert not has_quorum(ids(1, 2, 3), ids(1, 4))
    assert not has_quorum(frozenset(), ids(1))
