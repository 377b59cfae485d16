"""The log encoding of keyspace requests: round trips, determinism, and refusal of bad bytes."""

from __future__ import annotations

import contextlib

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from synod.kv.commands import (
    FORMAT_VERSION,
    TXN_DEPTH_MAX,
    CommandDecodeError,
    KvRequest,
    LeaseExpireRequest,
    decode,
    encode,
)
from synod.kv.mvcc import (
    CompactionRequest,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    EmptyOp,
    LeaseGrantRequest,
    LeaseRevokeRequest,
    PutRequest,
    RangeRequest,
    RequestOp,
    SortOrder,
    SortTarget,
    TxnRequest,
)

int64s = st.integers(-(1 << 63), (1 << 63) - 1)
small_bytes = st.binary(max_size=12)

ranges = st.builds(
    RangeRequest,
    small_bytes,
    small_bytes,
    int64s,
    int64s,
    st.sampled_from(SortOrder),
    st.sampled_from(SortTarget),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    int64s,
    int64s,
    int64s,
    int64s,
)
puts = st.builds(
    PutRequest, small_bytes, small_bytes, int64s, st.booleans(), st.booleans(), st.booleans()
)
deletes = st.builds(DeleteRangeRequest, small_bytes, small_bytes, st.booleans())
compares = st.builds(
    Compare,
    small_bytes,
    st.sampled_from(CompareTarget),
    st.sampled_from(CompareResult),
    st.one_of(int64s, small_bytes),
    small_bytes,
)


def _txns(ops: st.SearchStrategy[RequestOp]) -> st.SearchStrategy[TxnRequest]:
    return st.builds(
        TxnRequest,
        st.lists(compares, max_size=3).map(tuple),
        st.lists(ops, max_size=3).map(tuple),
        st.lists(ops, max_size=3).map(tuple),
    )


request_ops: st.SearchStrategy[RequestOp] = st.recursive(
    st.one_of(ranges, puts, deletes, st.just(EmptyOp())), _txns, max_leaves=12
)
requests: st.SearchStrategy[KvRequest] = st.one_of(
    ranges,
    puts,
    deletes,
    _txns(request_ops),
    st.builds(CompactionRequest, int64s, st.booleans()),
    st.builds(LeaseGrantRequest, int64s, int64s),
    st.builds(LeaseRevokeRequest, int64s),
    st.builds(LeaseExpireRequest, int64s),
)


@given(requests)
def test_every_request_round_trips(request):
    data = encode(request)
    assert data[0] == FORMAT_VERSION
    assert decode(data) == request
    assert encode(decode(data)) == data  # one request, one byte string


@given(st.binary(max_size=64))
def test_arbitrary_bytes_decode_or_raise_the_typed_error(data):
    try:
        request = decode(data)
    except CommandDecodeError:
        return
    assert decode(encode(request)) == request


@given(requests, st.data())
def test_a_flipped_byte_never_escapes_as_another_error(request, data):
    encoded = bytearray(encode(request))
    position = data.draw(st.integers(0, len(encoded) - 1))
    encoded[position] ^= data.draw(st.integers(1, 255))
    with contextlib.suppress(CommandDecodeError):
        decode(bytes(encoded))


def _raw(tree: object) -> bytes:
    return bytes([FORMAT_VERSION]) + msgspec.msgpack.encode(tree)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "unknown command format"),
        (b"\x07" + msgspec.msgpack.encode([2, b"k", b"v", 0, False, False, False]), "format"),
        (bytes([FORMAT_VERSION]) + b"\xc1", "not msgpack"),
        (_raw([2, b"k", b"v", 0, False, False, False]) + b"\x00", "not msgpack"),
        (_raw({"tag": 2}), "non-empty array"),
        (_raw([]), "non-empty array"),
        (_raw([99]), "unknown request tag"),
        (_raw([True]), "unknown request tag"),
        (_raw([2, b"k", b"v", 0, False, False]), "needs 6 fields"),
        (_raw([2, "k", b"v", 0, False, False, False]), "expected bytes"),
        (_raw([2, b"k", b"v", True, False, False, False]), "expected an integer"),
        (_raw([2, b"k", b"v", 0, 1, False, False]), "expected a bool"),
        (_raw([7, 1 << 63]), "outside int64"),
        (_raw([1, b"k", b"", 0, 0, 5, 0, False, False, False, 0, 0, 0, 0]), "not a SortOrder"),
        (_raw([4, [[b"k", 9, 0, 0, b""]], [], []]), "not a CompareTarget"),
        (_raw([4, [], [[5, 1, False]], []]), "cannot be a txn op"),
        (_raw([4, [], 3, []]), "expected an array"),
        (_raw([9]), "not a top-level request"),
    ],
)
def test_malformed_commands_raise_a_typed_error_that_says_why(data, message):
    with pytest.raises(CommandDecodeError, match=message):
        decode(data)


def test_txns_nested_too_deep_are_refused():
    def nested(depth: int) -> TxnRequest:
        txn = TxnRequest()
        for _ in range(depth - 1):
            txn = TxnRequest(success=(txn,))
        return txn

    assert decode(encode(nested(TXN_DEPTH_MAX))) == nested(TXN_DEPTH_MAX)
    with pytest.raises(CommandDecodeError, match="nested deeper"):
        decode(encode(nested(TXN_DEPTH_MAX + 1)))


@given(puts)
def test_the_put_fast_path_writes_and_reads_the_general_format(put):
    general = _raw(
        [2, put.key, put.value, put.lease, put.prev_kv, put.ignore_value, put.ignore_lease]
    )
    assert encode(put) == general
    assert decode(general) == put


@pytest.mark.parametrize(
    "tree",
    [
        [2, b"k", "text", 0, False, False, False],
        [2, b"k", b"v", 1 << 63, False, False, False],
        [2, b"k", b"v", 0, 1, False, False],
        [2, b"k", b"v", 0, False, False],
        [True, b"k", b"v", 0, False, False, False],
    ],
)
def test_a_malformed_put_still_gets_the_typed_error(tree):
    with pytest.raises(CommandDecodeError):
        decode(_raw(tree))
