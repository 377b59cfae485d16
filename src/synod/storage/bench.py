"""The write-ahead log on the real disk: fdatasync rate, group commit, snapshots, recovery.

``python -m synod.storage.bench [--dir PATH] [--seconds N]`` works in a fresh temporary
directory inside ``PATH`` (default: the current directory) and removes it afterwards. It
prints one Markdown table, meant for docs/benchmarks.md; progress goes to stderr. Every
measurement stops after ``--seconds`` or after a fixed count, whichever comes first.

Rows: the machine's raw rate of writing 256 bytes and calling ``fdatasync`` (appended to a
growing file, and into a preallocated one as WAL segments are); ``WalStorage.save`` with 1, 8,
64 and 256 entries of 256 bytes (plus the hard state, as a Ready carries), with the share of
its time spent inside ``fdatasync``; snapshot files of 16 and 64 MiB written atomically and
read back checked; reopening a WAL of 100,000 entries. Reads are measured twice: with the
file's pages dropped from the page cache first (``posix_fadvise``), and warm.
MB is 10^6 bytes. Measurements, not tests: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import Entry, HardState, Membership, Snapshot, SnapshotMeta
from synod.storage.disk import OsDisk
from synod.storage.snapshot_file import read_snapshot, snapshot_name, write_snapshot
from synod.storage.wal_storage import WalStorage

ENTRY_BYTES = 256
BATCH_SIZES = (1, 8, 64, 256)
SNAPSHOT_SIZES_MIB = (16, 64)
RECOVERY_ENTRIES = 100_000
RAW_SYNCS_MAX = 100_000
SAVES_MAX = 100_000
WAL_ENTRIES_MAX = 1_000_000
"""Bounds the bytes one group-commit run may write (about 280 MB of records)."""
SNAPSHOT_REPEATS_MAX = 20
REOPENS_MAX = 10
TERM = Term(1)
MB = 1_000_000


@dataclass(frozen=True, slots=True)
class Row:
    measurement: str
    operations: int
    seconds: float
    entries: int = 0
    payload_bytes: int = 0
    sync_seconds: float | None = None
    fdatasync_per_s: float | None = None

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds

    def markdown(self) -> str:
        return "| " + " | ".join(self.cells()) + " |"

    def cells(self) -> list[str]:
        """The table's cells, in ``HEADER`` order."""
        return [
            self.measurement,
            f"{self.operations:,}",
            f"{self.seconds:.2f}",
            f"{self.per_second:,.0f}" if self.per_second >= 10 else f"{self.per_second:.2f}",
            f"{1000 * self.seconds / self.operations:.2f}",
            f"{self.entries / self.seconds:,.0f}" if self.entries else "",
            f"{self.payload_bytes / self.seconds / MB:,.1f}" if self.payload_bytes else "",
            f"{self.per_second / self.fdatasync_per_s:.2f}" if self.fdatasync_per_s else "",
            f"{100 * self.sync_seconds / self.seconds:.0f}%"
            if self.sync_seconds is not None
            else "",
        ]


