"""Put and DeleteRange: revisions, key metadata, prev_kv and the put flags (reference 2.2, 4)."""

import pytest

from synod.kv.mvcc import (
    FROM_KEY,
    DeleteRangeRequest,
    KeyNotFound,
    KeyNotProvided,
    KeyValue,
    LeaseNotFound,
    LeaseProvided,
    MvccError,
    MvccStore,
    PutRequest,
    RangeRequest,
    ValueProvided,
)
from tests.kv.helpers import store_with, with_leases


def get(store: MvccStore, key: bytes, revision: int = 0) -> KeyValue | None:
    kvs = store.range(RangeRequest(key, revision=revision)).kvs
    return kvs[0] if kvs else None


def test_an_empty_store_is_at_revision_one() -> None:
    store = MvccStore()
    assert store.revision == 1
    assert store.range(RangeRequest(b"a")).revision == 1


def test_put_creates_then_updates() -> None:
    store = MvccStore()
    assert store.put(PutRequest(b"a", b"1")).revision == 2
    assert get(store, b"a") == KeyValue(b"a", 2, 2, 1, b"1")
    assert store.put(PutRequest(b"a", b"2")).revision == 3
    assert get(store, b"a") == KeyValue(b"a", 2, 3, 2, b"2")


def test_identical_put_still_makes_a_revision() -> None:
    store = store_with((b"a", b"1"))
    store.put(PutRequest(b"a", b"1"))
    assert store.revision == 3
    assert get(store, b"a") == KeyValue(b"a", 2, 3, 2, b"1")


def test_version_restarts_after_delete() -> None:
    store = store_with((b"a", b"1"), (b"a", b"2"), b"a", (b"a", b"3"))
    assert store.revision == 5
    assert get(store, b"a") == KeyValue(b"a", 5, 5, 1, b"3")
    assert get(store, b"a", revision=4) is None
    assert get(store, b"a", revision=3) == KeyValue(b"a", 2, 3, 2, b"2")


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        (PutRequest(b"", b"v"), KeyNotProvided),
        (PutRequest(b"k", b"v", ignore_value=True), ValueProvided),
        (PutRequest(b"k", lease=7, ignore_lease=True), LeaseProvided),
        (PutRequest(b"missing", ignore_value=True), KeyNotFound),
        (PutRequest(b"missing", ignore_lease=True), KeyNotFound),
        (PutRequest(b"k", b"v", lease=99), LeaseNotFound),
        (PutRequest(b"missing", lease=99, ignore_value=True), LeaseNotFound),
    ],
)
def test_put_errors_change_nothing(request_: PutRequest, error: type[MvccError]) -> None:
    store = store_with((b"k", b"v0"), leases=frozenset({7}))
    with pytest.raises(error) as raised:
        store.put(request_)
    assert str(raised.value) == error.message
    assert store.revision == 2


def test_error_texts_are_etcds() -> None:
    assert KeyNotFound.message == "etcdserver: key not found"
    assert LeaseNotFound.code == "NOT_FOUND"


def test_prev_kv_only_when_asked_and_present() -> None:
    store = MvccStore()
    assert store.put(PutRequest(b"a", b"1", prev_kv=True)).prev_kv is None
    assert store.put(PutRequest(b"a", b"2")).prev_kv is None
    assert store.put(PutRequest(b"a", b"3", prev_kv=True)).prev_kv == KeyValue(b"a", 2, 3, 2, b"2")


def test_ignore_value_and_ignore_lease_keep_the_old_ones() -> None:
    store = with_leases(7, 8)
    store.put(PutRequest(b"a", b"1", lease=7))
    store.put(PutRequest(b"a", ignore_value=True, lease=8))
    assert get(store, b"a") == KeyValue(b"a", 2, 3, 2, b"1", lease=8)
    store.put(PutRequest(b"a", b"2", ignore_lease=True))
    assert get(store, b"a") == KeyValue(b"a", 2, 4, 3, b"2", lease=8)
    store.put(PutRequest(b"a", b"3"))
    assert get(store, b"a") == KeyValue(b"a", 2, 5, 4, b"3", lease=0)


@pytest.mark.parametrize(
    ("key", "range_end", "deleted"),
    [
        (b"b", b"", [b"b"]),
        (b"zz", b"", []),
        (b"b", b"d", [b"b", b"c"]),
        (b"b", FROM_KEY, [b"b", b"c", b"d"]),
        (FROM_KEY, FROM_KEY, [b"a", b"b", b"c", b"d"]),
        (b"c", b"b", []),
    ],
)
def test_delete_range(key: bytes, range_end: bytes, deleted: list[bytes]) -> None:
    store = store_with((b"a", b"1"), (b"b", b"2"), (b"c", b"3"), (b"d", b"4"))
    response = store.delete_range(DeleteRangeRequest(key, range_end, prev_kv=True))
    assert response.deleted == len(deleted)
    assert [kv.key for kv in response.prev_kvs] == deleted
    assert response.revision == (6 if deleted else 5)
    assert store.revision == response.revision
    for key_deleted in deleted:
        assert get(store, key_deleted) is None
        assert get(store, key_deleted, revision=5) is not None


def test_delete_without_prev_kv_and_of_a_missing_key() -> None:
    store = store_with((b"a", b"1"))
    assert store.delete_range(DeleteRangeRequest(b"a")).prev_kvs == ()
    assert store.delete_range(DeleteRangeRequest(b"a")).deleted == 0
    assert store.revision == 3
    with pytest.raises(KeyNotProvided):
        store.delete_range(DeleteRangeRequest(b""))
