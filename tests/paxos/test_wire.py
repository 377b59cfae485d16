"""Multi-Paxos's wire codec: what only Paxos's messages need. The properties every codec keeps
(round trips, refusals, refusing Raft's bytes, the pinned bytes) are tested for both engines
in tests/consensus/test_wire_codecs.py."""

from synod.consensus.paxos.messages import Accepted, Prepare, Promise
from synod.consensus.paxos.wire import decode_message, encode_message
from synod.core.ids import LogIndex, NodeId, Term


def test_defaults_survive_the_round_trip() -> None:
    refused = Promise(NodeId(2), NodeId(1), Term(7), False)
    hole = Accepted(NodeId(2), NodeId(1), Term(7), False)
    for message in (refused, hole, Prepare(NodeId(1), NodeId(2), Term(7), LogIndex(3))):
        assert decode_message(encode_message(message)) == message
