"""WAL records: ``length (u32) | crc32c (u32) | type (u8) | payload``, little-endian.

``length`` counts the payload only; the CRC32C covers the type byte and the payload, so a
record whose type was flipped fails its check like any other. Every payload is non-empty, so a
header of zeros (what a preallocated segment holds past its last record) never decodes.
Payloads are packed with ``struct``: fixed fields first, an entry's data last.
"""

from __future__ import annotations

import enum
import re
import struct
from dataclasses import dataclass

import google_crc32c

from synod.core.errors import SynodError
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import Entry, EntryKind, HardState

HEADER = struct.Struct("<IIB")
HEADER_BYTES = HEADER.size
"""length, crc32c, type."""
RECORD_PAYLOAD_BYTES_MAX = 64 << 20
"""A length field beyond this is damage, not a record: no entry is that large."""

SEGMENT_MAGIC = b"SWAL"
_SEGMENT = struct.Struct("<4sQQ")
_ENTRY = struct.Struct("<QQB")
_HARD_STATE = struct.Struct("<QQQ")
_MARKER = struct.Struct("<QQB")
_REPAIR = struct.Struct("<QB")
ENTRY_RECORD_BYTES_MIN = HEADER_BYTES + _ENTRY.size
"""The smallest entry record (empty data): a damaged span of n bytes held at most
n / this many entries."""
_NONZERO = re.compile(rb"[^\x00]")


class WalCorruption(SynodError):
    """The log is damaged where a torn write cannot explain it: before its tail.

    Never repaired by truncation, because a committed entry may live only there. The node
    must refuse to vote or acknowledge and repair from its peers, or stop."""

    def __init__(self, name: str, offset: int, reason: str) -> None:
        super().__init__(f"{name} at offset {offset}: {reason}")
        self.name = name
        self.offset = offset
        self.reason = reason


class RecordType(enum.IntEnum):
    SEGMENT_HEADER = 1
    ENTRY = 2
    HARD_STATE = 3
    SNAPSHOT_MARKER = 4
    REPAIR_MARKER = 5


@dataclass(frozen=True, slots=True)
class SegmentHeader:
    """First record of every segment: its place in the sequence and the next index expected."""

    sequence: int
    first_index: LogIndex


@dataclass(frozen=True, slots=True)
class SnapshotMarker:
    """The log now starts after (index, term). ``keeps_suffix``: a local compaction, which
    keeps later entries; otherwise a snapshot from the leader, which replaces the whole log."""

    index: LogIndex
    term: Term
    keeps_suffix: bool


@dataclass(frozen=True, slots=True)
class RepairMarker:
    """The log lost a damaged range: this node may not vote until its log reaches ``until``
    again with entries from a leader. ``restart``: written by the repair itself, as the start
    of a segment that supersedes every earlier segment (leftovers a crash kept are removed)."""

    until: LogIndex
    restart: bool


Record = SegmentHeader | Entry | HardState | SnapshotMarker | RepairMarker


class Fault(enum.Enum):
    """Why the bytes at an offset are not a record."""

    ZEROS = "zeros"
    SHORT = "record runs past the end of the segment"
    CHECKSUM = "checksum mismatch"
    MALFORMED = "checksum matches but the payload does not decode"


def encode_payload(record: Record) -> tuple[RecordType, bytes]:
    match record:
        case SegmentHeader(sequence, first_index):
            return RecordType.SEGMENT_HEADER, _SEGMENT.pack(SEGMENT_MAGIC, sequence, first_index)
        case Entry(index, term, kind, data):
            return RecordType.ENTRY, _ENTRY.pack(index, term, int(kind)) + data
        case HardState(term, vote, commit):
            return RecordType.HARD_STATE, _HARD_STATE.pack(term, vote, commit)
        case SnapshotMarker(index, term, keeps_suffix):
            return RecordType.SNAPSHOT_MARKER, _MARKER.pack(index, term, int(keeps_suffix))
        case RepairMarker(until, restart):
            return RecordType.REPAIR_MARKER, _REPAIR.pack(until, int(restart))


def encode(record: Record) -> bytes:
    """The record's bytes, checked by decoding them again before they go to disk."""
    record_type, payload = encode_payload(record)
    assert 0 < len(payload) <= RECORD_PAYLOAD_BYTES_MAX, f"payload of {len(payload)} bytes"
    body = bytes([record_type]) + payload
    data = HEADER.pack(len(payload), google_crc32c.value(body), record_type) + payload
    decoded = decode(data, 0)
    assert decoded == (record, len(data)), f"record does not survive encoding: {record}"
    return data


def decode(data: bytes, offset: int) -> tuple[Record, int] | Fault:
    """The record at ``offset`` and the offset after it, or why there is none."""
    if len(data) - offset < HEADER_BYTES:
        return Fault.ZEROS if not _NONZERO.search(data, offset) else Fault.SHORT
    length, crc, record_type = HEADER.unpack_from(data, offset)
    if length == 0 and crc == 0 and record_type == 0:
        return Fault.ZEROS
    end = offset + HEADER_BYTES + length
    if length > RECORD_PAYLOAD_BYTES_MAX or end > len(data):
        return Fault.SHORT
    payload = data[offset + HEADER_BYTES : end]
    if google_crc32c.value(bytes([record_type]) + payload) != crc:
        return Fault.CHECKSUM
    record = _decode_payload(record_type, payload)
    if record is None:
        return Fault.MALFORMED
    return record, end


def _decode_payload(record_type: int, payload: bytes) -> Record | None:
    """Checked explicitly: disk bytes are input, not invariants."""
    try:
        match record_type:
            case RecordType.SEGMENT_HEADER:
                magic, sequence, first_index = _SEGMENT.unpack(payload)
                return (
                    SegmentHeader(sequence, LogIndex(first_index))
                    if magic == SEGMENT_MAGIC
                    else None
                )
            case RecordType.ENTRY:
                index, term, kind = _ENTRY.unpack_from(payload)
                data = payload[_ENTRY.size :]
                return Entry(LogIndex(index), Term(term), EntryKind(kind), data) if index else None
            case RecordType.HARD_STATE:
                term, vote, commit = _HARD_STATE.unpack(payload)
                return HardState(Term(term), NodeId(vote), LogIndex(commit))
            case RecordType.SNAPSHOT_MARKER:
                index, term, keeps_suffix = _MARKER.unpack(payload)
                return SnapshotMarker(LogIndex(index), Term(term), bool(keeps_suffix))
            case RecordType.REPAIR_MARKER:
                until, restart = _REPAIR.unpack(payload)
                return RepairMarker(LogIndex(until), bool(restart))
    except (struct.error, ValueError):
        return None
    return None


def valid_record_after(data: bytes, offset: int) -> int | None:
    """The offset of the first record that decodes anywhere after ``offset``, if any.

    This is what tells a torn tail (nothing valid follows) from corruption before the tail.
    A record's non-empty payload makes one of its four length bytes non-zero, so runs of
    zeros are skipped instead of tried offset by offset."""
    position = offset + 1
    while position <= len(data) - HEADER_BYTES:
        if not any(data[position : position + 4]):
            found = _NONZERO.search(data, position)
            if found is None:
                return None
            position = max(position + 1, found.start() - 3)
            continue
        if not isinstance(decode(data, position), Fault):
            return position
        position += 1
    return None
