"""Raft's wire codec: every message in ``messages.py`` to bytes and back, with msgpack.

Layout: one version byte (``WIRE_VERSION``), then one msgpack array whose first element is the
message's type tag and whose other elements are the message's fields in declaration order.
Entries are ``[index, term, kind, data]``; a snapshot is ``[index, term, voters, learners,
data]``. Tags are part of the format: never renumber one, only add new ones.

Rules:
- ``decode_message`` raises ``MalformedMessage`` on any input that is not exactly one valid
  message (wrong version, unknown tag, missing or extra fields, wrong types, integers outside
  0..2**64-1, an unknown entry kind, a node both voter and learner, trailing bytes), and never
  another exception type.
- ``decode_message(encode_message(m)) == m`` for every Raft message ``m``.
- Pure: no I/O. The transport never imports this module; the server hands it these two
  functions, so another engine can bring its own codec.
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from synod.consensus.raft.messages import (
    AppendEntries,
    AppendResponse,
    CommitNotice,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    ReadIndexRequest,
    ReadIndexResponse,
    TimeoutNow,
    VoteRequest,
    VoteResponse,
)
from synod.core.engine import Message
from synod.core.errors import MalformedMessage
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import Entry, EntryKind, Membership, Snapshot, SnapshotMeta

WIRE_VERSION: Final = 1
_VERSION_BYTE: Final = bytes([WIRE_VERSION])

U64 = Annotated[int, msgspec.Meta(ge=0)]
"""msgpack integers stop at 2**64 - 1, so non-negative is the whole check."""
_WireEntry = tuple[U64, U64, EntryKind, bytes]


class _Wire(msgspec.Struct, array_like=True, frozen=True, tag_field="tag"):
    """Fields every message starts with."""

    source: U64
    target: U64
    term: U64


class _VoteRequest(_Wire, tag=1, frozen=True):
    last_index: U64
    last_term: U64
    pre_vote: bool
    transfer: bool


class _VoteResponse(_Wire, tag=2, frozen=True):
    granted: bool
    pre_vote: bool


class _AppendEntries(_Wire, tag=3, frozen=True):
    prev_index: U64
    prev_term: U64
    entries: tuple[_WireEntry, ...]
    commit: U64
    epoch: U64


class _AppendResponse(_Wire, tag=4, frozen=True):
    index: U64
    reject: bool
    hint_index: U64
    hint_term: U64
    log_lost: bool
    epoch: U64


class _Heartbeat(_Wire, tag=5, frozen=True):
    commit: U64
    read_round: U64


class _HeartbeatResponse(_Wire, tag=6, frozen=True):
    read_round: U64


class _InstallSnapshot(_Wire, tag=7, frozen=True):
    index: U64
    snapshot_term: U64
    voters: tuple[U64, ...]
    learners: tuple[U64, ...]
    data: bytes
    epoch: U64


class _TimeoutNow(_Wire, tag=8, frozen=True):
    pass


class _ReadIndexRequest(_Wire, tag=9, frozen=True):
    request_id: bytes


class _ReadIndexResponse(_Wire, tag=10, frozen=True):
    request_id: bytes
    index: U64


class _CommitNotice(_Wire, tag=11, frozen=True):
    prev_index: U64
    prev_term: U64
    commit: U64
    epoch: U64


_AnyWire = (
    _VoteRequest
    | _VoteResponse
    | _AppendEntries
    | _AppendResponse
    | _Heartbeat
    | _HeartbeatResponse
    | _InstallSnapshot
    | _TimeoutNow
    | _ReadIndexRequest
    | _ReadIndexResponse
    | _CommitNotice
)

_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder(_AnyWire)


def encode_message(message: Message) -> bytes:
    """The wire form of a Raft message; MalformedMessage for anything else or an integer past
    2**64 - 1. The engine's own messages are trusted: a negative integer is not checked here,
    and the receiving decoder refuses it."""
    try:
        return _VERSION_BYTE + _ENCODER.encode(_to_wire(message))
    except OverflowError as error:
        raise MalformedMessage(f"cannot encode {type(message).__name__}: {error}") from None


def decode_message(data: bytes) -> Message:
    """The message ``data`` encodes; MalformedMessage (with the reason) if it encodes none."""
    if not data:
        raise MalformedMessage("empty Raft message")
    if data[0] != WIRE_VERSION:
        raise MalformedMessage(f"Raft wire version {data[0]} (this node speaks {WIRE_VERSION})")
    try:
        wire = _DECODER.decode(memoryview(data)[1:])
    except msgspec.DecodeError as error:
        raise MalformedMessage(f"malformed Raft message: {error}") from None
    return _from_wire(wire)


def _to_wire(message: Message) -> _AnyWire:  # noqa: PLR0911 - one arm per message type
    header = (message.source, message.target)
    match message:
        case VoteRequest():
            return _VoteRequest(
                *header,
                message.term,
                message.last_index,
                message.last_term,
                message.pre_vote,
                message.transfer,
            )
        case VoteResponse():
            return _VoteResponse(*header, message.term, message.granted, message.pre_vote)
        case AppendEntries():
            entries = tuple((e.index, e.term, e.kind, e.data) for e in message.entries)
            return _AppendEntries(
                *header,
                message.term,
                message.prev_index,
                message.prev_term,
                entries,
                message.commit,
                message.epoch,
            )
        case CommitNotice():
            return _CommitNotice(
                *header,
                message.term,
                message.prev_index,
                message.prev_term,
                message.commit,
                message.epoch,
            )
        case AppendResponse():
            return _AppendResponse(
                *header,
                message.term,
                message.index,
                message.reject,
                message.hint_index,
                message.hint_term,
                message.log_lost,
                message.epoch,
            )
        case Heartbeat():
            return _Heartbeat(*header, message.term, message.commit, message.read_round)
        case HeartbeatResponse():
            return _HeartbeatResponse(*header, message.term, message.read_round)
        case InstallSnapshot():
            return _snapshot_to_wire(message)
        case TimeoutNow():
            return _TimeoutNow(*header, message.term)
        case ReadIndexRequest():
            return _ReadIndexRequest(*header, message.term, message.request_id)
        case ReadIndexResponse():
            return _ReadIndexResponse(*header, message.term, message.request_id, message.index)
    raise MalformedMessage(f"not a Raft message: {type(message).__name__}")


def _snapshot_to_wire(message: InstallSnapshot) -> _InstallSnapshot:
    meta = message.snapshot.meta
    return _InstallSnapshot(
        message.source,
        message.target,
        message.term,
        meta.index,
        meta.term,
        tuple(sorted(meta.membership.voters)),
        tuple(sorted(meta.membership.learners)),
        message.snapshot.data,
        message.epoch,
    )


def _from_wire(wire: _AnyWire) -> Message:  # noqa: PLR0911 - one arm per message type
    source, target, term = NodeId(wire.source), NodeId(wire.target), Term(wire.term)
    match wire:
        case _VoteRequest():
            return VoteRequest(
                source,
                target,
                term,
                LogIndex(wire.last_index),
                Term(wire.last_term),
                wire.pre_vote,
                wire.transfer,
            )
        case _VoteResponse():
            return VoteResponse(source, target, term, wire.granted, wire.pre_vote)
        case _AppendEntries():
            entries = tuple(
                Entry(LogIndex(index), Term(entry_term), kind, data)
                for index, entry_term, kind, data in wire.entries
            )
            return AppendEntries(
                source,
                target,
                term,
                LogIndex(wire.prev_index),
                Term(wire.prev_term),
                entries,
                LogIndex(wire.commit),
                wire.epoch,
            )
        case _CommitNotice():
            return CommitNotice(
                source,
                target,
                term,
                LogIndex(wire.prev_index),
                Term(wire.prev_term),
                LogIndex(wire.commit),
                wire.epoch,
            )
        case _AppendResponse():
            return AppendResponse(
                source,
                target,
                term,
                LogIndex(wire.index),
                wire.reject,
                LogIndex(wire.hint_index),
                Term(wire.hint_term),
                wire.log_lost,
                wire.epoch,
            )
        case _Heartbeat():
            return Heartbeat(source, target, term, LogIndex(wire.commit), wire.read_round)
        case _HeartbeatResponse():
            return HeartbeatResponse(source, target, term, wire.read_round)
        case _InstallSnapshot():
            return InstallSnapshot(source, target, term, _snapshot_from_wire(wire), wire.epoch)
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
