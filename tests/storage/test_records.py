"""The record codec: every record survives a round trip; no byte string makes decode raise."""

from hypothesis import given
from hypothesis import strategies as st

from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import Entry, EntryKind, HardState, Membership, Snapshot, SnapshotMeta
from synod.storage.records import (
    HEADER_BYTES,
    Fault,
    SegmentHeader,
    SnapshotMarker,
    decode,
    encode,
    valid_record_after,
)
from synod.storage.snapshot_file import decode_snapshot, encode_snapshot

u64 = st.integers(0, 2**64 - 1)
indexes = st.integers(1, 2**64 - 1).map(LogIndex)
records = st.one_of(
    st.builds(SegmentHeader, u64, u64.map(LogIndex)),
    st.builds(Entry, indexes, u64.map(Term), st.sampled_from(EntryKind), st.binary(max_size=300)),
    st.builds(HardState, u64.map(Term), u64.map(NodeId), u64.map(LogIndex)),
    st.builds(SnapshotMarker, u64.map(LogIndex), u64.map(Term), st.booleans()),
)


@given(records, st.binary(max_size=20))
def test_records_round_trip_at_any_offset(record: object, prefix: bytes) -> None:
    data = encode(record)  # type: ignore[arg-type]
    assert decode(prefix + data, len(prefix)) == (record, len(prefix) + len(data))


@given(st.binary(max_size=200), st.integers(0, 200))
def test_decode_never_raises_on_arbitrary_bytes(data: bytes, offset: int) -> None:
    decode(data, min(offset, len(data)))
    valid_record_after(data, 0)


@given(records, st.integers(0, 400), st.integers(0, 7))
def test_any_single_bit_flip_is_detected(record: object, position: int, bit: int) -> None:
    data = bytearray(encode(record))  # type: ignore[arg-type]
    data[position % len(data)] ^= 1 << bit
    assert isinstance(decode(bytes(data), 0), Fault)


def test_zeros_and_short_headers_are_told_apart() -> None:
    assert decode(bytes(64), 0) is Fault.ZEROS
    assert decode(bytes(HEADER_BYTES - 1), 0) is Fault.ZEROS
    assert decode(b"\x05" + bytes(HEADER_BYTES - 2), 0) is Fault.SHORT
    assert decode(encode(HardState())[:-1], 0) is Fault.SHORT


node_sets = st.frozensets(st.integers(1, 50).map(NodeId), max_size=5)


@given(indexes, u64.map(Term), node_sets, node_sets, st.binary(max_size=100))
def test_snapshots_round_trip(
    index: LogIndex, term: Term, voters: frozenset[NodeId], others: frozenset[NodeId], data: bytes
) -> None:
    membership = Membership(voters, others - voters)
    snapshot = Snapshot(SnapshotMeta(index, term, membership), data)
    assert decode_snapshot("snapshot", encode_snapshot(snapshot)) == snapshot
