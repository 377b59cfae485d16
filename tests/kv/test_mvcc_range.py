"""Range: key-range rules, limit/more/count, sorting, filters, historical reads (reference 2.2)."""

import pytest

from synod.kv.mvcc import (
    FROM_KEY,
    Compacted,
    CompactionRequest,
    FutureRevision,
    KeyNotProvided,
    MvccStore,
    PutRequest,
    RangeRequest,
    SortOrder,
    SortTarget,
    prefix_end,
)
from tests.kv.helpers import keys_of, store_with


def abcd() -> MvccStore:
    """a=1@2, b=2@3, c=3@4, d=4@5, then b=22@6 (b: version 2, created 3)."""
    return store_with((b"a", b"1"), (b"b", b"2"), (b"c", b"3"), (b"d", b"4"), (b"b", b"22"))


@pytest.mark.parametrize(
    ("key", "range_end", "expected"),
    [
        (b"b", b"", [b"b"]),
        (b"bb", b"", []),
        (b"b", b"d", [b"b", b"c"]),
        (b"b", FROM_KEY, [b"b", b"c", b"d"]),
        (FROM_KEY, FROM_KEY, [b"a", b"b", b"c", b"d"]),
        (b"c", b"b", []),
        (b"c", b"c", []),
        (b"a", b"a\x00", [b"a"]),
    ],
)
def test_key_ranges(key: bytes, range_end: bytes, expected: list[bytes]) -> None:
    store = abcd()
    response = store.range(RangeRequest(key, range_end))
    assert [kv.key for kv in response.kvs] == expected
    assert response.count == len(expected)
    assert response.more is False


@pytest.mark.parametrize(
    ("prefix", "end"), [(b"aa", b"ab"), (b"a\xff", b"b"), (b"\xff\xff", FROM_KEY), (b"", FROM_KEY)]
)
def test_prefix_end(prefix: bytes, end: bytes) -> None:
    assert prefix_end(prefix) == end


def test_prefix_range() -> None:
    store = store_with((b"fo", b""), (b"foo", b""), (b"foo/a", b""), (b"fop", b""))
    assert keys_of(store, RangeRequest(b"foo", prefix_end(b"foo"))) == [b"foo", b"foo/a"]


def test_missing_key_is_empty_not_an_error() -> None:
    response = abcd().range(RangeRequest(b"zz"))
    assert (response.kvs, response.count, response.more) == ((), 0, False)


def test_empty_key_is_refused() -> None:
    with pytest.raises(KeyNotProvided):
        abcd().range(RangeRequest(b""))


@pytest.mark.parametrize(
    ("limit", "expected", "more"),
    [
        (0, [b"a", b"b", b"c", b"d"], False),
        (-1, [b"a", b"b", b"c", b"d"], False),
        (2, [b"a", b"b"], True),
        (3, [b"a", b"b", b"c"], True),
        (4, [b"a", b"b", b"c", b"d"], False),
        (9, [b"a", b"b", b"c", b"d"], False),
    ],
)
def test_limit_more_and_count(limit: int, expected: list[bytes], more: bool) -> None:
    response = abcd().range(RangeRequest(FROM_KEY, FROM_KEY, limit=limit))
    assert [kv.key for kv in response.kvs] == expected
    assert response.more is more
    assert response.count == 4  # before the limit


@pytest.mark.parametrize(
    ("order", "target", "expected"),
    [
        (SortOrder.NONE, SortTarget.KEY, [b"a", b"b", b"c", b"d"]),
        (SortOrder.ASCEND, SortTarget.KEY, [b"a", b"b", b"c", b"d"]),
        (SortOrder.DESCEND, SortTarget.KEY, [b"d", b"c", b"b", b"a"]),
        (SortOrder.DESCEND, SortTarget.MOD, [b"b", b"d", b"c", b"a"]),
        (SortOrder.ASCEND, SortTarget.CREATE, [b"a", b"b", b"c", b"d"]),
        (SortOrder.DESCEND, SortTarget.CREATE, [b"d", b"c", b"b", b"a"]),
        (SortOrder.DESCEND, SortTarget.VERSION, [b"b", b"a", b"c", b"d"]),  # ties in key order
        (SortOrder.ASCEND, SortTarget.VERSION, [b"a", b"c", b"d", b"b"]),
        (SortOrder.NONE, SortTarget.MOD, [b"a", b"c", b"d", b"b"]),  # NONE + target: ascending
        (SortOrder.DESCEND, SortTarget.VALUE, [b"d", b"c", b"b", b"a"]),
    ],
)
def test_sorting(order: SortOrder, target: SortTarget, expected: list[bytes]) -> None:
    request = RangeRequest(FROM_KEY, FROM_KEY, sort_order=order, sort_target=target)
    assert keys_of(abcd(), request) == expected


