"""The keyspace's backend on LMDB: named buckets of byte records, one write transaction per
commit (etcd keeps the same records in bbolt, which descends from LMDB).

``LmdbBackend`` satisfies ``synod.kv.mvcc.Backend`` structurally and imports nothing from
``synod.kv``: it stores whatever (bucket, key, value) bytes a batch names. A bucket is an LMDB
named database; ``load`` lists every one, records in key order; ``commit`` applies a batch
(clear, deletes, puts) in one write transaction, so a crash leaves all of it or none of it.

Sync choice. The write-ahead log is the source of truth: an entry is applied only after the
WAL made it durable, and the store's applied index travels in the same LMDB transaction as the
records it covers. So the backend may lag the WAL but never runs ahead of it, and losing its
last commits loses nothing. By default the environment is opened with ``metasync=False``: each
commit flushes its data pages once and the meta page is written without its own flush. A crash
may then undo the last committed transaction(s) but never leaves a torn or inconsistent file
(LMDB's ACI guarantees hold; only the most recent D is given up). ``sync=False`` skips even that
flush (only for benchmarks and throwaway stores: LMDB keeps integrity after an OS crash then
only on filesystems that preserve write order).

Crash between the WAL's fsync and the LMDB commit (or before a lost commit reached the disk):
``MvccStore.open`` finds the older applied index next to the older data, and the replica replays
the WAL entries after it; applying them again is exactly what produced the lost commit. The
rule this asks of the runtime: the WAL may be compacted only up to an applied index the
backend has made durable. With ``metasync=False`` a commit is durable once a later commit has
returned or ``sync()`` has; so compact up to the applied index of the commit before the last,
or call ``sync()`` first.

Errors, each naming the path: ``KvdbMissing`` (no store there and ``create`` is off),
``KvdbLocked`` (another open backend holds the directory's lock file), ``KvdbCorrupt`` (the
file is shorter than its meta page says, LMDB refuses it or reports a damaged page, or the
optional offline verification of every page finds problems), ``KvdbFull`` (a commit would
outgrow ``map_size_bytes``; nothing of it is applied). The length check runs before LMDB maps
the file because LMDB would fault (SIGBUS) on the missing pages of a truncated file instead of
reporting it; damage inside pages can still fault or go unnoticed, so a file from elsewhere
should be opened with ``verify=True``. LMDB keeps no checksums on data pages: a flipped bit
inside a value is not detected here (the replicas' ``hash_kv`` comparison catches it, as
etcd's corruption check does).

``copy_to`` writes a compacted, consistent copy (one read transaction's view) into a new
directory and syncs it; the copy opens as a backend of its own.
"""

from __future__ import annotations

import fcntl
import os
import struct
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Protocol

import lmdb

from synod.core.errors import SynodError

DATA_FILE_NAME = "data.mdb"
LOCK_FILE_NAME = "synod.lock"
MAP_SIZE_BYTES_DEFAULT = 1 << 34
"""16 GiB of address space: LMDB reserves it, the file grows only as pages are used."""
BUCKETS_MAX = 16
VERIFY_PROBLEMS_SHOWN = 3

_DAMAGE = (
    lmdb.CorruptedError,
    lmdb.PageNotFoundError,
    lmdb.InvalidError,
    lmdb.VersionMismatchError,
    lmdb.PanicError,
)
# The meta page (LMDB's MDB_meta in the host's byte order, after the page header): magic,
# the free database's first field (which holds the page size), the last page used, and the
# transaction ID that says which of the two meta pages is newer.
_PAGE_HEADER_BYTES = 16 if lmdb.version()[0] == 0 else 24
_META_OFFSET = _PAGE_HEADER_BYTES
_META = struct.Struct("=I4x8x8xI44x48xQQ")
_LMDB_MAGIC = 0xBEEFC0DE
_PAGE_BYTES_MIN = 256
_PAGE_BYTES_MAX = 1 << 16


