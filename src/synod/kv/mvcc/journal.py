"""The pending batch: every record the store changed since its last flush.

Writes note records here as they happen (a new revision, a revision compaction dropped, a lease
granted or revoked); ``flush`` turns them into one ``Batch`` with the meta records and commits
it. The last change to a (bucket, key) wins, and a delete is kept even when the record was put
in the same batch (deleting what the backend never held is no error), so the batch always leaves
the backend holding exactly what memory holds. Batches list records in (bucket, key) order: the
same changes give the same batch.
"""

from __future__ import annotations

from synod.kv.mvcc.backend import Batch


class Journal:
    def __init__(self) -> None:
        self._changes: dict[tuple[bytes, bytes], bytes | None] = {}

    def __len__(self) -> int:
        return len(self._changes)

    def put(self, bucket: bytes, key: bytes, value: bytes) -> None:
        self._changes[bucket, key] = value

    def delete(self, bucket: bytes, key: bytes) -> None:
        self._changes[bucket, key] = None

    def take(self, meta: list[tuple[bytes, bytes, bytes]]) -> Batch:
        """The pending changes plus ``meta`` (bucket, key, value) puts, as one batch; the
        journal is empty afterwards."""
        puts: list[tuple[bytes, bytes, bytes]] = list(meta)
        deletes: list[tuple[bytes, bytes]] = []
        for (bucket, key), value in self._changes.items():
            if value is None:
                deletes.append((bucket, key))
            else:
                puts.append((bucket, key, value))
        self._changes = {}
        puts.sort()
        deletes.sort()
        return Batch(tuple(puts), tuple(deletes))
