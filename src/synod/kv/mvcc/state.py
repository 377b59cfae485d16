"""The whole store as bucket records, and back: what snapshots carry and backends load.

``dump_state`` lists every bucket's records in key order, so equal stores give equal records.
``load_state`` rebuilds the key index from the key bucket in one pass, as etcd rebuilds its
treeIndex from bbolt at start-up: records in revision order, a put extending the key's open
generation, a tombstone closing it. Nothing loaded is trusted; what would break the store's
invariants raises ``StateCorrupt`` naming it:
- the meta bucket holds exactly the meta keys, at the supported format version, with
  ``-1 <= compact_revision <= revision``, ``applied_index >= 0`` and every lease ID at most
  ``lease_id_last``;
- key records come in strictly ascending revision order, none above ``revision``; a put's value
  names its own revision as ``mod_revision``; a tombstone ends a live generation of its key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from synod.kv.mvcc.encoding import (
    BUCKETS,
    FORMAT_VERSION,
    KEY_BUCKET,
    LEASE_BUCKET,
    META_APPLIED_INDEX,
    META_BUCKET,
    META_COMPACT_REVISION,
    META_FORMAT_VERSION,
    META_KEYS,
    META_LEASE_ID_LAST,
    META_REVISION,
    REVISION_BYTES,
    StateCorrupt,
    decode_integer,
    decode_key_value,
    decode_lease,
    decode_revision,
    encode_integer,
    encode_lease,
    encode_lease_id,
)
from synod.kv.mvcc.index import Generation, KeyIndex, TreeIndex
from synod.kv.mvcc.journal import Journal
from synod.kv.mvcc.keyspace import Keyspace
from synod.kv.mvcc.lessor import Lease, Lessor
from synod.kv.mvcc.messages import KeyValue
from synod.kv.mvcc.revision import Revision

Buckets = dict[bytes, list[tuple[bytes, bytes]]]


@dataclass(frozen=True, slots=True)
class StoreMeta:
    applied_index: int = 0
    revision: int = 1
    compact_revision: int = -1
    lease_id_last: int = 0

    def records(self) -> list[tuple[bytes, bytes]]:
        """The meta bucket's records, in key order."""
        values = {
            META_APPLIED_INDEX: self.applied_index,
            META_COMPACT_REVISION: self.compact_revision,
            META_FORMAT_VERSION: FORMAT_VERSION,
            META_LEASE_ID_LAST: self.lease_id_last,
            META_REVISION: self.revision,
        }
        return [(name, encode_integer(values[name])) for name in META_KEYS]


@dataclass(frozen=True, slots=True)
class LoadedState:
    meta: StoreMeta
    keyspace: Keyspace
    leases: Lessor


def dump_state(meta: StoreMeta, keyspace: Keyspace, lessor: Lessor) -> Buckets:
    leases = [
        (encode_lease_id(lease.id), encode_lease(lease.id, lease.granted_ttl_seconds))
        for lease in lessor.leases()
    ]
    return {KEY_BUCKET: keyspace.records(), LEASE_BUCKET: leases, META_BUCKET: meta.records()}


def load_state(
    buckets: Mapping[bytes, Sequence[tuple[bytes, bytes]]],
    lease_ttl_seconds_min: int,
    journal: Journal | None,
) -> LoadedState | None:
    """The state ``buckets`` hold, or None when they hold nothing (a fresh store)."""
    unknown = sorted(set(buckets) - set(BUCKETS))
    if unknown:
        raise StateCorrupt(f"unknown buckets: {unknown}")
    if not any(buckets.get(name) for name in BUCKETS):
        return None
    meta = _load_meta(buckets.get(META_BUCKET, ()))
    leases = [Lease(*decode_lease(key, value)) for key, value in buckets.get(LEASE_BUCKET, ())]
    if any(lease.id > meta.lease_id_last for lease in leases):
        raise StateCorrupt(f"a lease ID is above lease_id_last {meta.lease_id_last}")
    if len({lease.id for lease in leases}) != len(leases):
        raise StateCorrupt("a lease ID appears twice")
    keyspace = _load_keyspace(buckets.get(KEY_BUCKET, ()), meta.revision, journal)
    lessor = Lessor.restored(lease_ttl_seconds_min, leases, meta.lease_id_last)
    return LoadedState(meta, keyspace, lessor)


def _load_meta(records: Sequence[tuple[bytes, bytes]]) -> StoreMeta:
    values = {name: decode_integer(name, value) for name, value in records}
    if len(values) != len(records) or sorted(values) != list(META_KEYS):
        raise StateCorrupt(f"meta holds {sorted(values)}, not {list(META_KEYS)}")
    if values[META_FORMAT_VERSION] != FORMAT_VERSION:
        version = values[META_FORMAT_VERSION]
        raise StateCorrupt(f"format version {version}; this build reads {FORMAT_VERSION}")
    meta = StoreMeta(
        values[META_APPLIED_INDEX],
        values[META_REVISION],
        values[META_COMPACT_REVISION],
        values[META_LEASE_ID_LAST],
    )
    if meta.revision < 1 or not -1 <= meta.compact_revision <= meta.revision:
        raise StateCorrupt(f"revision {meta.revision}, compact revision {meta.compact_revision}")
    if meta.applied_index < 0 or meta.lease_id_last < 0:
        raise StateCorrupt(f"applied index {meta.applied_index}, last lease {meta.lease_id_last}")
    return meta


def _load_keyspace(
    records: Sequence[tuple[bytes, bytes]], revision_max: int, journal: Journal | None
) -> Keyspace:
    indexes: dict[bytes, KeyIndex] = {}
    values: dict[Revision, KeyValue] = {}
    previous = b""
    for record_key, record_value in records:
        if record_key[:REVISION_BYTES] <= previous:
            raise StateCorrupt(f"key records out of revision order at {record_key!r}")
        previous = record_key[:REVISION_BYTES]
        revision, tombstone = decode_revision(record_key)
        kv = decode_key_value(record_value)
        if revision.main > revision_max or kv.mod_revision != revision.main:
            raise StateCorrupt(
                f"record at {revision} (mod revision {kv.mod_revision}) is not "
                f"a retained revision up to {revision_max}"
            )
        index = indexes.get(kv.key)
        if index is None:
            index = indexes[kv.key] = KeyIndex()
        generation = index.generations[-1].revisions
        generation.append(revision)
        if tombstone:
            if len(generation) == 1:
                raise StateCorrupt(f"tombstone at {revision} of {kv.key!r}, which is not live")
            index.generations.append(Generation())
        else:
            values[revision] = kv
    return Keyspace(journal, TreeIndex(indexes), values)
