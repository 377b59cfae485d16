"""Small builders shared by the MVCC tests."""

from synod.kv.mvcc import DeleteRangeRequest, MvccStore, PutRequest, RangeRequest


def store_with(
    *writes: tuple[bytes, bytes] | bytes, leases: frozenset[int] = frozenset()
) -> MvccStore:
    """A store after the writes in order: a (key, value) pair is a put, a bare key a delete."""
    store = MvccStore(leases=leases)
    for write in writes:
        if isinstance(write, tuple):
            store.put(PutRequest(write[0], write[1]))
        else:
            store.delete_range(DeleteRangeRequest(write))
    return store


def keys_of(store: MvccStore, request: RangeRequest) -> list[bytes]:
    return [kv.key for kv in store.range(request).kvs]
