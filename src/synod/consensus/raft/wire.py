"""Raft's wire codec: every message in ``messages.py`` to bytes and back.

The layout, the refusals and the round-trip rule are ``synod.consensus.wire``'s; this module
adds Raft's first byte (``WIRE_VERSION``, 1) and one tagged struct per message. Tags are part
of the format: never renumber one, only add new ones. The transport never imports this module;
the server hands it ``encode_message`` and ``decode_message``, so another engine can bring its
own codec.
"""

from __future__ import annotations

from typing import Final

from synod.consensus import wire as common
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
from synod.consensus.wire import U64, WireCodec, WireEntry, WireHeader, WireSnapshot
from synod.core.engine import Message
from synod.core.ids import LogIndex, NodeId, Term

WIRE_VERSION: Final = 1


class _VoteRequest(WireHeader, tag=1, frozen=True):
    last_index: U64
    last_term: U64
    pre_vote: bool
    transfer: bool


class _VoteResponse(WireHeader, tag=2, frozen=True):
    granted: bool
    pre_vote: bool


class _AppendEntries(WireHeader, tag=3, frozen=True):
    prev_index: U64
    prev_term: U64
    entries: tuple[WireEntry, ...]
    commit: U64
    epoch: U64


class _AppendResponse(WireHeader, tag=4, frozen=True):
    index: U64
    reject: bool
    hint_index: U64
    hint_term: U64
    log_lost: bool
    epoch: U64


class _Heartbeat(WireHeader, tag=5, frozen=True):
    commit: U64
    read_round: U64


class _HeartbeatResponse(WireHeader, tag=6, frozen=True):
    read_round: U64


class _InstallSnapshot(WireSnapshot, tag=7, frozen=True):
    epoch: U64


class _TimeoutNow(WireHeader, tag=8, frozen=True):
    pass


class _ReadIndexRequest(WireHeader, tag=9, frozen=True):
    request_id: bytes


class _ReadIndexResponse(WireHeader, tag=10, frozen=True):
    request_id: bytes
    index: U64


class _CommitNotice(WireHeader, tag=11, frozen=True):
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


def _to_wire(message: Message) -> _AnyWire | None:  # noqa: PLR0911 - one arm per message type
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
            return _AppendEntries(
                *header,
                message.term,
                message.prev_index,
                message.prev_term,
                common.entries_to_wire(message.entries),
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
            snapshot = common.snapshot_to_wire(message.snapshot)
            source, target, term, epoch = (
                message.source,
                message.target,
                message.term,
                message.epoch,
            )
            return _InstallSnapshot(source, target, term, *snapshot, epoch)
        case TimeoutNow():
            return _TimeoutNow(*header, message.term)
        case ReadIndexRequest():
            return _ReadIndexRequest(*header, message.term, message.request_id)
        case ReadIndexResponse():
            return _ReadIndexResponse(*header, message.term, message.request_id, message.index)
    return None


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
            return AppendEntries(
                source,
                target,
                term,
                LogIndex(wire.prev_index),
                Term(wire.prev_term),
                common.entries_from_wire(wire.entries),
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
            return InstallSnapshot(
                source, target, term, common.snapshot_from_wire(wire), wire.epoch
            )
        case _TimeoutNow():
            return TimeoutNow(source, target, term)
        case _ReadIndexRequest():
            return ReadIndexRequest(source, target, term, wire.request_id)
        case _ReadIndexResponse():
            return ReadIndexResponse(source, target, term, wire.request_id, LogIndex(wire.index))


CODEC: Final = WireCodec[_AnyWire]("Raft", WIRE_VERSION, _AnyWire, _to_wire, _from_wire)
encode_message: Final = CODEC.encode
decode_message: Final = CODEC.decode