class KvdbError(SynodError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class KvdbMissing(KvdbError):
    """No keyspace store at the path, and the caller did not ask to create one."""


class KvdbLocked(KvdbError):
    """Another open backend (in this process or another) holds the store."""


class KvdbCorrupt(KvdbError):
    """The file is not a sound LMDB environment."""


class KvdbFull(KvdbError):
    """A commit would outgrow the map size; the transaction was aborted."""


class BatchLike(Protocol):
    """What a commit needs of a batch (``synod.kv.mvcc.Batch`` has this shape): puts and
    deletes in (bucket, key) order."""

    @property
    def puts(self) -> Sequence[tuple[bytes, bytes, bytes]]: ...

    @property
    def deletes(self) -> Sequence[tuple[bytes, bytes]]: ...

    @property
    def clear(self) -> bool: ...


class LmdbBackend:
    """One LMDB environment in a directory of its own; use ``open``."""

    def __init__(self, path: str, env: lmdb.Environment, lock_descriptor: int) -> None:
        self.path = path
        self._env: lmdb.Environment | None = env
        self._lock_descriptor = lock_descriptor
        self._buckets: dict[bytes, lmdb._Database] = {}
        self.commits = 0
        with self._errors_named():
            # A handle opened inside a transaction outlives it only if that one commits, so
            # each is opened in a write transaction of its own.
            for name in env.dbs():
                self._buckets[name] = env.open_db(name, create=False)

    @classmethod
    def open(
        cls,
        path: str,
        map_size_bytes: int = MAP_SIZE_BYTES_DEFAULT,
        create: bool = True,
        sync: bool = True,
        verify: bool = False,
    ) -> LmdbBackend:
        """Open (or with ``create``, make) the store in directory ``path``. ``verify`` walks
        every page of an existing file first (slow: for files from elsewhere)."""
        data_path = os.path.join(path, DATA_FILE_NAME)
        if not os.path.exists(data_path):
            if not create:
                raise KvdbMissing(path, "no keyspace store here")
            os.makedirs(path, exist_ok=True)
        lock_descriptor = _lock(path)
        try:
            if os.path.exists(data_path):
                _check_length(path, data_path)
            if verify and os.path.exists(data_path):
                _verify(path)
            env = _open_env(path, map_size_bytes, sync)
            return cls(path, env, lock_descriptor)
        except BaseException:
            os.close(lock_descriptor)
            raise

    def load(self) -> dict[bytes, list[tuple[bytes, bytes]]]:
        """Every non-empty bucket, its records in key order, from one read transaction."""
        env = self._open_env()
        loaded: dict[bytes, list[tuple[bytes, bytes]]] = {}
        with self._errors_named(), env.begin() as txn:
            for name, db in sorted(self._buckets.items()):
                records = list(txn.cursor(db).iternext(keys=True, values=True))
                if records:
                    loaded[name] = records
        return loaded

    def commit(self, batch: BatchLike) -> None:
        """Apply ``batch`` in one write transaction: clear, then deletes, then puts."""
        env = self._open_env()
        for bucket, _, _ in batch.puts:
            if bucket not in self._buckets:
                self._buckets[bucket] = env.open_db(bucket)
        with self._errors_named(), env.begin(write=True) as txn:
            if batch.clear:
                for db in self._buckets.values():
                    txn.drop(db, delete=False)
            for bucket, key in batch.deletes:
                holder = self._buckets.get(bucket)
                if holder is not None:
                    txn.delete(key, db=holder)
            for bucket, records in _grouped(batch.puts):
                # Into an emptied bucket, sorted records go in with LMDB's append mode, which
                # fills pages in order instead of searching and splitting (it refuses a key
                # out of order, aborting the transaction, so it cannot misplace one).
                cursor = txn.cursor(self._buckets[bucket])
                cursor.putmulti(records, append=batch.clear)
        self.commits += 1

    def sync(self) -> None:
        """Make every commit so far durable (one flush of data and meta pages)."""
        with self._errors_named():
            self._open_env().sync(True)

    def copy_to(self, path: str) -> int:
        """Write a compacted copy of one consistent view into the new directory ``path``,
        synced to disk; return its size in bytes."""
        env = self._open_env()
        if os.path.exists(os.path.join(path, DATA_FILE_NAME)):
            raise KvdbError(path, "a keyspace store is already there; will not overwrite it")
        os.makedirs(path, exist_ok=True)
        with self._errors_named(), env.begin() as txn:
            env.copy(path, compact=True, txn=txn)
        data_path = os.path.join(path, DATA_FILE_NAME)
        _fsync(data_path, os.O_RDONLY)
        _fsync(path, os.O_RDONLY | os.O_DIRECTORY)
        return os.path.getsize(data_path)

    def size_bytes(self) -> int:
        return os.path.getsize(os.path.join(self.path, DATA_FILE_NAME))

    def close(self) -> None:
        if self._env is None:
            return
        self._env.close()
        self._env = None
        os.close(self._lock_descriptor)

    def __enter__(self) -> LmdbBackend:
        return self

    def __exit__(
        self,
        error_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _open_env(self) -> lmdb.Environment:
        if self._env is None:
            raise KvdbError(self.path, "the backend is closed")
        return self._env

    @contextmanager
    def _errors_named(self) -> Iterator[None]:
        try:
            yield
        except lmdb.MapFullError as error:
            raise KvdbFull(self.path, f"commit outgrows the map size: {error}") from error
        except _DAMAGE as error:
            raise KvdbCorrupt(self.path, f"LMDB reports damage: {error}") from error
        except lmdb.Error as error:
            raise KvdbError(self.path, f"LMDB failed: {error}") from error


def _grouped(
    puts: Sequence[tuple[bytes, bytes, bytes]],
) -> Iterator[tuple[bytes, list[tuple[bytes, bytes]]]]:
    """Consecutive puts to the same bucket, as one list each."""
    current: bytes | None = None
    records: list[tuple[bytes, bytes]] = []
    for bucket, key, value in puts:
        if bucket != current:
            if current is not None:
                yield current, records
            current, records = bucket, []
        records.append((key, value))
    if current is not None:
        yield current, records


def _lock(path: str) -> int:
    """An exclusive lock on the directory's lock file, held until ``close``."""
    descriptor = os.open(os.path.join(path, LOCK_FILE_NAME), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise KvdbLocked(path, "another open backend holds this store") from None
    return descriptor


def _open_env(path: str, map_size_bytes: int, sync: bool) -> lmdb.Environment:
    try:
        return lmdb.open(
            path, map_size=map_size_bytes, max_dbs=BUCKETS_MAX, metasync=False, sync=sync
        )
    except _DAMAGE as error:
        raise KvdbCorrupt(path, f"not a sound LMDB file: {error}") from error


def _check_length(path: str, data_path: str) -> None:
    """Refuse a data file shorter than its newest meta page says: LMDB maps the file and
    would fault on the missing pages (SIGBUS) rather than report an error."""
    with open(data_path, "rb") as file:
        head = file.read(_META_OFFSET + _META.size)
        if len(head) < _META_OFFSET + _META.size:
            raise KvdbCorrupt(path, f"{DATA_FILE_NAME} of {len(head)} bytes has no meta page")
        metas = [_META.unpack_from(head, _META_OFFSET)]
        page_bytes = metas[0][1]
        if page_bytes & (page_bytes - 1) or not _PAGE_BYTES_MIN <= page_bytes <= _PAGE_BYTES_MAX:
            return  # not a meta page this check understands: LMDB's own open refuses it
        file.seek(page_bytes + _META_OFFSET)
        second = file.read(_META.size)
        if len(second) == _META.size:
            metas.append(_META.unpack(second))
        file_bytes = os.fstat(file.fileno()).st_size
    valid = [meta for meta in metas if meta[0] == _LMDB_MAGIC]
    if not valid:
        return
    _, _, last_page, _ = max(valid, key=lambda meta: meta[3])
    needed_bytes = (last_page + 1) * page_bytes
    if file_bytes < needed_bytes:
        raise KvdbCorrupt(
            path, f"{DATA_FILE_NAME} is truncated: {file_bytes} bytes of {needed_bytes}"
        )


def _verify(path: str) -> None:
    from lmdb import verify  # noqa: PLC0415 (a large pure-Python module, needed only here)

    walk_pages: Callable[[str], list[str]] = verify.verify
    try:
        problems = walk_pages(path)
    except verify.VerifyError as error:
        raise KvdbCorrupt(path, f"not an LMDB file: {error}") from error
    if problems:
        shown = "; ".join(problems[:VERIFY_PROBLEMS_SHOWN])
        raise KvdbCorrupt(path, f"{len(problems)} problem(s) in its pages: {shown}")


def _fsync(path: str, flags: int) -> None:
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
