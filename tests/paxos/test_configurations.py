"""The per-slot configuration rule (``synod.consensus.paxos.membership``): a change held at
slot i governs from slot i + 1; rewriting the log rewrites the changes; unfit changes are
skipped; compaction folds changes into the base."""

from __future__ import annotations

from synod.consensus.paxos.membership import Configurations
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import ChangeKind, Entry, EntryKind, Membership, MembershipChange

BASE = Membership(frozenset({NodeId(1), NodeId(2), NodeId(3)}))


def _change(index: int, kind: ChangeKind, node: int) -> Entry:
    data = MembershipChange(kind, NodeId(node)).encode()
    return Entry(LogIndex(index), Term(1), EntryKind.MEMBERSHIP, data)


def _value(index: int) -> Entry:
    return Entry(LogIndex(index), Term(1), data=b"v")


def _configs() -> Configurations:
    configs = Configurations(LogIndex(1), BASE)
    configs.record([_value(2), _change(3, ChangeKind.ADD_LEARNER, 4), _value(4)])
    configs.record([_change(5, ChangeKind.PROMOTE_LEARNER, 4)])
    return configs


def test_a_change_governs_the_slots_after_its_own() -> None:
    configs = _configs()
    learner = Membership(BASE.voters, frozenset({NodeId(4)}))
    four = Membership(BASE.voters | {NodeId(4)})
    assert configs.at(LogIndex(3)) == BASE
    assert configs.at(LogIndex(4)) == learner
    assert configs.at(LogIndex(5)) == learner
    assert configs.at(LogIndex(6)) == four
    assert configs.latest == four
    assert configs.changes_from(LogIndex(4)) == [5]
    segments = configs.segments(LogIndex(2), LogIndex(7))
    assert segments == [(2, 3, BASE), (4, 5, learner), (6, 7, four)]
    assert configs.governing(LogIndex(4), LogIndex(5)) == [learner]


def test_rewriting_the_log_replaces_the_changes_from_the_first_slot_written() -> None:
    configs = _configs()
    configs.record([_value(4), _value(5)])
    learner = Membership(BASE.voters, frozenset({NodeId(4)}))
    assert configs.latest == learner
    configs.record([_value(3)])
    assert configs.latest == BASE
    assert configs.changes_from(LogIndex(1)) == []


def test_an_unfit_change_is_skipped() -> None:
    configs = Configurations(LogIndex(1), BASE)
    configs.record([_change(2, ChangeKind.PROMOTE_LEARNER, 9), _change(3, ChangeKind.REMOVE, 3)])
    assert configs.changes_from(LogIndex(1)) == [3]
    assert configs.latest == Membership(frozenset({NodeId(1), NodeId(2)}))


def test_compaction_folds_changes_into_the_base_and_a_snapshot_resets_it() -> None:
    configs = _configs()
    configs.fold_to(LogIndex(4))
    learner = Membership(BASE.voters, frozenset({NodeId(4)}))
    assert (configs.base_index, configs.base) == (4, learner)
    assert configs.changes_from(LogIndex(1)) == [5]
    assert configs.at(LogIndex(6)) == Membership(BASE.voters | {NodeId(4)})
    configs.reset(LogIndex(9), BASE)
    assert configs.latest == BASE
    assert configs.changes_from(LogIndex(1)) == []
