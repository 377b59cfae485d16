"""Calls between nodes beside the engine's own messages: forwarding to the leader.

A follower cannot propose or keep a lease alive itself: it sends a ``PeerCall`` to the leader,
which answers with a ``PeerReply`` carrying the same ``call_id``. Kinds:

- ``PROPOSE``: ``payload`` is a command envelope (``synod.replica.command``) naming the follower
  as its origin; the leader proposes it as is, so the follower answers its own client when the
  entry applies. The leader replies only to refuse (``ok`` false, ``payload`` the reason).
- ``KEEP_ALIVE`` and ``TIME_TO_LIVE``: ``payload`` is the lease id (8 bytes, big-endian); the
  reply's payload is the remaining TTL in seconds (8 bytes, signed), -1 for no such lease.
- ``CHANGE_MEMBERSHIP``: ``payload`` is an encoded ``MembershipChange`` for the leader to
  propose; a refusal's payload says why (``synod.server.membership``).
- ``REMOVED``: a notice, sent to a member that was removed from the cluster, so that it stops
  (the leader no longer replicates to it, so it may never apply its own removal).

Both travel through the peer transport in the node codec: one tag byte, then either the
engine's own encoding (tag 0) or a msgpack array (tags 1 and 2). Decoding bad bytes raises
``MalformedMessage`` and nothing else.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

import msgspec

from synod.core.engine import Message
from synod.core.errors import MalformedMessage
from synod.core.ids import NodeId
from synod.server.transport_config import Codec

_ENGINE: Final = 0
_CALL: Final = 1
_REPLY: Final = 2
_U64_MAX: Final = (1 << 64) - 1


class CallKind(enum.IntEnum):
    PROPOSE = 1
    KEEP_ALIVE = 2
    TIME_TO_LIVE = 3
    CHANGE_MEMBERSHIP = 4
    REMOVED = 5


@dataclass(frozen=True, slots=True)
class PeerCall:
    source: NodeId
    target: NodeId
    call_id: int
    kind: CallKind
    payload: bytes

    def size_bytes(self) -> int:
        return 32 + len(self.payload)


@dataclass(frozen=True, slots=True)
class PeerReply:
    source: NodeId
    target: NodeId
    call_id: int
    ok: bool
    payload: bytes

    def size_bytes(self) -> int:
        return 32 + len(self.payload)


def node_codec(engine: Codec) -> Codec:
    """The engine's codec, extended with peer calls and replies."""

    def encode(message: Message) -> bytes:
        match message:
            case PeerCall(source, target, call_id, kind, payload):
                fields = [source, target, call_id, int(kind), payload]
                return bytes([_CALL]) + msgspec.msgpack.encode(fields)
            case PeerReply(source, target, call_id, ok, payload):
                fields = [source, target, call_id, ok, payload]
                return bytes([_REPLY]) + msgspec.msgpack.encode(fields)
        return bytes([_ENGINE]) + engine.encode(message)

    def decode(data: bytes) -> Message:
        if not data:
            raise MalformedMessage("empty peer message")
        tag, body = data[0], data[1:]
        if tag == _ENGINE:
            return engine.decode(body)
        if tag not in (_CALL, _REPLY):
            raise MalformedMessage(f"unknown peer message tag {tag}")
        try:
            fields = msgspec.msgpack.decode(body, type=tuple[int, int, int, int | bool, bytes])
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise MalformedMessage(f"malformed peer call: {error}") from error
        source, target, call_id, middle, payload = fields
        if not all(0 <= value <= _U64_MAX for value in (source, target, call_id)):
            raise MalformedMessage("peer call field out of range")
        if tag == _REPLY:
            if not isinstance(middle, bool):
                raise MalformedMessage("peer reply without its ok flag")
            return PeerReply(NodeId(source), NodeId(target), call_id, middle, payload)
        if isinstance(middle, bool) or middle not in CallKind._value2member_map_:
            raise MalformedMessage(f"unknown peer call kind {middle!r}")
        return PeerCall(NodeId(source), NodeId(target), call_id, CallKind(middle), payload)

    return Codec(encode, decode)
