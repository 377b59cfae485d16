"""Snapshots: a restored store answers like the original; bytes are deterministic; damaged
bytes are refused with an error that names the fault."""

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synod.kv.mvcc import (
    AppliedIndexRegressed,
    LeaseGrantRequest,
    MemoryBackend,
    MvccLimits,
    MvccStore,
    PutRequest,
    RangeRequest,
    SnapshotChecksumMismatch,
    SnapshotNotRecognized,
    SnapshotTruncated,
    SnapshotVersionUnsupported,
    StateCorrupt,
)
from synod.kv.mvcc.encoding import KEY_BUCKET, META_BUCKET, encode_integer
from synod.kv.mvcc.snapshot import decode_snapshot, encode_snapshot
from tests.kv.histories import HISTORIES, REQUESTS, Request, apply, assert_same_store, replay

HEADER_BYTES = 17  # magic 4, version 1, length 8, crc 4


@settings(max_examples=150, deadline=None)
@given(HISTORIES, st.lists(REQUESTS, max_size=8))
def test_restored_store_answers_like_the_original(
    history: list[Request], later: list[Request]
) -> None:
    original = replay(history)
    restored = MvccStore.restore(original.snapshot())
    assert_same_store(original, restored)
    # The same requests afterwards keep them equal (lease IDs picked, revisions, compactions).
    replay(later, original)
    replay(later, restored)
    assert_same_store(original, restored)


@settings(max_examples=100, deadline=None)
@given(HISTORIES)
def test_snapshot_bytes_are_a_function_of_the_state(history: list[Request]) -> None:
    data = replay(history).snapshot()
    assert replay(history).snapshot() == data
    assert MvccStore.restore(data).snapshot() == data


def test_equal_states_from_different_requests_give_equal_bytes() -> None:
    granted_in_order = MvccStore()
    granted_backwards = MvccStore()
    for lease_id in (3, 1, 2):
        granted_in_order.lease_grant(LeaseGrantRequest(10, lease_id))
    for lease_id in (2, 3, 1):
        granted_backwards.lease_grant(LeaseGrantRequest(10, lease_id))
    assert granted_in_order.snapshot() == granted_backwards.snapshot()


def test_a_different_state_gives_different_bytes() -> None:
    store = MvccStore()
    empty = store.snapshot()
    store.note_applied(1)
    applied = store.snapshot()
    store.put(PutRequest(b"k", b"v"))
    assert len({empty, applied, store.snapshot()}) == 3


def test_restore_into_a_backend_replaces_what_it_held() -> None:
    backend = MemoryBackend()
    old = MvccStore(backend=backend)
    for key in (b"old-1", b"old-2", b"old-3"):
        old.put(PutRequest(key, b"stale"))
    old.note_applied(3)
    old.flush()
    source = replay([PutRequest(b"new", b"fresh"), LeaseGrantRequest(30, 5)])
    restored = MvccStore.restore(source.snapshot(), backend=backend)
    assert_same_store(source, restored)
    reopened = MvccStore.open(backend)
    assert_same_store(source, reopened)
    assert reopened.range(RangeRequest(b"old-1")).kvs == ()


def test_restore_takes_the_limits_given() -> None:
    limits = MvccLimits(txn_ops_max=1)
    restored = MvccStore.restore(MvccStore().snapshot(), limits=limits)
    assert restored.lease_grant(LeaseGrantRequest(1)).ttl_seconds == limits.lease_ttl_seconds_min


def test_applied_index_starts_at_zero_and_never_moves_back() -> None:
    store = MvccStore()
    assert store.applied_index == 0
    store.note_applied(4)
    store.note_applied(4)
    with pytest.raises(AppliedIndexRegressed, match="3 is below the 4"):
        store.note_applied(3)
    assert MvccStore.restore(store.snapshot()).applied_index == 4


def sample_snapshot() -> bytes:
    store = replay(
        [
            PutRequest(b"a", b"1"),
            LeaseGrantRequest(10, 4),
            PutRequest(b"b", b"2", lease=4),
            PutRequest(b"a", b"3"),
        ]
    )
    return store.snapshot()


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_flipped_bit_is_refused(data: st.DataObject) -> None:
    snapshot = sample_snapshot()
    position = data.draw(st.integers(0, len(snapshot) - 1))
    bit = data.draw(st.integers(0, 7))
    damaged = bytearray(snapshot)
    damaged[position] ^= 1 << bit
    with pytest.raises(StateCorrupt) as refused:
        MvccStore.restore(bytes(damaged))
    if position < 4:
        assert isinstance(refused.value, SnapshotNotRecognized)
    elif position == 4:
        assert isinstance(refused.value, SnapshotVersionUnsupported)
    elif position >= 13:
        assert isinstance(refused.value, SnapshotChecksumMismatch)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_truncation_is_refused(data: st.DataObject) -> None:
    snapshot = sample_snapshot()
    length = data.draw(st.integers(0, len(snapshot) - 1))
    expected = SnapshotNotRecognized if length < 4 else SnapshotTruncated
    with pytest.raises(expected):
        MvccStore.restore(snapshot[:length])


def test_trailing_bytes_are_refused() -> None:
    with pytest.raises(StateCorrupt, match="bytes after the snapshot"):
        MvccStore.restore(sample_snapshot() + b"\x00")


def reframed(buckets: dict[bytes, list[tuple[bytes, bytes]]]) -> bytes:
    """Bytes with a valid frame and checksum around ``buckets``, whatever they hold."""
    return encode_snapshot(buckets)


def test_a_checksummed_body_that_breaks_the_rules_is_refused() -> None:
    buckets = decode_snapshot(sample_snapshot())
    records = buckets[KEY_BUCKET]
    swapped = {**buckets, KEY_BUCKET: [records[1], records[0], *records[2:]]}
    with pytest.raises(StateCorrupt, match="out of revision order"):
        MvccStore.restore(reframed(swapped))
    meta = dict(buckets[META_BUCKET])
    meta[b"compact_revision"] = encode_integer(99)
    bad_meta = {**buckets, META_BUCKET: sorted(meta.items())}
    with pytest.raises(StateCorrupt, match="compact revision 99"):
        MvccStore.restore(reframed(bad_meta))
    meta[b"compact_revision"] = encode_integer(-1)
    meta[b"revision"] = encode_integer(2)
    too_new = {**buckets, META_BUCKET: sorted(meta.items())}
    with pytest.raises(StateCorrupt, match="not a retained revision up to 2"):
        MvccStore.restore(reframed(too_new))


def test_an_unknown_version_is_named() -> None:
    snapshot = bytearray(sample_snapshot())
    snapshot[4] = 9
    with pytest.raises(SnapshotVersionUnsupported, match="version 9"):
        MvccStore.restore(bytes(snapshot))


def test_the_checksum_covers_the_whole_body() -> None:
    snapshot = sample_snapshot()
    (crc,) = struct.unpack_from(">I", snapshot, 13)
    assert crc == zlib.crc32(snapshot[HEADER_BYTES:])


def test_an_empty_store_round_trips() -> None:
    store = MvccStore()
    restored = MvccStore.restore(store.snapshot())
    assert_same_store(store, restored)
    apply(store, PutRequest(b"k"))
    apply(restored, PutRequest(b"k"))
    assert_same_store(store, restored)
