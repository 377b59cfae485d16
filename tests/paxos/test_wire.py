"""Multi-Paxos's wire codec: every message round-trips; no byte string makes decode raise
anything but MalformedMessage; Raft's bytes and Paxos's bytes are refused by each other."""

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from synod.consensus.paxos.messages import (
    PAXOS_MESSAGE_TYPES,
    Accept,
    Accepted,
    Heartbeat,
    HeartbeatAck,
    InstallSnapshot,
    PaxosMessage,
    Prepare,
    Promise,
    ReadIndexRequest,
    ReadIndexResponse,
    TimeoutNow,
)
from synod.consensus.paxos.wire import WIRE_FORMAT, decode_message, encode_message
from synod.consensus.raft import messages as raft
from synod.consensus.raft import wire as raft_wire
from synod.core.engine import Message
from synod.core.errors import MalformedMessage, SynodError
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import Entry, EntryKind, Membership, Snapshot, SnapshotMeta

u64 = st.integers(0, 2**64 - 1)
nodes = u64.map(NodeId)
terms = u64.map(Term)
indexes = u64.map(LogIndex)
entries = st.builds(Entry, indexes, terms, st.sampled_from(EntryKind), st.binary(max_size=64))
entry_lists = st.lists(entries, max_size=8).map(tuple)


@st.composite
def memberships(draw: st.DrawFn) -> Membership:
    members = draw(st.frozensets(nodes, max_size=9))
    learners = draw(st.frozensets(st.sampled_from(sorted(members)))) if members else frozenset()
    return Membership(members - learners, learners)


snapshots = st.builds(
    Snapshot, st.builds(SnapshotMeta, indexes, terms, memberships()), st.binary(max_size=256)
)

per_type: tuple[st.SearchStrategy[PaxosMessage], ...] = (
    st.builds(Prepare, nodes, nodes, terms, indexes, st.booleans()),
    st.builds(Promise, nodes, nodes, terms, st.booleans(), indexes, entry_lists, st.booleans()),
    st.builds(Accept, nodes, nodes, terms, indexes, entry_lists, indexes),
    st.builds(Accepted, nodes, nodes, terms, st.booleans(), indexes, indexes, indexes),
    st.builds(Heartbeat, nodes, nodes, terms, indexes, u64),
    st.builds(HeartbeatAck, nodes, nodes, terms, u64, indexes),
    st.builds(InstallSnapshot, nodes, nodes, terms, snapshots),
    st.builds(TimeoutNow, nodes, nodes, terms),
    st.builds(ReadIndexRequest, nodes, nodes, terms, st.binary(max_size=32)),
    st.builds(ReadIndexResponse, nodes, nodes, terms, st.binary(max_size=32), indexes),
)
messages = st.one_of(*per_type)


def _decode_or_refuse(data: bytes) -> Message | None:
    """The decoded message, or None when decode refused with the typed error."""
    try:
        message = decode_message(data)
    except MalformedMessage as error:
        refusal = error
    else:
        assert isinstance(message, PAXOS_MESSAGE_TYPES)
        return message
    assert str(refusal), "a refusal says why"
    return None


@given(messages)
def test_every_message_round_trips(message: PaxosMessage) -> None:
    data = encode_message(message)
    assert data[0] == WIRE_FORMAT
    assert decode_message(data) == message


def test_the_strategies_cover_every_message_type() -> None:
    assert len(per_type) == len(PAXOS_MESSAGE_TYPES)


@pytest.mark.parametrize("index", range(len(PAXOS_MESSAGE_TYPES)))
def test_each_type_round_trips(index: int) -> None:
    @given(per_type[index])
    @settings(max_examples=40)
    def round_trip(message: PaxosMessage) -> None:
        assert type(message) is PAXOS_MESSAGE_TYPES[index]
        assert decode_message(encode_message(message)) == message

    round_trip()


def test_defaults_survive_the_round_trip() -> None:
    refused = Promise(NodeId(2), NodeId(1), Term(7), False)
    hole = Accepted(NodeId(2), NodeId(1), Term(7), False)
    for message in (refused, hole, Prepare(NodeId(1), NodeId(2), Term(7), LogIndex(3))):
        assert decode_message(encode_message(message)) == message


