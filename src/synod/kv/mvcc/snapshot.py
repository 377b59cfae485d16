"""The store's snapshot format: every bucket's records, framed and checksummed.

Layout, big-endian::

    magic b"SMVC" | version (u8) | body length (u64) | CRC-32 of the body (u32) | body
    body = for each bucket in ``encoding.BUCKETS`` order (key, lease, meta):
           record count (u64), then per record: key length (u32) | value length (u32) | key | value

The body is ``state.dump_state``'s records in key order, so equal stores give equal bytes. The
snapshot covers the applied index (meta), so a replica that installs it replays the log from
the entry after. Decoding checks the frame before anything else and raises a ``StateCorrupt``
subclass naming the fault: ``SnapshotNotRecognized`` (no magic), ``SnapshotVersionUnsupported``,
``SnapshotTruncated`` (fewer bytes than the header promises), ``SnapshotChecksumMismatch``; a
body whose checksum holds but whose records do not parse raises ``StateCorrupt`` itself.
"""

from __future__ import annotations

import struct
import zlib

from synod.kv.mvcc.encoding import BUCKETS, StateCorrupt
from synod.kv.mvcc.state import Buckets

MAGIC = b"SMVC"
SNAPSHOT_VERSION = 1
_HEADER = struct.Struct(">4sBQI")
_COUNT = struct.Struct(">Q")
_RECORD = struct.Struct(">II")


class SnapshotNotRecognized(StateCorrupt):
    """The bytes do not start with a store snapshot's magic."""


class SnapshotVersionUnsupported(StateCorrupt):
    """A snapshot of a format version this build does not read."""


class SnapshotTruncated(StateCorrupt):
    """Fewer bytes than the snapshot's header says it holds."""


class SnapshotChecksumMismatch(StateCorrupt):
    """The body's CRC-32 is not the one the header carries: the bytes were damaged."""


def encode_snapshot(buckets: Buckets) -> bytes:
    parts: list[bytes] = []
    pack_record = _RECORD.pack
    for name in BUCKETS:
        records = buckets.get(name, [])
        parts.append(_COUNT.pack(len(records)))
        for key, value in records:
            parts.append(pack_record(len(key), len(value)))
            parts.append(key)
            parts.append(value)
    body = b"".join(parts)
    header = _HEADER.pack(MAGIC, SNAPSHOT_VERSION, len(body), zlib.crc32(body))
    return header + body


def decode_snapshot(data: bytes) -> Buckets:
    """Every bucket's records, the frame checked first (see the module docstring)."""
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise SnapshotNotRecognized(f"not a store snapshot: starts with {data[:8]!r}")
    if len(data) < _HEADER.size:
        raise SnapshotTruncated(f"snapshot of {len(data)} bytes, shorter than its header")
    _, version, length, crc = _HEADER.unpack_from(data)
    if version != SNAPSHOT_VERSION:
        raise SnapshotVersionUnsupported(
            f"snapshot format version {version}; this build reads {SNAPSHOT_VERSION}"
        )
    body = memoryview(data)[_HEADER.size :]
    if len(body) < length:
        raise SnapshotTruncated(f"snapshot body holds {len(body)} of its {length} bytes")
    if len(body) > length:
        raise StateCorrupt(f"{len(body) - length} bytes after the snapshot's {length}-byte body")
    if zlib.crc32(body) != crc:
        raise SnapshotChecksumMismatch(
            f"snapshot body's CRC-32 is {zlib.crc32(body):#010x}, its header says {crc:#010x}"
        )
    return _decode_body(bytes(body))


def _decode_body(body: bytes) -> Buckets:
    buckets: Buckets = {}
    offset = 0
    unpack_record = _RECORD.unpack_from
    for name in BUCKETS:
        if offset + _COUNT.size > len(body):
            raise StateCorrupt(f"snapshot body ends before bucket {name.decode()}")
        (count,) = _COUNT.unpack_from(body, offset)
        offset += _COUNT.size
        if count > (len(body) - offset) // _RECORD.size:
            raise StateCorrupt(f"bucket {name.decode()} claims {count} records, too many to fit")
        records: list[tuple[bytes, bytes]] = []
        for _ in range(count):
            if offset + _RECORD.size > len(body):
                raise StateCorrupt(f"bucket {name.decode()} ends inside a record header")
            key_length, value_length = unpack_record(body, offset)
            key_start = offset + _RECORD.size
            value_start = key_start + key_length
            offset = value_start + value_length
            if offset > len(body):
                raise StateCorrupt(f"a record of bucket {name.decode()} runs past the body")
            records.append((body[key_start:value_start], body[value_start:offset]))
        buckets[name] = records
    if offset != len(body):
        raise StateCorrupt(f"{len(body) - offset} bytes left after the last bucket")
    return buckets
