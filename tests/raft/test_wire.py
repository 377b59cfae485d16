"""Raft's wire codec: every message round-trips; no byte string makes decode raise anything
but MalformedMessage."""

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from synod.consensus.raft.messages import (
    RAFT_MESSAGE_TYPES,
    AppendEntries,
    AppendResponse,
    CommitNotice,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    RaftMessage,
    ReadIndexRequest,
    ReadIndexResponse,
    TimeoutNow,
    VoteRequest,
    VoteResponse,
)
from synod.consensus.raft.wire import WIRE_VERSION, decode_message, encode_message
from synod.core.engine import Message
from synod.core.errors import MalformedMessage, SynodError
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import Entry, EntryKind, Membership, Snapshot, SnapshotMeta

u64 = st.integers(0, 2**64 - 1)
nodes = u64.map(NodeId)
terms = u64.map(Term)
indexes = u64.map(LogIndex)
entries = st.builds(Entry, indexes, terms, st.sampled_from(EntryKind), st.binary(max_size=64))


@st.composite
def memberships(draw: st.DrawFn) -> Membership:
    members = draw(st.frozensets(nodes, max_size=9))
    learners = draw(st.frozensets(st.sampled_from(sorted(members)))) if members else frozenset()
    return Membership(members - learners, learners)


snapshots = st.builds(
    Snapshot, st.builds(SnapshotMeta, indexes, terms, memberships()), st.binary(max_size=256)
)

per_type: tuple[st.SearchStrategy[RaftMessage], ...] = (
    st.builds(VoteRequest, nodes, nodes, terms, indexes, terms, st.booleans(), st.booleans()),
    st.builds(VoteResponse, nodes, nodes, terms, st.booleans(), st.booleans()),
    st.builds(
        AppendEntries,
        nodes,
        nodes,
        terms,
        indexes,
        terms,
        st.lists(entries, max_size=8).map(tuple),
        indexes,
    ),
    st.builds(
        AppendResponse, nodes, nodes, terms, indexes, st.booleans(), indexes, terms, st.booleans()
    ),
    st.builds(Heartbeat, nodes, nodes, terms, indexes, u64),
    st.builds(HeartbeatResponse, nodes, nodes, terms, u64),
    st.builds(InstallSnapshot, nodes, nodes, terms, snapshots),
    st.builds(TimeoutNow, nodes, nodes, terms),
    st.builds(ReadIndexRequest, nodes, nodes, terms, st.binary(max_size=32)),
    st.builds(ReadIndexResponse, nodes, nodes, terms, st.binary(max_size=32), indexes),
    st.builds(CommitNotice, nodes, nodes, terms, indexes, terms, indexes, u64),
)
messages = st.one_of(*per_type)


def _decode_or_refuse(data: bytes) -> Message | None:
    """The decoded message, or None when decode refused with the typed error."""
    try:
        message = decode_message(data)
    except MalformedMessage as error:
        refusal = error
    else:
        assert isinstance(message, RAFT_MESSAGE_TYPES)
        return message
    assert str(refusal), "a refusal says why"
    return None


@given(messages)
def test_every_message_round_trips(message: RaftMessage) -> None:
    data = encode_message(message)
    assert data[0] == WIRE_VERSION
    assert decode_message(data) == message


def test_the_strategies_cover_every_message_type() -> None:
    assert len(per_type) == len(RAFT_MESSAGE_TYPES)


@pytest.mark.parametrize("index", range(len(RAFT_MESSAGE_TYPES)))
def test_each_type_round_trips(index: int) -> None:
    @given(per_type[index])
    @settings(max_examples=40)
    def round_trip(message: RaftMessage) -> None:
        assert type(message) is RAFT_MESSAGE_TYPES[index]
        assert decode_message(encode_message(message)) == message

    round_trip()


@given(st.binary(max_size=300))
@example(b"")
@example(bytes([WIRE_VERSION]))
@example(bytes([WIRE_VERSION, 0x91, 0x63]))
def test_random_bytes_decode_or_raise_the_typed_error(data: bytes) -> None:
    _decode_or_refuse(data)
    _decode_or_refuse(bytes([WIRE_VERSION]) + data)


@given(messages, st.data())
def test_every_truncation_is_refused(message: RaftMessage, data: st.DataObject) -> None:
    encoded = encode_message(message)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    assert _decode_or_refuse(encoded[:cut]) is None


@given(messages, st.data())
def test_bit_flips_decode_or_raise_the_typed_error(
    message: RaftMessage, data: st.DataObject
) -> None:
    encoded = bytearray(encode_message(message))
    for _ in range(data.draw(st.integers(1, 4))):
        bit = data.draw(st.integers(0, len(encoded) * 8 - 1))
        encoded[bit // 8] ^= 1 << (bit % 8)
    decoded = _decode_or_refuse(bytes(encoded))
    if decoded is not None:
        assert decode_message(encode_message(decoded)) == decoded


@given(messages, st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_refused(message: RaftMessage, extra: bytes) -> None:
    assert _decode_or_refuse(encode_message(message) + extra) is None


def test_refusals_name_the_problem() -> None:
    vote = encode_message(VoteRequest(NodeId(1), NodeId(2), Term(3), LogIndex(4), Term(5)))
    cases = {
        b"": "empty",
        bytes([WIRE_VERSION + 1]) + vote[1:]: "version",
        vote[:-2]: "truncated",
        vote + b"\x00": "trailing",
    }
    for data, reason in cases.items():
        with pytest.raises(MalformedMessage, match=reason):
            decode_message(data)


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
    append = encode_message(
        AppendEntries(NodeId(1), NodeId(2), Term(1), LogIndex(0), Term(0), (entry,), LogIndex(0))
    )
    normal_entry = bytes([0x94, 1, 1, int(EntryKind.NORMAL)])
    assert normal_entry in append
    with pytest.raises(MalformedMessage, match="enum"):
        decode_message(append.replace(normal_entry, bytes([0x94, 1, 1, 9])))


def test_only_raft_messages_encode() -> None:
    class Stranger:
        source = NodeId(1)
        target = NodeId(2)

        def size_bytes(self) -> int:
            return 0

    with pytest.raises(MalformedMessage, match="not a Raft message: Stranger"):
        encode_message(Stranger())
    assert issubclass(MalformedMessage, SynodError)
