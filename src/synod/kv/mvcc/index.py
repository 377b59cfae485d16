"""The key index: for every key, its revisions grouped into generations (etcd's keyIndex).

A generation is one life of a key: the revisions of its puts, ended by the tombstone revision of
its delete. The last generation is the open one (empty after a delete). Invariants, asserted:
revisions strictly ascend across all generations; only the last generation may be empty; a closed
generation ends with its tombstone.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field

from sortedcontainers import SortedList

from synod.kv.mvcc.keyrange import KeyRange
from synod.kv.mvcc.revision import SUB_MAX, Revision


@dataclass(slots=True)
class Generation:
    revisions: list[Revision] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One revision of a key as history holds it; ``tombstone`` marks a delete."""

    revision: Revision
    tombstone: bool


class KeyIndex:
    __slots__ = ("generations",)

    def __init__(self) -> None:
        self.generations: list[Generation] = [Generation()]

    def last_revision(self) -> Revision | None:
        """The newest revision in any generation (a put's or a tombstone's), in O(1): every
        put checks it, so it must not walk the key's history."""
        generations = self.generations
        if generations[-1].revisions:
            return generations[-1].revisions[-1]
        if len(generations) > 1:
            return generations[-2].revisions[-1]  # a closed generation ends with its tombstone
        return None

    def put(self, revision: Revision) -> None:
        self._check_after(revision)
        self.generations[-1].revisions.append(revision)

    def tombstone(self, revision: Revision) -> None:
        """End the open generation; the key must be live (deleting a missing key writes nothing)."""
        assert self.generations[-1].revisions, "tombstone of a key that is not live"
        self._check_after(revision)
        self.generations[-1].revisions.append(revision)
        self.generations.append(Generation())

    def get(self, at_main: int) -> Revision | None:
        """The revision of the live version at ``at_main``, or None when absent then."""
        last = len(self.generations) - 1
        for number in range(last, -1, -1):
            revisions = self.generations[number].revisions
            if not revisions or revisions[0].main > at_main:
                continue
            position = bisect.bisect_right(revisions, Revision(at_main, SUB_MAX)) - 1
            tombstone = number < last and position == len(revisions) - 1
            return None if tombstone else revisions[position]
        return None

    def entries(self) -> Iterator[IndexEntry]:
        last = len(self.generations) - 1
        for number, generation in enumerate(self.generations):
            for position, revision in enumerate(generation.revisions):
                closing = number < last and position == len(generation.revisions) - 1
                yield IndexEntry(revision, closing)

    def compact(self, at_main: int) -> list[Revision]:
        """Keep only the newest version at or before ``at_main`` (none if it is a tombstone) and
        everything after it; return the dropped revisions."""
        entries = list(self.entries())
        older = [entry for entry in entries if entry.revision.main <= at_main]
        if not older:
            return []
        pivot = older[-1]
        dropped = [entry.revision for entry in older[:-1]]
        if pivot.tombstone:
            dropped.append(pivot.revision)
        removed = set(dropped)
        for generation in self.generations:
            generation.revisions = [r for r in generation.revisions if r not in removed]
        self.generations = [g for g in self.generations[:-1] if g.revisions] + [
            self.generations[-1]
        ]
        return dropped

    def is_empty(self) -> bool:
        return len(self.generations) == 1 and not self.generations[0].revisions

    def _check_after(self, revision: Revision) -> None:
        last = self.last_revision()
        assert last is None or last < revision, (last, revision)


class TreeIndex:
    """Every key with history, kept sorted (bytewise) for range scans."""

    def __init__(self, indexes: dict[bytes, KeyIndex] | None = None) -> None:
        """Empty, or over ``indexes``: every key's index, none of them empty."""
        self._indexes: dict[bytes, KeyIndex] = {} if indexes is None else indexes
        self._keys: SortedList[bytes] = SortedList(self._indexes)
        """A B-tree-like sorted list: inserting a new key costs O(log n), not a list's O(n)
        memmove (which made every new key slower as the keyspace grew)."""

    def __len__(self) -> int:
        return len(self._keys)

    def lookup(self, key: bytes) -> KeyIndex | None:
        return self._indexes.get(key)

    def ensure(self, key: bytes) -> KeyIndex:
        index = self._indexes.get(key)
        if index is None:
            index = KeyIndex()
            self._indexes[key] = index
            self._keys.add(key)
        return index

    def keys_in(self, keys: KeyRange) -> list[bytes]:
        if keys.is_empty():
            return []
        first = self._keys.bisect_left(keys.start)
        last = len(self._keys) if keys.end is None else self._keys.bisect_left(keys.end)
        return list(self._keys.islice(first, last))

    def all_keys(self) -> list[bytes]:
        return list(self._keys)

    def items(self) -> Iterator[tuple[bytes, KeyIndex]]:
        """Every key with its index, in no particular order (for whole-store listings, which
        sort by revision anyway)."""
        return iter(self._indexes.items())

    def compact(self, at_main: int) -> list[Revision]:
        """Compact every key's history; forget keys left with none. Returns dropped revisions."""
        dropped: list[Revision] = []
        emptied: list[bytes] = []
        for key in self._keys:
            index = self._indexes[key]
            dropped.extend(index.compact(at_main))
            if index.is_empty():
                emptied.append(key)
        for key in emptied:
            del self._indexes[key]
            self._keys.remove(key)
        assert len(self._keys) == len(self._indexes)
        return dropped
