"""Watch-history replay: which events a watch starting at a revision receives (reference 4)."""

import pytest

from synod.kv.mvcc import (
    FROM_KEY,
    Compacted,
    CompactionRequest,
    DeleteRangeRequest,
    Event,
    EventType,
    KeyNotProvided,
    KeyValue,
    PutRequest,
    TxnRequest,
)
from tests.kv.helpers import store_with

PUT, DELETE = EventType.PUT, EventType.DELETE


def test_events_in_revision_then_op_order_with_prev_kv() -> None:
    store = store_with((b"b", b"1"), (b"a", b"1"))
    store.txn(TxnRequest(success=(PutRequest(b"b", b"2"), DeleteRangeRequest(b"a"))))
    assert store.history(FROM_KEY, FROM_KEY, 2) == [
        Event(PUT, KeyValue(b"b", 2, 2, 1, b"1")),
        Event(PUT, KeyValue(b"a", 3, 3, 1, b"1")),
        Event(PUT, KeyValue(b"b", 2, 4, 2, b"2"), prev_kv=KeyValue(b"b", 2, 2, 1, b"1")),
        Event(DELETE, KeyValue(b"a", 0, 4, 0, b""), prev_kv=KeyValue(b"a", 3, 3, 1, b"1")),
    ]


def test_start_revision_and_range_select_events() -> None:
    store = store_with((b"a", b"1"), (b"b", b"1"), (b"a", b"2"))
    assert [e.kv.mod_revision for e in store.history(b"a", b"", 3)] == [4]
    assert [e.kv.key for e in store.history(b"b", b"c", 1)] == [b"b"]
    assert store.history(b"a", b"", 0) == []  # 0 watches only what comes next
    assert store.history(b"a", b"", 5) == []


def test_compacted_start_is_refused() -> None:
    store = store_with((b"a", b"1"), (b"a", b"2"), b"a", (b"b", b"1"))
    store.compact(CompactionRequest(4))
    with pytest.raises(Compacted):
        store.history(b"a", b"", 3)
    # The delete at the compact revision went with the compaction, as in etcd.
    assert [(e.type, e.kv.key) for e in store.history(FROM_KEY, FROM_KEY, 4)] == [(PUT, b"b")]
    with pytest.raises(KeyNotProvided):
        store.history(b"", b"", 4)
