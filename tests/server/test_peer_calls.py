"""Peer calls in the node codec: every kind round-trips; unknown kinds are refused."""

from __future__ import annotations

import msgspec
import pytest

from synod.consensus.raft.wire import decode_message, encode_message
from synod.core.errors import MalformedMessage
from synod.core.ids import NodeId
from synod.core.log import ChangeKind, MembershipChange
from synod.server.peer_calls import CallKind, PeerCall, PeerReply, node_codec
from synod.server.transport_config import Codec

CODEC = node_codec(Codec(encode_message, decode_message))


@pytest.mark.parametrize("kind", list(CallKind))
def test_every_call_kind_round_trips(kind: CallKind) -> None:
    payload = MembershipChange(ChangeKind.ADD_LEARNER, NodeId(9)).encode()
    call = PeerCall(NodeId(1), NodeId(2), 77, kind, payload)
    assert CODEC.decode(CODEC.encode(call)) == call
    reply = PeerReply(NodeId(2), NodeId(1), 77, False, b"retry: busy")
    assert CODEC.decode(CODEC.encode(reply)) == reply


def test_an_unknown_call_kind_is_refused() -> None:
    data = bytes([1]) + msgspec.msgpack.encode([1, 2, 3, max(CallKind) + 1, b""])
    with pytest.raises(MalformedMessage, match="unknown peer call kind"):
        CODEC.decode(data)
