"""The MVCC keyspace on LMDB: restart time, snapshot and copy speed with many keys.

``python -m synod.cli.kvdb_bench [--keys N] [--dir PATH]`` fills a store of ``N`` keys (default
1,000,000; one put each, values of 100 bytes, flushed to LMDB every 10,000 puts as a Ready
would), closes it, then measures:
- restart: ``LmdbBackend.open`` plus ``MvccStore.open`` (LMDB read, then the key index rebuilt
  from the key bucket), with the data file's pages dropped from the page cache first and warm;
  also the two parts apart;
- ``store.snapshot()`` and ``MvccStore.restore()`` in memory, and restore into a fresh LMDB
  backend (one commit of every record);
- ``LmdbBackend.copy_to`` (a compacted, synced copy of one consistent view).
It works in a temporary directory inside ``PATH`` (default: here) and removes it afterwards.
Prints one Markdown table in the storage benchmark's format (keys/s in place of entries/s,
MB/s of the file or snapshot bytes handled); MB is 10^6 bytes. Measurements,
not tests: nothing here asserts a speed. (It lives here because it needs both ``synod.kv`` and
``synod.storage``, which may not import each other.)
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence

from synod.kv.mvcc import MvccStore, PutRequest
from synod.kv.mvcc.state import collector_paused, load_state
from synod.storage.bench import Row, drop_cached_pages
from synod.storage.kvdb import DATA_FILE_NAME, LmdbBackend

KEYS_DEFAULT = 1_000_000
VALUE_BYTES = 100
PUTS_PER_FLUSH = 10_000
REPEATS = 2
HEADER = (
    "| measurement | ops | s | ops/s | ms/op | keys/s | MB/s |\n|---|---:|---:|---:|---:|---:|---:|"
)
"""The storage benchmark's columns, without its fdatasync ones."""


def markdown(row: Row) -> str:
    return "| " + " | ".join(row.cells()[:7]) + " |"


def progress(row: Row) -> Row:
    print(markdown(row), file=sys.stderr, flush=True)
    return row


def key_of(number: int) -> bytes:
    return b"key-%010d" % number


def value_of(number: int) -> bytes:
    return (b"%010d" % number) * (VALUE_BYTES // 10)


def fill(path: str, keys: int) -> Row:
    started = time.perf_counter()
    with LmdbBackend.open(path) as backend:
        store = MvccStore(backend=backend)
        for number in range(keys):
            store.put(PutRequest(key_of(number), value_of(number)))
            store.note_applied(number + 1)
            if (number + 1) % PUTS_PER_FLUSH == 0:
                store.flush()
        store.flush()
        size_bytes = backend.size_bytes()
    elapsed = time.perf_counter() - started
    print(f"filled {keys:,} keys: {size_bytes / 1e6:,.1f} MB of LMDB", file=sys.stderr)
    flushes = -(-keys // PUTS_PER_FLUSH)
    return Row(
        f"fill: {keys:,} puts, a flush every {PUTS_PER_FLUSH:,}",
        flushes,
        elapsed,
        entries=keys,
        payload_bytes=size_bytes,
    )


def bench_restart(path: str, keys: int) -> list[Row]:
    data_path = os.path.join(path, DATA_FILE_NAME)
    size_bytes = os.path.getsize(data_path)
    rows = []
    for label, cold in (("cache dropped", True), ("page cache", False)):
        elapsed = 0.0
        for _ in range(REPEATS):
            if cold:
                drop_cached_pages(data_path)
            started = time.perf_counter()
            with LmdbBackend.open(path, create=False) as backend:
                store = MvccStore.open(backend)
            elapsed += time.perf_counter() - started
            assert store.applied_index == keys, store.applied_index
            del store
        name = f"restart: open {keys:,} keys, {label}"
        rows.append(progress(Row(name, REPEATS, elapsed, REPEATS * keys, REPEATS * size_bytes)))
    with LmdbBackend.open(path, create=False) as backend:
        started = time.perf_counter()
        buckets = backend.load()
        loaded_s = time.perf_counter() - started
    started = time.perf_counter()
    with collector_paused():  # as MvccStore.open does
        assert load_state(buckets, 2, None) is not None
    rebuilt_s = time.perf_counter() - started
    rows.append(progress(Row("  of which LMDB read (load)", 1, loaded_s, keys, size_bytes)))
    rows.append(progress(Row("  of which index rebuild", 1, rebuilt_s, keys, size_bytes)))
    return rows


def bench_snapshot(directory: str, path: str, keys: int) -> list[Row]:
    with LmdbBackend.open(path, create=False) as backend:
        store = MvccStore.open(backend)
        started = time.perf_counter()
        data = store.snapshot()
        snapshot_s = time.perf_counter() - started
        copy_path = os.path.join(directory, "copy")
        started = time.perf_counter()
        copy_bytes = backend.copy_to(copy_path)
        copy_s = time.perf_counter() - started
    del store
    rows = [progress(Row("store.snapshot()", 1, snapshot_s, keys, len(data)))]
    started = time.perf_counter()
    restored = MvccStore.restore(data)
    restore_s = time.perf_counter() - started
    assert restored.applied_index == keys
    del restored
    rows.append(progress(Row("MvccStore.restore(), in memory", 1, restore_s, keys, len(data))))
    restore_path = os.path.join(directory, "restored")
    with LmdbBackend.open(restore_path) as target:
        started = time.perf_counter()
        MvccStore.restore(data, backend=target)
        into_lmdb_s = time.perf_counter() - started
    name = "MvccStore.restore() into a fresh LMDB"
    rows.append(progress(Row(name, 1, into_lmdb_s, keys, len(data))))
    rows.append(progress(Row("LmdbBackend.copy_to(), compacted", 1, copy_s, keys, copy_bytes)))
    print(f"snapshot {len(data) / 1e6:,.1f} MB, copy {copy_bytes / 1e6:,.1f} MB", file=sys.stderr)
    return rows


def run(directory: str, keys: int) -> list[Row]:
    path = os.path.join(directory, "store")
    rows = [progress(fill(path, keys))]
    rows.extend(bench_restart(path, keys))
    rows.extend(bench_snapshot(directory, path, keys))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synod.cli.kvdb_bench", description=__doc__)
    parser.add_argument("--keys", type=int, default=KEYS_DEFAULT, help="keys in the store")
    parser.add_argument(
        "--dir", default=".", help="where to make the temporary directory (default: here)"
    )
    args = parser.parse_args(argv)
    if args.keys < 1:
        parser.error("--keys must be at least 1")
    directory = tempfile.mkdtemp(prefix="synod-kvdb-bench-", dir=args.dir)
    print(f"measuring in {directory}", file=sys.stderr, flush=True)
    try:
        rows = run(directory, args.keys)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; {args.keys:,} keys, values of {VALUE_BYTES} B.\n"
    )
    print(HEADER)
    for row in rows:
        print(markdown(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
