"""Watch-history replay: the events a watch starting at a revision receives from history.

Events come in revision order, and within one revision in sub-revision (op) order. A start
below the compact revision is refused with ``Compacted`` (etcd then cancels the watch with
``compact_revision``); a start at it is allowed, and, as in etcd, a delete made exactly at the
compact revision is no longer in history to replay.
"""

from __future__ import annotations

from synod.kv.mvcc.errors import Compacted
from synod.kv.mvcc.keyrange import key_range
from synod.kv.mvcc.keyspace import Keyspace
from synod.kv.mvcc.messages import Event, EventType, KeyValue
from synod.kv.mvcc.revision import Revision


def replay_events(
    keyspace: Keyspace,
    compact_revision: int,
    key: bytes,
    range_end: bytes,
    start_revision: int,
) -> list[Event]:
    """Every retained event on ``[key, range_end)`` with revision >= ``start_revision``."""
    if start_revision < compact_revision:
        raise Compacted
    changes = keyspace.changes_since(key_range(key, range_end), start_revision)
    return [
        _event(keyspace, revision, changed, tombstone) for revision, changed, tombstone in changes
    ]


def _event(keyspace: Keyspace, revision: Revision, key: bytes, tombstone: bool) -> Event:
    previous = keyspace.get(key, revision.main - 1) if revision.main > 1 else None
    if tombstone:
        return Event(EventType.DELETE, KeyValue(key, 0, revision.main, 0, b"", 0), previous)
    kv = keyspace.value_at(revision)
    assert kv.mod_revision == revision.main, (kv, revision)
    return Event(EventType.PUT, kv, previous)
