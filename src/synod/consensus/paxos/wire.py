"""Multi-Paxos's wire codec: every message in ``messages.py`` to bytes and back, with msgpack.

Layout: one format byte (``WIRE_FORMAT``), then one msgpack array whose first element is the
message's type tag and whose other elements are the message's fields in declaration order.
Entries are ``[index, term, kind, data]``; a snapshot is ``[index, term, voters, learners,
data]``. Tags are part of the format: never renumber one, only add new ones.

The format byte is not Raft's version byte (``0x50`` marks Paxos, the low bits count the
version): bytes from a Raft peer are refused here, and Paxos bytes by Raft's codec, even if a
misconfigured pair of nodes ever got past the transport's handshake.

Rules:
- ``decode_message`` raises ``MalformedMessage`` on any input that is not exactly one valid
  message (wrong format byte, unknown tag, missing or extra fields, wrong types, integers
  outside 0..2**64-1, an unknown entry kind, a node both voter and learner, trailing bytes),
  and never another exception type.
- ``decode_message(encode_message(m)) == m`` for every Paxos message ``m``.
- Pure: no I/O. The server hands these two functions to its transport.
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from synod.consensus.paxos.messages import (
    Accept,
    Accepted,
    Heartbeat,
    HeartbeatAck,
    InstallSnapshot,
    Prepare,
    Promise,
    ReadIndexRequest,
    ReadIndexResponse,
    TimeoutNow,
)
from synod.core.engine import Message
from synod.core.errors import MalformedMessage
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import Entry, EntryKind, Membership, Snapshot, SnapshotMeta

WIRE_FORMAT: Final = 0x51
"""Paxos (0x50), version 1."""
_FORMAT_BYTE: Final = bytes([WIRE_FORMAT])

U64 = Annotated[int, msgspec.Meta(ge=0)]
"""msgpack integers stop at 2**64 - 1, so non-negative is the whole check."""
_WireEntry = tuple[U64, U64, EntryKind, bytes]


class _Wire(msgspec.Struct, array_like=True, frozen=True, tag_field="tag"):
    """Fields every message starts with."""

    source: U64
    target: U64
    term: U64


class _Prepare(_Wire, tag=1, frozen=True):
    first: U64
    transfer: bool


class _Promise(_Wire, tag=2, frozen=True):
    granted: bool
    commit: U64
    entries: tuple[_WireEntry, ...]
    behind: bool


class _Accept(_Wire, tag=3, frozen=True):
    prev: U64
    entries: tuple[_WireEntry, ...]
    commit: U64


class _Accepted(_Wire, tag=4, frozen=True):
    ok: bool
    prev: U64
    last: U64
    commit: U64


class _Heartbeat(_Wire, tag=5, frozen=True):
    commit: U64
    read_round: U64


class _HeartbeatAck(_Wire, tag=6, frozen=True):
    read_round: U64
    commit: U64


class _InstallSnapshot(_Wire, tag=7, frozen=True):
    index: U64
    snapshot_term: U64
    voters: tuple[U64, ...]
    learners: tuple[U64, ...]
    data: bytes


class _TimeoutNow(_Wire, tag=8, frozen=True):
    pass


class _ReadIndexRequest(_Wire, tag=9, frozen=True):
    request_id: bytes


class _ReadIndexResponse(_Wire, tag=10, frozen=True):
    request_id: bytes
    index: U64


_AnyWire = (
    _Prepare
    | _Promise
    | _Accept
    | _Accepted
    | _Heartbeat
    | _HeartbeatAck
    | _InstallSnapshot
    | _TimeoutNow
    | _ReadIndexRequest
    | _ReadIndexResponse
)

_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder(_AnyWire)


def encode_message(message: Message) -> bytes:
    """The wire form of a Paxos message; MalformedMessage for anything else or an integer past
    2**64 - 1. The engine's own messages are trusted: a negative integer is not checked here,
    and the receiving decoder refuses it."""
    try:
        return _FORMAT_BYTE + _ENCODER.encode(_to_wire(message))
    except OverflowError as error:
        raise MalformedMessage(f"cannot encode {type(message).__name__}: {error}") from None


def decode_message(data: bytes) -> Message:
    """The message ``data`` encodes; MalformedMessage (with the reason) if it encodes none."""
    if not data:
        raise MalformedMessage("empty Paxos message")
    if data[0] != WIRE_FORMAT:
        raise MalformedMessage(
            f"Paxos wire format byte {data[0]:#04x} (this node speaks {WIRE_FORMAT:#04x};"
            " a peer running another engine or version?)"
        )
    try:
        wire = _DECODER.decode(memoryview(data)[1:])
    except msgspec.DecodeError as error:
        raise MalformedMessage(f"malformed Paxos message: {error}") from None
    return _from_wire(wire)


def _entries_to_wire(entries: tuple[Entry, ...]) -> tuple[_WireEntry, ...]:
    return tuple((entry.index, entry.term, entry.kind, entry.data) for entry in entries)


def _entries_from_wire(entries: tuple[_WireEntry, ...]) -> tuple[Entry, ...]:
    return tuple(
        Entry(LogIndex(index), Term(term), kind, data) for index, term, kind, data in entries
    )


def _to_wire(message: Message) -> _AnyWire:  # noqa: PLR0911 - one arm per message type
    match message:
        case Prepare(source, target, term, first, transfer):
            return _Prepare(source, target, term, first, transfer)
        case Promise(source, target, term, granted, commit, entries, behind):
            return _Promise(
                source, target, term, granted, commit, _entries_to_wire(entries), behind
            )
        case Accept(source, target, term, prev, entries, commit):
            return _Accept(source, target, term, prev, _entries_to_wire(entries), commit)
        case Accepted(source, target, term, ok, prev, last, commit):
            return _Accepted(source, target, term, ok, prev, last, commit)
        case Heartbeat(source, target, term, commit, read_round):
            return _Heartbeat(source, target, term, commit, read_round)
        case HeartbeatAck(source, target, term, read_round, commit):
            return _HeartbeatAck(source, target, term, read_round, commit)
        case InstallSnapshot(source, target, term, snapshot):
            meta = snapshot.meta
            return _InstallSnapshot(
                source,
                target,
                term,
                meta.index,
                meta.term,
                tuple(sorted(meta.membership.voters)),
                tuple(sorted(meta.membership.learners)),
                snapshot.data,
            )
        case TimeoutNow(source, target, term):
            return _TimeoutNow(source, target, term)
        case ReadIndexRequest(source, target, term, request_id):
            return _ReadIndexRequest(source, target, term, request_id)
        case ReadIndexResponse(source, target, term, request_id, index):
            return _ReadIndexResponse(source, target, term, request_id, index)
    raise MalformedMessage(f"not a Paxos message: {type(message).__name__}")


def _from_wire(wire: _AnyWire) -> Message:  # noqa: PLR0911 - one arm per message type
    source, target, term = NodeId(wire.source), NodeId(wire.target), Term(wire.term)
    match wire:
        case _Prepare():
            return Prepare(source, target, term, LogIndex(wire.first), wire.transfer)
        case _Promise():
            entries = _entries_from_wire(wire.entries)
            commit = LogIndex(wire.commit)
            return Promise(source, target, term, wire.granted, commit, entries, wire.behind)
        case _Accept():
            entries = _entries_from_wire(wire.entries)
            return Accept(source, target, term, LogIndex(wire.prev), entries, LogIndex(wire.commit))
        case _Accepted():
            prev, last, commit = LogIndex(wire.prev), LogIndex(wire.last), LogIndex(wire.commit)
            return Accepted(source, target, term, wire.ok, prev, last, commit)
        case _Heartbeat():
            return Heartbeat(source, target, term, LogIndex(wire.commit), wire.read_round)
        case _HeartbeatAck():
            return HeartbeatAck(source, target, term, wire.read_round, LogIndex(wire.commit))
        case _InstallSnapshot():
            return InstallSnapshot(source, target, term, _snapshot_from_wire(wire))
        case _TimeoutNow():
            return TimeoutNow(source, target, term)
        case _ReadIndexRequest():
            return ReadIndexRequest(source, target, term, wire.request_id)
        case _ReadIndexResponse():
            return ReadIndexResponse(source, target, term, wire.request_id, LogIndex(wire.index))


def _snapshot_from_wire(wire: _InstallSnapshot) -> Snapshot:
    voters = frozenset(NodeId(node) for node in wire.voters)
    learners = frozenset(NodeId(node) for node in wire.learners)
    both = voters & learners
    if both:
        raise MalformedMessage(f"snapshot membership lists {sorted(both)} as voter and learner")
    meta = SnapshotMeta(
        LogIndex(wire.index), Term(wire.snapshot_term), Membership(voters, learners)
    )
    return Snapshot(meta, wire.data)