HEADER = (
    "| measurement | ops | s | ops/s | ms/op | entries/s | MB/s"
    " | saves/s ÷ raw fdatasync/s | time in fdatasync |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def progress(row: Row) -> Row:
    print(row.markdown(), file=sys.stderr, flush=True)
    return row


class TimedDisk(OsDisk):
    """``OsDisk`` that adds up the wall time spent in ``sync`` (one fdatasync each)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.sync_seconds = 0.0
        self.syncs = 0

    def sync(self, name: str) -> None:
        started = time.perf_counter()
        super().sync(name)
        self.sync_seconds += time.perf_counter() - started
        self.syncs += 1


def drop_cached_pages(path: str) -> None:
    """Evict a file's (clean, synced) pages from the page cache, so the next read hits the
    device; no-op where ``posix_fadvise`` is missing."""
    if not hasattr(os, "posix_fadvise"):
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(descriptor)


def bench_raw_fdatasync(directory: str, seconds: float, preallocate: bool) -> Row:
    """256 bytes then ``fdatasync``, in a loop on one file: appended to a growing file, or
    (``preallocate``) written in place into a file allocated up front, as a WAL segment is."""
    path = os.path.join(directory, "raw-fdatasync")
    record = b"r" * ENTRY_BYTES
    flags = os.O_WRONLY | os.O_CREAT | (0 if preallocate else os.O_APPEND)
    descriptor = os.open(path, flags, 0o644)
    syncs = 0
    try:
        if preallocate:
            os.posix_fallocate(descriptor, 0, RAW_SYNCS_MAX * ENTRY_BYTES)
            os.fsync(descriptor)
        started = time.perf_counter()
        deadline = started + seconds
        while syncs < RAW_SYNCS_MAX and time.perf_counter() < deadline:
            if preallocate:
                os.pwrite(descriptor, record, syncs * ENTRY_BYTES)
            else:
                os.write(descriptor, record)
            os.fdatasync(descriptor)
            syncs += 1
        elapsed = time.perf_counter() - started
    finally:
        os.close(descriptor)
        os.remove(path)
    how = "into a preallocated file" if preallocate else "appended"
    return Row(f"raw: 256 B {how} + fdatasync", syncs, elapsed, 0, syncs * ENTRY_BYTES)


def entries_from(first: int, count: int, data: bytes) -> list[Entry]:
    return [Entry(LogIndex(index), TERM, data=data) for index in range(first, first + count)]


def bench_group_commit(directory: str, batch: int, seconds: float, raw_per_s: float) -> Row:
    path = os.path.join(directory, f"wal-batch-{batch}")
    disk = TimedDisk(path)
    storage = WalStorage.open(disk)
    data = b"e" * ENTRY_BYTES
    saves_max = min(SAVES_MAX, WAL_ENTRIES_MAX // batch)
    saves = 0
    elapsed = 0.0
    next_index = 1
    disk.sync_seconds, disk.syncs = 0.0, 0
    deadline = time.perf_counter() + seconds
    while saves < saves_max and time.perf_counter() < deadline:
        entries = entries_from(next_index, batch, data)
        next_index += batch
        hard_state = HardState(TERM, NodeId(1), LogIndex(next_index - 1))
        started = time.perf_counter()
        storage.save(hard_state, entries)
        elapsed += time.perf_counter() - started
        saves += 1
    syncs, sync_seconds = disk.syncs, disk.sync_seconds
    shutil.rmtree(path)
    assert syncs == saves, f"{saves} saves made {syncs} fdatasyncs"
    return Row(
        f"WAL save, {batch} entr{'y' if batch == 1 else 'ies'} of 256 B",
        saves,
        elapsed,
        entries=saves * batch,
        payload_bytes=saves * batch * ENTRY_BYTES,
        sync_seconds=sync_seconds,
        fdatasync_per_s=raw_per_s,
    )


def nothing() -> None:
    pass


def repeat(
    seconds: float, count_max: int, prepare: Callable[[], None], action: Callable[[], None]
) -> tuple[int, float]:
    """Run ``action`` (timed) after ``prepare`` (untimed) until the time or count runs out."""
    count = 0
    elapsed = 0.0
    deadline = time.perf_counter() + seconds
    while count < count_max and (count == 0 or time.perf_counter() < deadline):
        prepare()
        started = time.perf_counter()
        action()
        elapsed += time.perf_counter() - started
        count += 1
    return count, elapsed


def bench_snapshot(directory: str, size_mib: int, seconds: float) -> list[Row]:
    path = os.path.join(directory, f"snapshot-{size_mib}")
    disk = TimedDisk(path)
    size = size_mib << 20
    meta = SnapshotMeta(LogIndex(1000), TERM, Membership(frozenset({NodeId(1)})))
    snapshot = Snapshot(meta, os.urandom(size))
    file_path = os.path.join(path, snapshot_name(meta.index, meta.term))

    def write() -> None:
        write_snapshot(disk, snapshot)

    def read() -> None:
        assert len(read_snapshot(disk, meta.index, meta.term).data) == size

    def drop() -> None:
        drop_cached_pages(file_path)

    rows = []
    count, elapsed = repeat(seconds, SNAPSHOT_REPEATS_MAX, nothing, write)
    name = f"snapshot write {size_mib} MiB"
    rows.append(progress(Row(name, count, elapsed, 0, count * size, disk.sync_seconds)))
    count, elapsed = repeat(seconds, SNAPSHOT_REPEATS_MAX, drop, read)
    name = f"snapshot read {size_mib} MiB, cache dropped"
    rows.append(progress(Row(name, count, elapsed, 0, count * size)))
    count, elapsed = repeat(seconds, SNAPSHOT_REPEATS_MAX, nothing, read)
    name = f"snapshot read {size_mib} MiB, page cache"
    rows.append(progress(Row(name, count, elapsed, 0, count * size)))
    shutil.rmtree(path)
    return rows


def bench_recovery(directory: str, seconds: float) -> list[Row]:
    path = os.path.join(directory, "wal-recovery")
    data = b"e" * ENTRY_BYTES
    storage = WalStorage.open(OsDisk(path))
    batch = 1000
    for first in range(1, RECOVERY_ENTRIES + 1, batch):
        last = first + batch - 1
        storage.save(HardState(TERM, NodeId(1), LogIndex(last)), entries_from(first, batch, data))
    segments = storage.wal.segment_names
    print(f"recovery: {RECOVERY_ENTRIES:,} entries in {len(segments)} segments", file=sys.stderr)

    def drop() -> None:
        for name in os.listdir(path):
            drop_cached_pages(os.path.join(path, name))

    def reopen() -> None:
        assert WalStorage.open(OsDisk(path)).last_index() == RECOVERY_ENTRIES

    rows = []
    for label, prepare in (("cache dropped", drop), ("page cache", nothing)):
        count, elapsed = repeat(seconds, REOPENS_MAX, prepare, reopen)
        name = f"reopen WAL of {RECOVERY_ENTRIES:,} entries, {label}"
        entries = count * RECOVERY_ENTRIES
        rows.append(progress(Row(name, count, elapsed, entries, entries * ENTRY_BYTES)))
    shutil.rmtree(path)
    return rows


def run(directory: str, seconds: float) -> list[Row]:
    raw = progress(bench_raw_fdatasync(directory, seconds, preallocate=False))
    rows = [raw, progress(bench_raw_fdatasync(directory, seconds, preallocate=True))]
    for batch in BATCH_SIZES:
        rows.append(progress(bench_group_commit(directory, batch, seconds, raw.per_second)))
    for size_mib in SNAPSHOT_SIZES_MIB:
        rows.extend(bench_snapshot(directory, size_mib, seconds))
    rows.extend(bench_recovery(directory, seconds))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synod.storage.bench", description=__doc__)
    parser.add_argument(
        "--dir", default=".", help="where to make the temporary directory (default: here)"
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="time bound of each measurement")
    args = parser.parse_args(argv)
    directory = tempfile.mkdtemp(prefix="synod-wal-bench-", dir=args.dir)
    print(f"measuring in {directory}", file=sys.stderr, flush=True)
    try:
        rows = run(directory, args.seconds)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; bound {args.seconds:g} s per measurement.\n"
    )
    print(HEADER)
    for row in rows:
        print(row.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
