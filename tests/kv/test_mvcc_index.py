"""The key index: generations of revisions, reads at a revision, compaction (etcd's keyIndex)."""

import pytest

from synod.kv.mvcc.index import KeyIndex, TreeIndex
from synod.kv.mvcc.keyrange import KeyRange, key_range
from synod.kv.mvcc.revision import Revision


def lives() -> KeyIndex:
    """put@2, put@4.1, delete@6, put@8, delete@9, put@11: three generations and an open one."""
    index = KeyIndex()
    index.put(Revision(2))
    index.put(Revision(4, 1))
    index.tombstone(Revision(6))
    index.put(Revision(8))
    index.tombstone(Revision(9))
    index.put(Revision(11))
    return index


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (1, None),
        (2, Revision(2)),
        (3, Revision(2)),
        (4, Revision(4, 1)),
        (5, Revision(4, 1)),
        (6, None),
        (7, None),
        (8, Revision(8)),
        (9, None),
        (10, None),
        (11, Revision(11)),
        (99, Revision(11)),
    ],
)
def test_get_at_a_revision(at: int, expected: Revision | None) -> None:
    assert lives().get(at) == expected


@pytest.mark.parametrize(
    ("at", "dropped", "kept"),
    [
        (1, [], [2, 4, 6, 8, 9, 11]),
        (3, [], [2, 4, 6, 8, 9, 11]),
        (4, [2], [4, 6, 8, 9, 11]),
        (6, [2, 4, 6], [8, 9, 11]),
        (7, [2, 4, 6], [8, 9, 11]),
        (8, [2, 4, 6], [8, 9, 11]),
        (10, [2, 4, 6, 8, 9], [11]),
        (11, [2, 4, 6, 8, 9], [11]),
    ],
)
def test_compact(at: int, dropped: list[int], kept: list[int]) -> None:
    index = lives()
    assert [revision.main for revision in index.compact(at)] == dropped
    assert [entry.revision.main for entry in index.entries()] == kept
    assert index.get(at) == lives().get(at)


def test_a_key_whose_history_compacts_away_leaves_the_tree() -> None:
    tree = TreeIndex()
    tree.ensure(b"a").put(Revision(2))
    tree.ensure(b"a").tombstone(Revision(3))
    tree.ensure(b"b").put(Revision(4))
    assert tree.compact(4) == [Revision(2), Revision(3)]
    assert tree.all_keys() == [b"b"]
    assert tree.keys_in(KeyRange(b"", None)) == [b"b"]
    assert tree.keys_in(key_range(b"a", b"")) == []


def test_writes_must_move_forward() -> None:
    index = lives()
    with pytest.raises(AssertionError):
        index.put(Revision(11))
    with pytest.raises(AssertionError):
        KeyIndex().tombstone(Revision(2))