def test_sort_none_with_a_limit_sorts_only_the_first_limit_plus_one_keys() -> None:
    """etcd's observed quirk: values c,a,e,b,d; VALUE + NONE + limit 2 reads 3 keys by key."""
    store = store_with(
        *[(b"k%d" % n, value) for n, value in enumerate([b"c", b"a", b"e", b"b", b"d"])]
    )
    quirky = store.range(RangeRequest(FROM_KEY, FROM_KEY, limit=2, sort_target=SortTarget.VALUE))
    assert [kv.value for kv in quirky.kvs] == [b"a", b"c"]
    assert (quirky.more, quirky.count) == (True, 5)
    ascending = RangeRequest(
        FROM_KEY, FROM_KEY, limit=2, sort_target=SortTarget.VALUE, sort_order=SortOrder.ASCEND
    )
    assert [kv.value for kv in store.range(ascending).kvs] == [b"a", b"b"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"min_mod_revision": 4}, [b"b", b"c", b"d"]),
        ({"max_mod_revision": 4}, [b"a", b"c"]),
        ({"min_create_revision": 3}, [b"b", b"c", b"d"]),
        ({"max_create_revision": 3}, [b"a", b"b"]),
        ({"min_mod_revision": 4, "max_create_revision": 4}, [b"b", b"c"]),
        ({"min_mod_revision": 7}, []),
    ],
)
def test_revision_filters_apply_after_count(filters: dict[str, int], expected: list[bytes]) -> None:
    response = abcd().range(RangeRequest(FROM_KEY, FROM_KEY, **filters))  # type: ignore[arg-type]
    assert [kv.key for kv in response.kvs] == expected
    assert response.count == 4


def test_filters_read_everything_before_the_limit() -> None:
    request = RangeRequest(FROM_KEY, FROM_KEY, limit=1, min_mod_revision=5)
    response = abcd().range(request)
    assert [kv.key for kv in response.kvs] == [b"b"]
    assert (response.more, response.count) == (True, 4)


def test_keys_only_and_count_only() -> None:
    store = abcd()
    keys_only = store.range(RangeRequest(b"a", b"c", keys_only=True))
    assert [(kv.key, kv.value, kv.version) for kv in keys_only.kvs] == [
        (b"a", b"", 1),
        (b"b", b"", 2),
    ]
    count_only = store.range(RangeRequest(FROM_KEY, FROM_KEY, limit=1, count_only=True))
    assert (count_only.kvs, count_only.more, count_only.count) == ((), False, 4)


def test_historical_reads_and_header_revision() -> None:
    store = abcd()
    old = store.range(RangeRequest(FROM_KEY, FROM_KEY, revision=3))
    assert [(kv.key, kv.value) for kv in old.kvs] == [(b"a", b"1"), (b"b", b"2")]
    assert old.count == 2  # counted at the requested revision
    assert old.revision == 6  # the header carries the current revision
    assert store.range(RangeRequest(b"a", revision=1)).kvs == ()
    assert store.range(RangeRequest(b"b", revision=-5)).kvs[0].value == b"22"


def test_revision_errors() -> None:
    store = abcd()
    with pytest.raises(FutureRevision):
        store.range(RangeRequest(b"a", revision=7))
    store.compact(CompactionRequest(4))
    with pytest.raises(Compacted):
        store.range(RangeRequest(b"a", revision=3))
    assert store.range(RangeRequest(b"a", revision=4)).kvs[0].value == b"1"


def test_put_of_empty_value_is_a_live_key() -> None:
    store = MvccStore()
    store.put(PutRequest(b"a"))
    assert store.range(RangeRequest(b"a")).count == 1
