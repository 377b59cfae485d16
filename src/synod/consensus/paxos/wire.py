"""Multi-Paxos's wire codec: every message in ``messages.py`` to bytes and back.

The layout, the refusals and the round-trip rule are ``synod.consensus.wire``'s; this module
adds Paxos's first byte (``WIRE_FORMAT``) and one tagged struct per message. Tags are part of
the format: never renumber one, only add new ones. The format byte is not Raft's version byte
(``0x50`` marks Paxos, the low bits count the version), so each engine refuses the other's
bytes. The server hands ``encode_message`` and ``decode_message`` to its transport.
"""

from __future__ import annotations

from typing import Final

from synod.consensus import wire as common
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
from synod.consensus.wire import U64, WireCodec, WireEntry, WireHeader, WireSnapshot
from synod.core.engine import Message
from synod.core.ids import LogIndex, NodeId, Term

WIRE_FORMAT: Final = 0x51
"""Paxos (0x50), version 1."""


class _Prepare(WireHeader, tag=1, frozen=True):
    first: U64
    transfer: bool


class _Promise(WireHeader, tag=2, frozen=True):
    granted: bool
    commit: U64
    entries: tuple[WireEntry, ...]
    behind: bool
    repairing: bool = False


class _Accept(WireHeader, tag=3, frozen=True):
    prev: U64
    entries: tuple[WireEntry, ...]
    commit: U64


class _Accepted(WireHeader, tag=4, frozen=True):
    ok: bool
    prev: U64
    last: U64
    commit: U64
    run: U64 = 0


class _Heartbeat(WireHeader, tag=5, frozen=True):
    commit: U64
    read_round: U64


class _HeartbeatAck(WireHeader, tag=6, frozen=True):
    read_round: U64
    commit: U64


class _InstallSnapshot(WireSnapshot, tag=7, frozen=True):
    pass


class _TimeoutNow(WireHeader, tag=8, frozen=True):
    pass


class _ReadIndexRequest(WireHeader, tag=9, frozen=True):
    request_id: bytes


class _ReadIndexResponse(WireHeader, tag=10, frozen=True):
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


def _to_wire(message: Message) -> _AnyWire | None:  # noqa: PLR0911 - one arm per message type
    match message:
        case Prepare(source, target, term, first, transfer):
            return _Prepare(source, target, term, first, transfer)
        case Promise(source, target, term, granted, commit, entries, behind, repairing):
            wire_entries = common.entries_to_wire(entries)
            return _Promise(source, target, term, granted, commit, wire_entries, behind, repairing)
        case Accept(source, target, term, prev, entries, commit):
            return _Accept(source, target, term, prev, common.entries_to_wire(entries), commit)
        case Accepted(source, target, term, ok, prev, last, commit, run):
            return _Accepted(source, target, term, ok, prev, last, commit, run)
        case Heartbeat(source, target, term, commit, read_round):
            return _Heartbeat(source, target, term, commit, read_round)
        case HeartbeatAck(source, target, term, read_round, commit):
            return _HeartbeatAck(source, target, term, read_round, commit)
        case InstallSnapshot(source, target, term, snapshot):
            return _InstallSnapshot(source, target, term, *common.snapshot_to_wire(snapshot))
        case TimeoutNow(source, target, term):
            return _TimeoutNow(source, target, term)
        case ReadIndexRequest(source, target, term, request_id):
            return _ReadIndexRequest(source, target, term, request_id)
        case ReadIndexResponse(source, target, term, request_id, index):
            return _ReadIndexResponse(source, target, term, request_id, index)
    return None


def _from_wire(wire: _AnyWire) -> Message:  # noqa: PLR0911 - one arm per message type
    source, target, term = NodeId(wire.source), NodeId(wire.target), Term(wire.term)
    match wire:
        case _Prepare():
            return Prepare(source, target, term, LogIndex(wire.first), wire.transfer)
        case _Promise():
            entries = common.entries_from_wire(wire.entries)
            commit = LogIndex(wire.commit)
            granted, behind, repairing = wire.granted, wire.behind, wire.repairing
            return Promise(source, target, term, granted, commit, entries, behind, repairing)
        case _Accept():
            entries = common.entries_from_wire(wire.entries)
            return Accept(source, target, term, LogIndex(wire.prev), entries, LogIndex(wire.commit))
        case _Accepted():
            prev, last, commit = LogIndex(wire.prev), LogIndex(wire.last), LogIndex(wire.commit)
            run = LogIndex(wire.run)
            return Accepted(source, target, term, wire.ok, prev, last, commit, run)
        case _Heartbeat():
            return Heartbeat(source, target, term, LogIndex(wire.commit), wire.read_round)
        case _HeartbeatAck():
            return HeartbeatAck(source, target, term, wire.read_round, LogIndex(wire.commit))
        case _InstallSnapshot():
            return InstallSnapshot(source, target, term, common.snapshot_from_wire(wire))
        case _TimeoutNow():
            return TimeoutNow(source, target, term)
        case _ReadIndexRequest():
            return ReadIndexRequest(source, target, term, wire.request_id)
        case _ReadIndexResponse():
            return ReadIndexResponse(source, target, term, wire.request_id, LogIndex(wire.index))


CODEC: Final = WireCodec[_AnyWire]("Paxos", WIRE_FORMAT, _AnyWire, _to_wire, _from_wire)
encode_message: Final = CODEC.encode
decode_message: Final = CODEC.decode
