"""The keyspace on real LMDB: flush, close and reopen give the store as of its last flush;
copies are consistent and open on their own; damaged, missing and locked stores are refused
with errors that say so."""

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synod.kv.mvcc import (
    CompactionRequest,
    LeaseGrantRequest,
    MemoryBackend,
    MvccStore,
    PutRequest,
    RangeRequest,
)
from synod.storage.kvdb import (
    DATA_FILE_NAME,
    KvdbCorrupt,
    KvdbError,
    KvdbFull,
    KvdbLocked,
    KvdbMissing,
    LmdbBackend,
)
from tests.kv.histories import REQUESTS, Request, apply, assert_same_store, replay

STEPS = st.lists(st.tuples(REQUESTS, st.booleans()), max_size=25)


def put_many(store: MvccStore, count: int, value: bytes = b"v" * 64) -> None:
    for number in range(count):
        store.put(PutRequest(b"key-%06d" % number, value))
        store.note_applied(store.applied_index + 1)


@settings(max_examples=40, deadline=None)
@given(STEPS)
def test_reopen_gives_the_store_as_of_its_last_flush(steps: list[tuple[Request, bool]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        memory = MemoryBackend()
        mirror = MvccStore(backend=memory)
        backend = LmdbBackend.open(directory)
        store = MvccStore(backend=backend)
        flushed: list[Request] = []
        for position, (request, flush) in enumerate(steps):
            apply(store, request)
            apply(mirror, request)
            if flush:
                store.flush()
                mirror.flush()
                flushed = [request for request, _ in steps[: position + 1]]
        assert backend.load() == memory.load()  # the same records as the in-memory backend
        backend.close()
        with LmdbBackend.open(directory) as reopened_backend:
            reopened = MvccStore.open(reopened_backend)
            assert_same_store(replay(flushed), reopened)


def test_restart_after_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "kv")
    with LmdbBackend.open(path) as backend:
        store = MvccStore(backend=backend)
        put_many(store, 50)
        store.lease_grant(LeaseGrantRequest(30, 3))
        store.flush()
    with LmdbBackend.open(path) as backend:
        store = MvccStore.open(backend)
        assert store.applied_index == 50
        store.put(PutRequest(b"after-restart", b"x", lease=3))
        store.compact(CompactionRequest(store.revision))
        store.note_applied(51)
        store.flush()
        expected_snapshot = store.snapshot()
    with LmdbBackend.open(path, create=False) as backend:
        store = MvccStore.open(backend)
        assert store.snapshot() == expected_snapshot
        assert store.lease_ids() == [3]
        assert store.range(RangeRequest(b"after-restart")).kvs[0].lease == 3


def test_copy_is_a_consistent_store_of_its_own(tmp_path: Path) -> None:
    with LmdbBackend.open(str(tmp_path / "live")) as backend:
        store = MvccStore(backend=backend)
        put_many(store, 200)
        store.flush()
        at_copy = store.snapshot()
        store.put(PutRequest(b"unflushed", b"not in the copy"))
        size_bytes = backend.copy_to(str(tmp_path / "copy"))
        assert size_bytes == os.path.getsize(tmp_path / "copy" / DATA_FILE_NAME)
        store.put(PutRequest(b"after-copy", b"x"))
        store.flush()
    with LmdbBackend.open(str(tmp_path / "copy"), create=False) as copy:
        assert MvccStore.open(copy).snapshot() == at_copy


def test_copy_refuses_to_overwrite_a_store(tmp_path: Path) -> None:
    with LmdbBackend.open(str(tmp_path / "a")) as first, LmdbBackend.open(str(tmp_path / "b")):
        MvccStore(backend=first).flush()
        with pytest.raises(KvdbError, match="already there"):
            first.copy_to(str(tmp_path / "b"))


def test_restore_replaces_an_lmdb_store(tmp_path: Path) -> None:
    source = replay([PutRequest(b"new", b"1"), LeaseGrantRequest(10, 2)])
    with LmdbBackend.open(str(tmp_path)) as backend:
        old = MvccStore(backend=backend)
        put_many(old, 20)
        old.flush()
        MvccStore.restore(source.snapshot(), backend=backend)
    with LmdbBackend.open(str(tmp_path)) as backend:
        assert_same_store(source, MvccStore.open(backend))


def test_a_missing_store_is_refused_without_create(tmp_path: Path) -> None:
    with pytest.raises(KvdbMissing, match="no keyspace store here"):
        LmdbBackend.open(str(tmp_path / "nowhere"), create=False)
    assert not (tmp_path / "nowhere").exists()


def test_a_second_open_is_refused_while_the_first_holds_it(tmp_path: Path) -> None:
    first = LmdbBackend.open(str(tmp_path))
    with pytest.raises(KvdbLocked, match="another open backend"):
        LmdbBackend.open(str(tmp_path))
    first.close()
    LmdbBackend.open(str(tmp_path)).close()


def flushed_store(path: Path, keys: int = 300) -> bytes:
    with LmdbBackend.open(str(path)) as backend:
        store = MvccStore(backend=backend)
        put_many(store, keys)
        store.flush()
    return (path / DATA_FILE_NAME).read_bytes()


@pytest.mark.parametrize("kept", [0.0, 0.5, 0.99])
def test_a_truncated_file_is_refused(tmp_path: Path, kept: float) -> None:
    data = flushed_store(tmp_path)
    (tmp_path / DATA_FILE_NAME).write_bytes(data[: int(len(data) * kept)])
    with pytest.raises(KvdbCorrupt, match=str(tmp_path)):
        LmdbBackend.open(str(tmp_path))


def test_a_file_of_garbage_is_refused(tmp_path: Path) -> None:
    data = flushed_store(tmp_path)
    (tmp_path / DATA_FILE_NAME).write_bytes(bytes(range(256)) * (len(data) // 256))
    with pytest.raises(KvdbCorrupt, match="not a sound LMDB file"):
        LmdbBackend.open(str(tmp_path))


def test_verification_finds_a_damaged_page(tmp_path: Path) -> None:
    data = bytearray(flushed_store(tmp_path, keys=2000))
    page_bytes = os.sysconf("SC_PAGE_SIZE")
    data[5 * page_bytes + 2] ^= 0x03  # the page number a page after the meta pages stores
    (tmp_path / DATA_FILE_NAME).write_bytes(bytes(data))
    with pytest.raises(KvdbCorrupt, match="problem"):
        LmdbBackend.open(str(tmp_path), verify=True)
    # The lock is released after a refused open: the store can be opened (and fixed) again.
    (tmp_path / DATA_FILE_NAME).unlink()
    LmdbBackend.open(str(tmp_path)).close()


def test_a_commit_beyond_the_map_size_is_refused_whole(tmp_path: Path) -> None:
    with LmdbBackend.open(str(tmp_path), map_size_bytes=1 << 20) as backend:
        store = MvccStore(backend=backend)
        put_many(store, 10, b"small")
        store.flush()
        before = store.snapshot()
        put_many(store, 200, b"x" * 20_000)
        with pytest.raises(KvdbFull, match="map size"):
            store.flush()
    with LmdbBackend.open(str(tmp_path), map_size_bytes=1 << 20) as backend:
        assert MvccStore.open(backend).snapshot() == before


def test_a_closed_backend_says_so(tmp_path: Path) -> None:
    backend = LmdbBackend.open(str(tmp_path))
    backend.close()
    backend.close()
    with pytest.raises(KvdbError, match="closed"):
        backend.load()
