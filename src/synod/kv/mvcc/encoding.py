"""The store's records as bytes: the layout a backend keeps and a snapshot carries.

Three buckets, as in etcd's bbolt file:
- ``key``: one record per retained revision. Its key is the revision: 8-byte big-endian
  ``main``, ``b"_"``, 8-byte big-endian ``sub``, and a trailing ``b"t"`` when the revision is a
  tombstone (a delete). Big-endian, fixed width: key order is revision order. Its value is the
  encoded ``KeyValue``; a tombstone's carries the key alone (zero create revision and version).
- ``lease``: key the 8-byte big-endian lease ID, value the ID and granted TTL.
- ``meta``: ``format_version``, ``applied_index``, ``revision``, ``compact_revision`` and
  ``lease_id_last``, each an 8-byte big-endian signed integer.

A ``KeyValue`` is ``create_revision | mod_revision | version | lease`` (8-byte big-endian signed
each), the key length (4 bytes), the key, then the value (the rest). Encoding is a function of
the values alone, so equal states give equal bytes. Decoders check every length and field and
raise ``StateCorrupt`` naming what is wrong; bytes from a disk or a peer are input, not trusted.
"""

from __future__ import annotations

import struct

from synod.core.errors import SynodError
from synod.kv.mvcc.messages import KeyValue
from synod.kv.mvcc.revision import SUB_MAX, Revision

KEY_BUCKET = b"key"
LEASE_BUCKET = b"lease"
META_BUCKET = b"meta"
BUCKETS = (KEY_BUCKET, LEASE_BUCKET, META_BUCKET)
"""Every bucket, in the order snapshots list them."""

FORMAT_VERSION = 1
META_FORMAT_VERSION = b"format_version"
META_APPLIED_INDEX = b"applied_index"
META_REVISION = b"revision"
META_COMPACT_REVISION = b"compact_revision"
META_LEASE_ID_LAST = b"lease_id_last"
META_KEYS = (
    META_APPLIED_INDEX,
    META_COMPACT_REVISION,
    META_FORMAT_VERSION,
    META_LEASE_ID_LAST,
    META_REVISION,
)
"""Every meta key, in key (byte) order."""

TOMBSTONE_MARK = b"t"
_REVISION = struct.Struct(">QcQ")
REVISION_BYTES = _REVISION.size
"""17: main, ``_``, sub."""
_KEY_VALUE = struct.Struct(">qqqqI")
_LEASE = struct.Struct(">qq")
_LEASE_ID = struct.Struct(">Q")
_INTEGER = struct.Struct(">q")


class StateCorrupt(SynodError):
    """Stored or received bytes that are not a store's state; the message says what is wrong."""


def encode_revision(revision: Revision, tombstone: bool) -> bytes:
    encoded = _REVISION.pack(revision.main, b"_", revision.sub)
    return encoded + TOMBSTONE_MARK if tombstone else encoded


def decode_revision(data: bytes) -> tuple[Revision, bool]:
    """(revision, tombstone) of a key-bucket record key."""
    if len(data) not in (REVISION_BYTES, REVISION_BYTES + 1):
        raise StateCorrupt(f"revision key of {len(data)} bytes: {data[:20]!r}")
    main, separator, sub = _REVISION.unpack_from(data)
    if separator != b"_":
        raise StateCorrupt(f"revision key without its '_' separator: {data!r}")
    tombstone = len(data) > REVISION_BYTES
    if tombstone and data[REVISION_BYTES:] != TOMBSTONE_MARK:
        raise StateCorrupt(f"revision key with an unknown mark: {data!r}")
    if not 1 <= main <= SUB_MAX or sub > SUB_MAX:
        raise StateCorrupt(f"revision out of range: main {main}, sub {sub}")
    return Revision(main, sub), tombstone


def encode_key_value(kv: KeyValue) -> bytes:
    header = _KEY_VALUE.pack(kv.create_revision, kv.mod_revision, kv.version, kv.lease, len(kv.key))
    return header + kv.key + kv.value


def decode_key_value(data: bytes) -> KeyValue:
    if len(data) < _KEY_VALUE.size:
        raise StateCorrupt(f"key-value record of {len(data)} bytes, shorter than its header")
    create, mod, version, lease, key_length = _KEY_VALUE.unpack_from(data)
    key_end = _KEY_VALUE.size + key_length
    if key_end > len(data):
        raise StateCorrupt(f"key-value record's key of {key_length} bytes runs past its end")
    return KeyValue(data[_KEY_VALUE.size : key_end], create, mod, version, data[key_end:], lease)


def tombstone_value(key: bytes, revision: Revision) -> KeyValue:
    """What a tombstone record holds: the key and the revision of the delete."""
    return KeyValue(key, 0, revision.main, 0, b"", 0)


def encode_lease_id(lease_id: int) -> bytes:
    return _LEASE_ID.pack(lease_id)


def encode_lease(lease_id: int, granted_ttl_seconds: int) -> bytes:
    return _LEASE.pack(lease_id, granted_ttl_seconds)


def decode_lease(key: bytes, value: bytes) -> tuple[int, int]:
    """(lease ID, granted TTL) of a lease record, its key and value agreeing."""
    if len(key) != _LEASE_ID.size or len(value) != _LEASE.size:
        raise StateCorrupt(f"lease record of {len(key)} + {len(value)} bytes, not 8 + 16")
    (key_id,) = _LEASE_ID.unpack(key)
    lease_id, ttl_seconds = _LEASE.unpack(value)
    if key_id != lease_id or lease_id < 1:
        raise StateCorrupt(f"lease record under ID {key_id} holds ID {lease_id}")
    if ttl_seconds < 1:
        raise StateCorrupt(f"lease {lease_id} has a TTL of {ttl_seconds} s")
    return lease_id, ttl_seconds


def encode_integer(value: int) -> bytes:
    return _INTEGER.pack(value)


def decode_integer(name: bytes, data: bytes) -> int:
    if len(data) != _INTEGER.size:
        raise StateCorrupt(f"meta {name.decode()} is {len(data)} bytes, not 8")
    value: int = _INTEGER.unpack(data)[0]
    return value
