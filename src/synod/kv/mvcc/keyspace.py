"""History storage: the key index plus the value of every put revision it points at.

This layer knows nothing of requests or errors: callers check revisions first. Writers pass the
revision to write at; the keyspace asserts it moves forward. With a ``Journal``, every record a
write adds or a compaction drops is noted there too, for the next flush to a backend.

A value may be held as its encoded record (what a store loaded from a backend or a snapshot
holds, already checked by the loader) and is decoded the first time it is read: opening a
store of a million keys then builds the index only, as etcd's restore does.
"""

from __future__ import annotations

import hashlib
import struct

from synod.kv.mvcc.encoding import (
    KEY_BUCKET,
    decode_key_value,
    encode_key_value,
    encode_revision,
    tombstone_value,
)
from synod.kv.mvcc.index import TreeIndex
from synod.kv.mvcc.journal import Journal
from synod.kv.mvcc.keyrange import KeyRange
from synod.kv.mvcc.messages import KeyValue
from synod.kv.mvcc.revision import Revision


class Keyspace:
    def __init__(
        self,
        journal: Journal | None = None,
        index: TreeIndex | None = None,
        values: dict[Revision, KeyValue | bytes] | None = None,
    ) -> None:
        """Empty, or the history ``index`` and ``values`` hold (every put revision the index
        holds has its value, and nothing else does)."""
        self._journal = journal
        self._index = TreeIndex() if index is None else index
        self._values: dict[Revision, KeyValue | bytes] = {} if values is None else values
        self._by_lease: dict[int, set[bytes]] | None = None
        """Live keys per lease, built on first use and kept up to date by put and delete
        (revoking a lease must not scan the whole keyspace)."""

    def get(self, key: bytes, at_main: int) -> KeyValue | None:
        index = self._index.lookup(key)
        revision = None if index is None else index.get(at_main)
        return None if revision is None else self.value_at(revision)

    def read(self, keys: KeyRange, at_main: int) -> list[KeyValue]:
        """The live versions in ``keys`` at ``at_main``, key-ascending."""
        found: list[KeyValue] = []
        for key in self._index.keys_in(keys):
            value = self.get(key, at_main)
            if value is not None:
                found.append(value)
        return found

    def put(self, key: bytes, value: bytes, lease: int, revision: Revision) -> KeyValue:
        previous = self.get(key, revision.main)
        if previous is None:
            stored = KeyValue(key, revision.main, revision.main, 1, value, lease)
        else:
            version = previous.version + 1
            stored = KeyValue(key, previous.create_revision, revision.main, version, value, lease)
        self._index.ensure(key).put(revision)
        self._values[revision] = stored
        assert self.get(key, revision.main) == stored
        self._move_lease(key, None if previous is None else previous.lease, lease)
        if self._journal is not None:
            self._journal.put(
                KEY_BUCKET, encode_revision(revision, False), encode_key_value(stored)
            )
        return stored

    def delete(self, key: bytes, revision: Revision) -> None:
        previous = self.get(key, revision.main)
        assert previous is not None, key
        self._move_lease(key, previous.lease, None)
        self._index.ensure(key).tombstone(revision)
        assert self.get(key, revision.main) is None
        if self._journal is not None:
            record = encode_key_value(tombstone_value(key, revision))
            self._journal.put(KEY_BUCKET, encode_revision(revision, True), record)

    def keys_with_lease(self, lease: int, at_main: int) -> list[bytes]:
        """The live keys attached to ``lease`` (``at_main``: the newest revision), in order."""
        if self._by_lease is None:
            by_lease: dict[int, set[bytes]] = {}
            for kv in self.read(KeyRange(b"", None), at_main):
                if kv.lease:
                    by_lease.setdefault(kv.lease, set()).add(kv.key)
            self._by_lease = by_lease
        return sorted(self._by_lease.get(lease, ()))

    def _move_lease(self, key: bytes, before: int | None, after: int | None) -> None:
        by_lease = self._by_lease
        if by_lease is None or before == after:
            return
        if before:
            held = by_lease.get(before)
            if held is not None:
                held.discard(key)
                if not held:
                    del by_lease[before]
        if after:
            by_lease.setdefault(after, set()).add(key)

    def changes_since(self, keys: KeyRange, start_main: int) -> list[tuple[Revision, bytes, bool]]:
        """(revision, key, tombstone) of every retained change in ``keys`` at or after
        ``start_main``, in revision order."""
        changes: list[tuple[Revision, bytes, bool]] = []
        for key in self._index.keys_in(keys):
            index = self._index.lookup(key)
            assert index is not None
            for entry in index.entries():
                if entry.revision.main >= start_main:
                    changes.append((entry.revision, key, entry.tombstone))
        changes.sort()
        return changes

    def value_at(self, revision: Revision) -> KeyValue:
        stored = self._values[revision]
        if isinstance(stored, bytes):
            stored = self._values[revision] = decode_key_value(stored)
        return stored

    def compact(self, at_main: int) -> int:
        """Drop history before ``at_main`` that no read at or after it can see; count drops."""
        dropped = self._index.compact(at_main)
        for revision in dropped:
            tombstone = self._values.pop(revision, None) is None
            if self._journal is not None:
                self._journal.delete(KEY_BUCKET, encode_revision(revision, tombstone))
        return len(dropped)

    def records(self) -> list[tuple[bytes, bytes]]:
        """The key bucket's records for the whole retained history, in key (revision) order.

        Walks the generations directly (no per-entry objects): snapshots list every record."""
        records: list[tuple[bytes, bytes]] = []
        append = records.append
        values = self._values
        for key, index in self._index.items():
            last = len(index.generations) - 1
            for number, generation in enumerate(index.generations):
                revisions = generation.revisions
                puts = revisions[:-1] if number < last else revisions
                for revision in puts:
                    stored = values[revision]
                    record = stored if isinstance(stored, bytes) else encode_key_value(stored)
                    append((encode_revision(revision, False), record))
                if number < last:
                    tombstone = revisions[-1]
                    record = encode_key_value(tombstone_value(key, tombstone))
                    append((encode_revision(tombstone, True), record))
        records.sort()
        assert len(records) >= len(values)
        return records

    def digest(self, up_to_main: int, compact_main: int) -> bytes:
        """SHA-256 over the compact revision and every retained change at or before
        ``up_to_main``, in revision order."""
        changes: list[tuple[Revision, bytes, bool]] = []
        for key in self._index.all_keys():
            index = self._index.lookup(key)
            assert index is not None
            for entry in index.entries():
                if entry.revision.main <= up_to_main:
                    changes.append((entry.revision, key, entry.tombstone))
        changes.sort()
        digest = hashlib.sha256(struct.pack(">q", compact_main))
        for revision, key, tombstone in changes:
            digest.update(struct.pack(">qq?", revision.main, revision.sub, tombstone))
            digest.update(_framed(key))
            if not tombstone:
                stored = self.value_at(revision)
                digest.update(
                    struct.pack(">qqq", stored.create_revision, stored.version, stored.lease)
                )
                digest.update(_framed(stored.value))
        return digest.digest()


def _framed(data: bytes) -> bytes:
    """Length-prefixed, so adjacent fields cannot run into each other."""
    return struct.pack(">q", len(data)) + data
