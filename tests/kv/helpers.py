"""Small builders shared by the MVCC tests."""

from synod.kv.mvcc import (
    DeleteRangeRequest,
    LeaseGrantRequest,
    MvccStore,
    PutRequest,
    RangeRequest,
)


def store_with(
    *writes: tuple[bytes, bytes] | bytes, leases: frozenset[int] = frozenset()
) -> MvccStore:
    """A store after the writes in order: a (key, value) pair is a put, a bare key a delete."""
    store = with_leases(*sorted(leases))
    for write in writes:
        if isinstance(write, tuple):
            store.put(PutRequest(write[0], write[1]))
        else:
            store.delete_range(DeleteRangeRequest(write))
    return store


def keys_of(store: MvccStore, request: RangeRequest) -> list[bytes]:
    return [kv.key for kv in store.range(request).kvs]


def with_leases(*lease_ids: int) -> MvccStore:
    """A fresh store with these leases granted (granting makes no revision)."""
    store = MvccStore()
    for lease_id in lease_ids:
        store.lease_grant(LeaseGrantRequest(60, lease_id))
    return store
