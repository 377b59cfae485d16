"""Snapshot files, each written atomically and named by the (index, term) it covers.

The WAL's snapshot marker says which file the log starts after, so a snapshot counts only
once the save carrying its marker is durable: a crash between writing the file and the WAL
leaves an unreferenced file, removed at the next open.

Layout: ``crc32c (u32) | length (u32) | payload``, the CRC covering the payload, which is
``index (u64) | term (u64) | voter count (u32) | learner count (u32) | node ids (u64 each) |
state machine data``. It is written to a temporary file, synced, renamed over the old one,
and the directory synced: after a crash a named file is always whole.
"""

from __future__ import annotations

import struct

import google_crc32c

from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import Membership, Snapshot, SnapshotMeta
from synod.storage.disk import Disk
from synod.storage.records import WalCorruption

SNAPSHOT_PREFIX = "snapshot-"
SNAPSHOT_TEMPORARY_NAME = "snapshot.tmp"
_FRAME = struct.Struct("<II")
_META = struct.Struct("<QQII")
_NODE = struct.Struct("<Q")


def encode_snapshot(snapshot: Snapshot) -> bytes:
    meta = snapshot.meta
    voters = sorted(meta.membership.voters)
    learners = sorted(meta.membership.learners)
    nodes = b"".join(_NODE.pack(node) for node in (*voters, *learners))
    payload = _META.pack(meta.index, meta.term, len(voters), len(learners)) + nodes
    payload += snapshot.data
    data = _FRAME.pack(google_crc32c.value(payload), len(payload)) + payload
    assert decode_snapshot("(encoded)", data) == snapshot, "snapshot does not survive encoding"
    return data


def decode_snapshot(name: str, data: bytes) -> Snapshot:
    """Raises ``WalCorruption`` for bytes that are not a whole, checksummed snapshot."""
    if len(data) < _FRAME.size + _META.size:
        raise WalCorruption(name, 0, "shorter than a snapshot header")
    crc, length = _FRAME.unpack_from(data)
    payload = data[_FRAME.size :]
    if length != len(payload) or google_crc32c.value(payload) != crc:
        raise WalCorruption(name, 0, "snapshot checksum or length mismatch")
    index, term, voter_count, learner_count = _META.unpack_from(payload)
    nodes_end = _META.size + _NODE.size * (voter_count + learner_count)
    if nodes_end > len(payload):
        raise WalCorruption(name, _FRAME.size, "membership runs past the payload")
    nodes = [
        NodeId(_NODE.unpack_from(payload, _META.size + _NODE.size * position)[0])
        for position in range(voter_count + learner_count)
    ]
    membership = Membership(frozenset(nodes[:voter_count]), frozenset(nodes[voter_count:]))
    meta = SnapshotMeta(LogIndex(index), Term(term), membership)
    return Snapshot(meta, payload[nodes_end:])


def snapshot_name(index: LogIndex, term: Term) -> str:
    return f"{SNAPSHOT_PREFIX}{index:020d}-{term:020d}"


def read_snapshot(disk: Disk, index: LogIndex, term: Term) -> Snapshot:
    """The snapshot the WAL's marker names (index 0: none yet, the empty snapshot)."""
    if index == 0:
        return Snapshot()
    name = snapshot_name(index, term)
    if name not in disk.list_names():
        raise WalCorruption(name, 0, "the snapshot the log starts after is missing")
    snapshot = decode_snapshot(name, disk.read(name))
    if (snapshot.meta.index, snapshot.meta.term) != (index, term):
        raise WalCorruption(name, 0, f"holds ({snapshot.meta.index}, {snapshot.meta.term})")
    return snapshot


def write_snapshot(disk: Disk, snapshot: Snapshot) -> None:
    """Durable under its own name before any WAL marker may name it."""
    data = encode_snapshot(snapshot)
    if SNAPSHOT_TEMPORARY_NAME in disk.list_names():
        disk.remove(SNAPSHOT_TEMPORARY_NAME)
    disk.write(SNAPSHOT_TEMPORARY_NAME, 0, data)
    disk.sync(SNAPSHOT_TEMPORARY_NAME)
    disk.rename(SNAPSHOT_TEMPORARY_NAME, snapshot_name(snapshot.meta.index, snapshot.meta.term))
    disk.sync_directory()


def remove_other_snapshots(disk: Disk, index: LogIndex, term: Term) -> None:
    """Drop every snapshot file but the one the log starts after: older ones are superseded,
    newer ones belong to a save that never became durable."""
    keep = snapshot_name(index, term)
    stale = [
        name
        for name in disk.list_names()
        if (name.startswith(SNAPSHOT_PREFIX) or name == SNAPSHOT_TEMPORARY_NAME) and name != keep
    ]
    for name in stale:
        disk.remove(name)
    if stale:
        disk.sync_directory()
