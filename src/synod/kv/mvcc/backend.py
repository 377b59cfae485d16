"""The seam between the store and where its records persist (etcd's backend over bbolt).

A backend holds named buckets of byte records (see ``encoding`` for what the store puts in
them). It does two things:
- ``load()``: every bucket it holds, each as its records in key (byte) order. Called once, when
  a store opens over it.
- ``commit(batch)``: apply a ``Batch`` atomically, in one transaction: after a crash either all
  of it is there or none of it. The store's meta records (applied index, revision, compact
  revision) travel in the same batch as the data they describe.

The backend knows nothing of revisions or leases: bytes in, bytes out. ``MemoryBackend`` keeps
the buckets in dicts (tests and the simulator); ``synod.storage.kvdb`` keeps them in LMDB and
satisfies this protocol structurally, without importing this package.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

Records = Sequence[tuple[bytes, bytes]]
"""(key, value) pairs of one bucket, in key order."""


@dataclass(frozen=True, slots=True)
class Batch:
    """Changes to commit at once, applied in this order: when ``clear``, every bucket is emptied;
    then ``deletes`` (bucket, key) are removed (absent keys are no error); then ``puts``
    (bucket, key, value) are written. No (bucket, key) is both deleted and put."""

    puts: tuple[tuple[bytes, bytes, bytes], ...] = ()
    deletes: tuple[tuple[bytes, bytes], ...] = ()
    clear: bool = False

    def __post_init__(self) -> None:
        if self.deletes:
            assert not {(bucket, key) for bucket, key, _ in self.puts} & set(self.deletes)

    def is_empty(self) -> bool:
        return not (self.puts or self.deletes or self.clear)


class Backend(Protocol):
    def load(self) -> Mapping[bytes, Records]:
        """Every bucket, each with its records in key order (empty buckets may be left out)."""
        ...

    def commit(self, batch: Batch) -> None:
        """Apply ``batch`` atomically and durably as the backend defines durability."""
        ...


class MemoryBackend:
    """Buckets in dicts: a commit is atomic because nothing can interrupt it."""

    def __init__(self) -> None:
        self._buckets: dict[bytes, dict[bytes, bytes]] = {}
        self.commits = 0

    def load(self) -> dict[bytes, list[tuple[bytes, bytes]]]:
        return {name: sorted(records.items()) for name, records in self._buckets.items() if records}

    def commit(self, batch: Batch) -> None:
        if batch.clear:
            self._buckets.clear()
        for bucket, key in batch.deletes:
            self._buckets.get(bucket, {}).pop(key, None)
        for bucket, key, value in batch.puts:
            self._buckets.setdefault(bucket, {})[key] = value
        self.commits += 1

    def record_count(self, bucket: bytes) -> int:
        return len(self._buckets.get(bucket, {}))
