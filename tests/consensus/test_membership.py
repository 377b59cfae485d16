import pytest
from hypothesis import given
from hypothesis import strategies as st

from synod.consensus.raft.membership import MembershipHistory
from synod.core.ids import LogIndex, NodeId
from synod.core.log import ChangeKind, Membership, MembershipChange, MembershipError


def config(voters: set[int], learners: set[int] | None = None) -> Membership:
    return Membership(
        frozenset(NodeId(v) for v in voters), frozenset(NodeId(v) for v in learners or set())
    )


@pytest.mark.parametrize(
    ("start", "change", "result"),
    [
        (config({1, 2, 3}), (ChangeKind.ADD_VOTER, 4), config({1, 2, 3, 4})),
        (config({1, 2, 3}), (ChangeKind.ADD_LEARNER, 4), config({1, 2, 3}, {4})),
        (config({1, 2, 3}, {4}), (ChangeKind.PROMOTE_LEARNER, 4), config({1, 2, 3, 4})),
        (config({1, 2, 3}, {4}), (ChangeKind.REMOVE, 4), config({1, 2, 3})),
        (config({1, 2, 3}), (ChangeKind.REMOVE, 2), config({1, 3})),
        (config({1, 2, 3}, {4}), (ChangeKind.ADD_VOTER, 4), config({1, 2, 3, 4})),
    ],
)
def test_changes(start: Membership, change: tuple[ChangeKind, int], result: Membership) -> None:
    assert start.apply(MembershipChange(change[0], NodeId(change[1]))) == result


@pytest.mark.parametrize(
    ("start", "change"),
    [
        (config({1, 2, 3}), (ChangeKind.ADD_VOTER, 2)),
        (config({1, 2, 3}), (ChangeKind.ADD_LEARNER, 3)),
        (config({1, 2, 3}), (ChangeKind.PROMOTE_LEARNER, 3)),
        (config({1, 2, 3}), (ChangeKind.REMOVE, 9)),
        (config({1}), (ChangeKind.REMOVE, 1)),
    ],
)
def test_changes_that_do_not_fit_are_refused(
    start: Membership, change: tuple[ChangeKind, int]
) -> None:
    with pytest.raises(MembershipError):
        start.apply(MembershipChange(change[0], NodeId(change[1])))


@given(st.sampled_from(list(ChangeKind)), st.integers(min_value=1, max_value=2**63 - 1))
def test_change_encoding_round_trips(kind: ChangeKind, node: int) -> None:
    change = MembershipChange(kind, NodeId(node))
    assert MembershipChange.decode(change.encode()) == change


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x09" + bytes(8), bytes(10)])
def test_malformed_changes_are_refused(data: bytes) -> None:
    with pytest.raises(MembershipError):
        MembershipChange.decode(data)


def test_history_answers_which_configuration_held_at_an_index() -> None:
    history = MembershipHistory(LogIndex(0), config({1, 2, 3}))
    assert history.apply(LogIndex(5), MembershipChange(ChangeKind.ADD_LEARNER, NodeId(4)).encode())
    assert not history.apply(LogIndex(6), MembershipChange(ChangeKind.REMOVE, NodeId(9)).encode())
    assert history.at(LogIndex(4)) == config({1, 2, 3})
    assert history.at(LogIndex(5)) == config({1, 2, 3}, {4})
    history.forget_before(LogIndex(7))
    assert history.current == config({1, 2, 3}, {4})
    with pytest.raises(MembershipError):
        history.at(LogIndex(4))
