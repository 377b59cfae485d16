"""Compact and the keyspace hash (reference 2.2 and 4)."""

import pytest

from synod.kv.mvcc import (
    FROM_KEY,
    Compacted,
    CompactionRequest,
    FutureRevision,
    MvccStore,
    PutRequest,
    RangeRequest,
    TxnRequest,
)
from tests.kv.helpers import store_with


def history() -> MvccStore:
    """a=1@2, b=1@3, a=2@4, b deleted@5, c=1@6."""
    return store_with((b"a", b"1"), (b"b", b"1"), (b"a", b"2"), b"b", (b"c", b"1"))


def values_at(store: MvccStore, revision: int) -> list[tuple[bytes, bytes]]:
    kvs = store.range(RangeRequest(FROM_KEY, FROM_KEY, revision=revision)).kvs
    return [(kv.key, kv.value) for kv in kvs]


def test_compact_keeps_reads_at_and_after_the_revision() -> None:
    store = history()
    expected = {revision: values_at(store, revision) for revision in range(4, 7)}
    assert store.compact(CompactionRequest(4)).revision == 6
    assert store.compact_revision == 4
    for revision, values in expected.items():
        assert values_at(store, revision) == values
    for revision in (1, 2, 3):
        with pytest.raises(Compacted):
            values_at(store, revision)


def test_compact_errors() -> None:
    store = history()
    with pytest.raises(FutureRevision):
        store.compact(CompactionRequest(7))
    store.compact(CompactionRequest(5))
    for revision in (5, 4, 0):
        with pytest.raises(Compacted):
            store.compact(CompactionRequest(revision))
    store.compact(CompactionRequest(6))


def test_a_fresh_store_compacts_at_zero_then_one() -> None:
    store = MvccStore()
    store.compact(CompactionRequest(0))
    store.compact(CompactionRequest(1))
    with pytest.raises(Compacted):
        store.compact(CompactionRequest(1))


def test_keys_deleted_before_the_compaction_leave_history() -> None:
    store = history()
    store.compact(CompactionRequest(5))
    assert store.range(RangeRequest(b"b", revision=5)).count == 0
    # b's tombstone and versions are gone: the hash equals a store that never held b's past.
    assert store.hash_kv().hash != history().hash_kv().hash


def test_compaction_keeps_metadata_of_surviving_versions() -> None:
    store = history()
    store.compact(CompactionRequest(6))
    kv = store.range(RangeRequest(b"a")).kvs[0]
    assert (kv.create_revision, kv.mod_revision, kv.version) == (2, 4, 2)
    store.put(PutRequest(b"a", b"3"))
    kv = store.range(RangeRequest(b"a")).kvs[0]
    assert (kv.create_revision, kv.mod_revision, kv.version) == (2, 7, 3)


def test_hash_is_deterministic() -> None:
    assert history().hash_kv() == history().hash_kv()
    assert history().hash_kv(4) == history().hash_kv(4)


def test_hash_sees_every_difference() -> None:
    base = history().hash_kv().hash
    other_value = store_with((b"a", b"1"), (b"b", b"1"), (b"a", b"X"), b"b", (b"c", b"1"))
    other_order = store_with((b"b", b"1"), (b"a", b"1"), (b"a", b"2"), b"b", (b"c", b"1"))
    one_txn = history()
    one_txn.txn(TxnRequest())  # read-only: no change, same hash
    assert one_txn.hash_kv().hash == base
    extra = history()
    extra.put(PutRequest(b"c", b"1"))
    compacted = history()
    compacted.compact(CompactionRequest(3))
    hashes = {
        base,
        other_value.hash_kv().hash,
        other_order.hash_kv().hash,
        extra.hash_kv().hash,
        compacted.hash_kv().hash,
    }
    assert len(hashes) == 5


def test_hash_at_a_revision_ignores_later_writes() -> None:
    later = history()
    later.put(PutRequest(b"d", b"1"))
    assert later.hash_kv(6).hash == history().hash_kv(6).hash
    assert later.hash_kv(6).revision == 7
    with pytest.raises(FutureRevision):
        history().hash_kv(7)
