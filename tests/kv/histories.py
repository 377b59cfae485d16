"""Generated store histories, and the check that two stores answer every read the same way.

Shared by the snapshot, backend and LMDB tests: a history is a list of requests (puts with and
without leases, deletes of keys and ranges, compactions, lease grants and revokes), each
followed by ``note_applied`` of its position, as the state machine would call it.
"""

from __future__ import annotations

from hypothesis import strategies as st

from synod.kv.mvcc import (
    CompactionRequest,
    DeleteRangeRequest,
    LeaseGrantRequest,
    LeaseRevokeRequest,
    LeaseTimeToLiveRequest,
    MvccError,
    MvccStore,
    PutRequest,
    RangeRequest,
)

KEYS = st.sampled_from([b"a", b"ab", b"b", b"c", b"\x00", b"\xff\x01"])
VALUES = st.sampled_from([b"", b"x", b"yy", bytes(range(256))])
LEASE_IDS = st.sampled_from([0, 1, 2, 7])


@st.composite
def compactions(draw: st.DrawFn) -> CompactionRequest:
    return CompactionRequest(draw(st.integers(0, 12)))


Request = (
    PutRequest | DeleteRangeRequest | CompactionRequest | LeaseGrantRequest | LeaseRevokeRequest
)

REQUESTS: st.SearchStrategy[Request] = st.one_of(
    st.builds(PutRequest, KEYS, VALUES, LEASE_IDS),
    st.builds(DeleteRangeRequest, KEYS, st.sampled_from([b"", b"\x00", b"b", b"c"])),
    compactions(),
    compactions(),
    st.builds(LeaseGrantRequest, st.integers(1, 100), LEASE_IDS),
    st.builds(LeaseRevokeRequest, LEASE_IDS),
)
HISTORIES = st.lists(REQUESTS, max_size=30)


def apply(store: MvccStore, request: Request) -> None:
    """Apply one request; a refused one changes nothing, the same way on every store."""
    try:
        match request:
            case PutRequest():
                store.put(request)
            case DeleteRangeRequest():
                store.delete_range(request)
            case CompactionRequest():
                # Drawn blind; clamped so most compactions land on a revision that exists.
                store.compact(CompactionRequest(min(request.revision, store.revision)))
            case LeaseGrantRequest():
                store.lease_grant(request)
            case LeaseRevokeRequest():
                store.lease_revoke(request)
    except MvccError:
        pass
    store.note_applied(store.applied_index + 1)


def replay(requests: list[Request], store: MvccStore | None = None) -> MvccStore:
    store = MvccStore() if store is None else store
    for request in requests:
        apply(store, request)
    return store


def assert_same_store(expected: MvccStore, actual: MvccStore) -> None:
    """Same revision, compact revision, applied index and leases, and the same answer to a
    range of every key, to the hash and to a watch from every retained revision."""
    assert actual.revision == expected.revision
    assert actual.compact_revision == expected.compact_revision
    assert actual.applied_index == expected.applied_index
    assert actual.lease_ids() == expected.lease_ids()
    for lease_id in expected.lease_ids():
        request = LeaseTimeToLiveRequest(lease_id, keys=True)
        assert actual.lease_time_to_live(request) == expected.lease_time_to_live(request)
    first = max(1, expected.compact_revision)
    for revision in range(first, expected.revision + 1):
        everything = RangeRequest(b"\x00", b"\x00", revision=revision)
        assert actual.range(everything) == expected.range(everything)
        assert actual.hash_kv(revision) == expected.hash_kv(revision)
        assert actual.history(b"\x00", b"\x00", revision) == expected.history(
            b"\x00", b"\x00", revision
        )
    assert actual.hash_kv() == expected.hash_kv()
