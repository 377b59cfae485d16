"""Both engines' wire codecs (synod.consensus.wire): every message round-trips; no byte
string makes decode raise anything but MalformedMessage, and each refusal names its engine
and the problem; each engine refuses the other's bytes and messages."""

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from synod.core.engine import Message
from synod.core.errors import MalformedMessage, SynodError
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import Entry, EntryKind, Membership, Snapshot, SnapshotMeta
from tests.consensus.wire_cases import CASES, PAXOS, RAFT, WireCase

engines = pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])


def _decode_or_refuse(case: WireCase, data: bytes) -> Message | None:
    """The decoded message, or None when decode refused with the typed error."""
    try:
        message = case.codec.decode(data)
    except MalformedMessage as error:
        refusal = error
    else:
        assert isinstance(message, case.message_types)
        return message
    assert str(refusal), "a refusal says why"
    return None


@engines
@given(data=st.data())
def test_every_message_round_trips(case: WireCase, data: st.DataObject) -> None:
    message = data.draw(case.messages)
    encoded = case.codec.encode(message)
    assert encoded[0] == case.codec.format_byte
    assert case.codec.decode(encoded) == message


@engines
def test_the_encoding_is_pinned(case: WireCase) -> None:
    assert case.pinned
    for message, text in case.pinned:
        data = bytes.fromhex(text)
        assert data[0] == case.codec.format_byte
        assert case.codec.encode(message) == data
        assert case.codec.decode(data) == message


@engines
def test_the_strategies_cover_every_message_type(case: WireCase) -> None:
    assert len(case.per_type) == len(case.message_types)


@pytest.mark.parametrize(
    ("case", "index"),
    [(case, index) for case in CASES for index in range(len(case.message_types))],
    ids=[f"{case.name}-{kind.__name__}" for case in CASES for kind in case.message_types],
)
def test_each_type_round_trips(case: WireCase, index: int) -> None:
    @given(case.per_type[index])
    @settings(max_examples=40)
    def round_trip(message: Message) -> None:
        assert type(message) is case.message_types[index]
        assert case.codec.decode(case.codec.encode(message)) == message

    round_trip()


@engines
@given(data=st.binary(max_size=300))
@example(data=b"")
@example(data=bytes([0x91, 0x63]))
def test_random_bytes_decode_or_raise_the_typed_error(case: WireCase, data: bytes) -> None:
    _decode_or_refuse(case, data)
    _decode_or_refuse(case, bytes([case.codec.format_byte]) + data)


@engines
@given(data=st.data())
def test_every_truncation_is_refused(case: WireCase, data: st.DataObject) -> None:
    encoded = case.codec.encode(data.draw(case.messages))
    cut = data.draw(st.integers(0, len(encoded) - 1))
    assert _decode_or_refuse(case, encoded[:cut]) is None


@engines
@given(data=st.data())
def test_bit_flips_decode_or_raise_the_typed_error(case: WireCase, data: st.DataObject) -> None:
    encoded = bytearray(case.codec.encode(data.draw(case.messages)))
    for _ in range(data.draw(st.integers(1, 4))):
        bit = data.draw(st.integers(0, len(encoded) * 8 - 1))
        encoded[bit // 8] ^= 1 << (bit % 8)
    decoded = _decode_or_refuse(case, bytes(encoded))
    if decoded is not None:
        assert case.codec.decode(case.codec.encode(decoded)) == decoded


@engines
@given(data=st.data(), extra=st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_refused(case: WireCase, data: st.DataObject, extra: bytes) -> None:
    encoded = case.codec.encode(data.draw(case.messages))
    assert _decode_or_refuse(case, encoded + extra) is None


@engines
def test_refusals_name_the_engine_and_the_problem(case: WireCase) -> None:
    name, first = case.name, case.codec.format_byte
    message = case.codec.encode(case.timeout_now(NodeId(1), NodeId(2), Term(3)))
    cases = {
        b"": f"^empty {name} message$",
        bytes([first + 1]) + message[1:]: (
            rf"^{name} wire format byte {first + 1:#04x} \(this node speaks {first:#04x};"
        ),
        message[:-1]: f"^malformed {name} message: .*truncated",
        message + b"\x00": f"^malformed {name} message: .*trailing",
    }
    for data, reason in cases.items():
        with pytest.raises(MalformedMessage, match=reason):
            case.codec.decode(data)


@pytest.mark.parametrize(
    ("case", "other"), [(RAFT, PAXOS), (PAXOS, RAFT)], ids=["Raft-Paxos", "Paxos-Raft"]
)
def test_each_engine_refuses_the_others_bytes_and_messages(case: WireCase, other: WireCase) -> None:
    assert case.codec.format_byte != other.codec.format_byte
    foreign = other.timeout_now(NodeId(1), NodeId(2), Term(3))
    refusal = (
        f"{case.name} wire format byte {other.codec.format_byte:#04x} (this node speaks"
        f" {case.codec.format_byte:#04x}; a peer running another engine or version?)"
    )
    with pytest.raises(MalformedMessage, match=f"^{re.escape(refusal)}$"):
        case.codec.decode(other.codec.encode(foreign))
    with pytest.raises(MalformedMessage, match=f"^not a {case.name} message: TimeoutNow$"):
        case.codec.encode(foreign)


@engines
def test_a_node_listed_as_voter_and_learner_is_refused(case: WireCase) -> None:
    meta = SnapshotMeta(LogIndex(5), Term(2), Membership(frozenset({NodeId(1)}), frozenset()))
    data = case.codec.encode(case.carrying_snapshot(Snapshot(meta, b"state")))
    voters_then_learners = bytes([0x91, 1, 0x90])  # voters [1], learners []
    assert voters_then_learners in data
    damaged = data.replace(voters_then_learners, bytes([0x91, 1, 0x91, 1]))
    with pytest.raises(MalformedMessage, match=r"lists \[1\] as voter and learner"):
        case.codec.decode(damaged)


@engines
def test_negative_and_unknown_values_are_refused(case: WireCase) -> None:
    negative = case.codec.encode(case.timeout_now(NodeId(-1), NodeId(2), Term(1)))
    with pytest.raises(MalformedMessage, match=f"^malformed {case.name} message: .*>= 0"):
        case.codec.decode(negative)
    entry = Entry(LogIndex(1), Term(1), EntryKind.NORMAL, b"x")
    carrying = case.codec.encode(case.carrying_entries((entry,)))
    normal_entry = bytes([0x94, 1, 1, int(EntryKind.NORMAL)])
    assert normal_entry in carrying
    with pytest.raises(MalformedMessage, match=f"^malformed {case.name} message: .*enum"):
        case.codec.decode(carrying.replace(normal_entry, bytes([0x94, 1, 1, 9])))


@engines
def test_an_integer_past_64_bits_is_refused_on_encode(case: WireCase) -> None:
    too_big = f"^cannot encode TimeoutNow as a {case.name} message: "
    with pytest.raises(MalformedMessage, match=too_big):
        case.codec.encode(case.timeout_now(NodeId(1), NodeId(2), Term(2**64)))
    assert case.codec.encode(case.timeout_now(NodeId(1), NodeId(2), Term(2**64 - 1)))


@engines
def test_only_the_engines_messages_encode(case: WireCase) -> None:
    class Stranger:
        source = NodeId(1)
        target = NodeId(2)

        def size_bytes(self) -> int:
            return 0

    with pytest.raises(MalformedMessage, match=f"^not a {case.name} message: Stranger$"):
        case.codec.encode(Stranger())
    assert issubclass(MalformedMessage, SynodError)
