"""Flush and open through a backend: a reopened store answers like the one that flushed, holds
nothing flushed later, and the backend holds exactly the store's records (compaction deletes)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synod.kv.mvcc import (
    Batch,
    CompactionRequest,
    DeleteRangeRequest,
    LeaseGrantRequest,
    LeaseRevokeRequest,
    MemoryBackend,
    MvccStore,
    PutRequest,
    RangeRequest,
    StateCorrupt,
)
from synod.kv.mvcc.encoding import KEY_BUCKET, LEASE_BUCKET, META_BUCKET, decode_integer
from tests.kv.histories import REQUESTS, Request, apply, assert_same_store, replay

STEPS = st.lists(st.tuples(REQUESTS, st.booleans()), max_size=30)


def backend_holds_exactly(backend: MemoryBackend, store: MvccStore) -> None:
    """The backend's records are the store's own: what a snapshot of it lists."""
    fresh = MvccStore.restore(store.snapshot(), backend=MemoryBackend())
    assert fresh.snapshot() == store.snapshot()
    expected = MemoryBackend()
    MvccStore.restore(store.snapshot(), backend=expected)
    assert backend.load() == expected.load()


@settings(max_examples=150, deadline=None)
@given(STEPS, st.lists(REQUESTS, max_size=8))
def test_reopen_gives_the_store_as_of_its_last_flush(
    steps: list[tuple[Request, bool]], later: list[Request]
) -> None:
    backend = MemoryBackend()
    store = MvccStore(backend=backend)
    flushed: list[Request] = []
    for position, (request, flush) in enumerate(steps):
        apply(store, request)
        if flush:
            store.flush()
            flushed = [request for request, _ in steps[: position + 1]]
    reopened = MvccStore.open(backend)
    assert_same_store(replay(flushed), reopened)
    store.flush()
    backend_holds_exactly(backend, store)
    reopened = MvccStore.open(backend)
    assert_same_store(store, reopened)
    # The reopened store keeps flushing into the same backend.
    replay(later, store)
    replay(later, reopened)
    reopened.flush()
    assert_same_store(store, MvccStore.open(backend))


def test_unflushed_changes_are_absent_after_reopen() -> None:
    backend = MemoryBackend()
    store = MvccStore(backend=backend)
    store.put(PutRequest(b"kept", b"1"))
    store.note_applied(1)
    store.flush()
    store.put(PutRequest(b"lost", b"2"))
    store.lease_grant(LeaseGrantRequest(30, 9))
    store.note_applied(2)
    reopened = MvccStore.open(backend)
    assert reopened.applied_index == 1
    assert reopened.revision == 2
    assert [kv.key for kv in reopened.range(RangeRequest(b"\x00", b"\x00")).kvs] == [b"kept"]
    assert reopened.lease_ids() == []


def test_compaction_deletes_the_records_it_drops() -> None:
    backend = MemoryBackend()
    store = MvccStore(backend=backend)
    for value in (b"1", b"2", b"3"):
        store.put(PutRequest(b"k", value))
    store.put(PutRequest(b"gone", b"x"))
    store.delete_range(DeleteRangeRequest(b"gone"))
    store.flush()
    assert backend.record_count(KEY_BUCKET) == 5  # three puts of k, a put and a tombstone
    store.compact(CompactionRequest(store.revision))
    store.flush()
    assert backend.record_count(KEY_BUCKET) == 1  # the last put of k
    backend_holds_exactly(backend, store)


def test_one_commit_per_flush_with_the_meta_and_none_when_nothing_changed() -> None:
    backend = MemoryBackend()
    store = MvccStore(backend=backend)
    assert store.flush()  # a fresh store's first flush writes its meta
    assert not store.flush()
    assert backend.commits == 1
    store.put(PutRequest(b"a"))
    store.put(PutRequest(b"b"))
    store.lease_grant(LeaseGrantRequest(10, 3))
    store.note_applied(3)
    assert store.flush()
    assert backend.commits == 2
    meta = dict(backend.load()[META_BUCKET])
    assert decode_integer(b"applied_index", meta[b"applied_index"]) == 3
    assert decode_integer(b"revision", meta[b"revision"]) == 3
    assert not store.flush()
    store.note_applied(4)  # an entry that changed nothing still moves the applied index
    assert store.flush()
    assert backend.commits == 3
    assert MvccStore.open(backend).applied_index == 4


def test_a_lease_revoked_and_granted_again_between_flushes_survives() -> None:
    backend = MemoryBackend()
    store = MvccStore(backend=backend)
    store.lease_grant(LeaseGrantRequest(10, 5))
    store.flush()
    store.lease_revoke(LeaseRevokeRequest(5))
    store.lease_grant(LeaseGrantRequest(20, 5))
    store.lease_revoke(LeaseRevokeRequest(5))
    store.flush()
    assert backend.record_count(LEASE_BUCKET) == 0
    store.lease_grant(LeaseGrantRequest(40, 5))
    store.flush()
    assert_same_store(store, MvccStore.open(backend))


def test_an_empty_backend_opens_as_a_fresh_store() -> None:
    store = MvccStore.open(MemoryBackend())
    assert (store.revision, store.compact_revision, store.applied_index) == (1, -1, 0)


def test_damaged_records_are_refused_on_open() -> None:
    backend = MemoryBackend()
    store = MvccStore(backend=backend)
    store.put(PutRequest(b"k", b"v"))
    store.flush()
    backend.commit(Batch(puts=((KEY_BUCKET, b"\x00" * 8 + b"_" + b"\x00" * 8, b"short"),)))
    with pytest.raises(StateCorrupt, match="revision out of range"):
        MvccStore.open(backend)
    other = MemoryBackend()
    other.commit(Batch(puts=((b"mystery", b"k", b"v"),)))
    with pytest.raises(StateCorrupt, match="unknown buckets"):
        MvccStore.open(other)
    no_meta = MemoryBackend()
    no_meta.commit(Batch(puts=((LEASE_BUCKET, b"\x00" * 7 + b"\x01", b"\x00" * 16),)))
    with pytest.raises(StateCorrupt, match="meta holds"):
        MvccStore.open(no_meta)