@given(st.binary(max_size=300))
@example(b"")
@example(bytes([WIRE_FORMAT]))
@example(bytes([WIRE_FORMAT, 0x91, 0x63]))
def test_random_bytes_decode_or_raise_the_typed_error(data: bytes) -> None:
    _decode_or_refuse(data)
    _decode_or_refuse(bytes([WIRE_FORMAT]) + data)


@given(messages, st.data())
def test_every_truncation_is_refused(message: PaxosMessage, data: st.DataObject) -> None:
    encoded = encode_message(message)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    assert _decode_or_refuse(encoded[:cut]) is None


@given(messages, st.data())
def test_bit_flips_decode_or_raise_the_typed_error(
    message: PaxosMessage, data: st.DataObject
) -> None:
    encoded = bytearray(encode_message(message))
    for _ in range(data.draw(st.integers(1, 4))):
        bit = data.draw(st.integers(0, len(encoded) * 8 - 1))
        encoded[bit // 8] ^= 1 << (bit % 8)
    decoded = _decode_or_refuse(bytes(encoded))
    if decoded is not None:
        assert decode_message(encode_message(decoded)) == decoded


@given(messages, st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_refused(message: PaxosMessage, extra: bytes) -> None:
    assert _decode_or_refuse(encode_message(message) + extra) is None


def test_refusals_name_the_problem() -> None:
    prepare = encode_message(Prepare(NodeId(1), NodeId(2), Term(3), LogIndex(4)))
    cases = {
        b"": "empty",
        bytes([WIRE_FORMAT + 1]) + prepare[1:]: "format byte 0x52",
        prepare[:-1]: "truncated",
        prepare + b"\x00": "trailing",
    }
    for data, reason in cases.items():
        with pytest.raises(MalformedMessage, match=reason):
            decode_message(data)


def test_raft_and_paxos_refuse_each_others_bytes() -> None:
    vote = raft.VoteRequest(NodeId(1), NodeId(2), Term(3), LogIndex(4), Term(5))
    with pytest.raises(MalformedMessage, match="another engine"):
        decode_message(raft_wire.encode_message(vote))
    prepare = Prepare(NodeId(1), NodeId(2), Term(3), LogIndex(4))
    with pytest.raises(MalformedMessage, match="Raft wire version"):
        raft_wire.decode_message(encode_message(prepare))


def test_a_node_listed_as_voter_and_learner_is_refused() -> None:
    meta = SnapshotMeta(LogIndex(5), Term(2), Membership(frozenset({NodeId(1)}), frozenset()))
    message = InstallSnapshot(NodeId(1), NodeId(2), Term(2), Snapshot(meta, b"state"))
    data = encode_message(message)
    voters_then_learners = bytes([0x91, 1, 0x90])  # voters [1], learners []
    assert voters_then_learners in data
    damaged = data.replace(voters_then_learners, bytes([0x91, 1, 0x91, 1]))
    with pytest.raises(MalformedMessage, match="voter and learner"):
        decode_message(damaged)


def test_negative_and_unknown_values_are_refused() -> None:
    negative = encode_message(TimeoutNow(NodeId(-1), NodeId(2), Term(1)))
    with pytest.raises(MalformedMessage, match=">= 0"):
        decode_message(negative)
    entry = Entry(LogIndex(1), Term(1), EntryKind.NORMAL, b"x")
    accept = encode_message(
        Accept(NodeId(1), NodeId(2), Term(1), LogIndex(0), (entry,), LogIndex(0))
    )
    normal_entry = bytes([0x94, 1, 1, int(EntryKind.NORMAL)])
    assert normal_entry in accept
    with pytest.raises(MalformedMessage, match="enum"):
        decode_message(accept.replace(normal_entry, bytes([0x94, 1, 1, 9])))


def test_an_integer_past_64_bits_is_refused_on_encode() -> None:
    with pytest.raises(MalformedMessage, match="cannot encode TimeoutNow"):
        encode_message(TimeoutNow(NodeId(1), NodeId(2), Term(2**64)))


def test_only_paxos_messages_encode() -> None:
    class Stranger:
        source = NodeId(1)
        target = NodeId(2)

        def size_bytes(self) -> int:
            return 0

    with pytest.raises(MalformedMessage, match="not a Paxos message: Stranger"):
        encode_message(Stranger())
    with pytest.raises(MalformedMessage, match="not a Paxos message: TimeoutNow"):
        encode_message(raft.TimeoutNow(NodeId(1), NodeId(2), Term(1)))
    assert issubclass(MalformedMessage, SynodError)
