"""The keyspace hash is a function of the requests applied: same requests, same bytes."""

from hypothesis import given, settings
from hypothesis import strategies as st

from synod.kv.mvcc import (
    CompactionRequest,
    DeleteRangeRequest,
    MvccError,
    MvccStore,
    PutRequest,
)

KEYS = st.sampled_from([b"a", b"b", b"c"])
WRITES = st.one_of(
    st.builds(PutRequest, KEYS, st.sampled_from([b"", b"1", b"2"])),
    st.builds(DeleteRangeRequest, KEYS, st.sampled_from([b"", b"\x00", b"c"])),
    st.builds(CompactionRequest, st.integers(0, 8)),
)
Write = PutRequest | DeleteRangeRequest | CompactionRequest


def replay(writes: list[Write]) -> MvccStore:
    store = MvccStore()
    for write in writes:
        try:
            if isinstance(write, PutRequest):
                store.put(write)
            elif isinstance(write, DeleteRangeRequest):
                store.delete_range(write)
            else:
                store.compact(write)
        except MvccError:
            pass  # refused the same way on every replay
    return store


@settings(max_examples=200, deadline=None)
@given(st.lists(WRITES, max_size=20))
def test_same_requests_same_hash(writes: list[Write]) -> None:
    first, second = replay(writes), replay(writes)
    assert first.hash_kv() == second.hash_kv()
    for revision in range(max(1, first.compact_revision), first.revision + 1):
        assert first.hash_kv(revision) == second.hash_kv(revision)


@settings(max_examples=200, deadline=None)
@given(st.lists(WRITES, max_size=20), KEYS, st.sampled_from([b"1", b"new"]))
def test_one_more_put_changes_the_hash(writes: list[Write], key: bytes, value: bytes) -> None:
    before = replay(writes)
    after = replay([*writes, PutRequest(key, value)])
    assert after.hash_kv().hash != before.hash_kv().hash
    assert after.hash_kv(before.revision).hash == before.hash_kv().hash
