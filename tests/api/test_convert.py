"""Conversion between protobuf messages and the keyspace's dataclasses: round trips both ways
(through the wire bytes too), Compare's oneof rules, headers, and refusals."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

import pytest
from google.protobuf.message import Message
from hypothesis import given
from hypothesis import strategies as st

from synod.api import convert
from synod.api.convert import LeaseLeasesResponse, ServerIdentity
from synod.api.errors import MissingOneof, UnknownEnumValue
from synod.api.gen.etcdserverpb import rpc_pb2
from synod.api.gen.mvccpb import kv_pb2
from synod.kv import mvcc

M = TypeVar("M", bound=Message)
SortOrder = rpc_pb2.RangeRequest.SortOrder.ValueType
SortTarget = rpc_pb2.RangeRequest.SortTarget.ValueType
Result = rpc_pb2.Compare.CompareResult.ValueType
Target = rpc_pb2.Compare.CompareTarget.ValueType

keys = st.binary(max_size=8)
int64s = st.integers(-(1 << 63), (1 << 63) - 1)
revisions = st.integers(0, 1 << 40)
identities = st.builds(
    ServerIdentity,
    cluster_id=st.integers(0, (1 << 64) - 1),
    member_id=st.integers(0, (1 << 64) - 1),
    raft_term=st.integers(0, (1 << 64) - 1),
)

key_values = st.builds(
    mvcc.KeyValue,
    key=keys,
    create_revision=revisions,
    mod_revision=revisions,
    version=revisions,
    value=keys,
    lease=int64s,
)
events = st.builds(
    mvcc.Event,
    type=st.sampled_from(mvcc.EventType),
    kv=key_values,
    prev_kv=st.none() | key_values,
)
range_requests = st.builds(
    mvcc.RangeRequest,
    key=keys,
    range_end=keys,
    limit=int64s,
    revision=int64s,
    sort_order=st.sampled_from(mvcc.SortOrder),
    sort_target=st.sampled_from(mvcc.SortTarget),
    serializable=st.booleans(),
    keys_only=st.booleans(),
    count_only=st.booleans(),
    min_mod_revision=int64s,
    max_mod_revision=int64s,
    min_create_revision=int64s,
    max_create_revision=int64s,
)
put_requests = st.builds(
    mvcc.PutRequest,
    key=keys,
    value=keys,
    lease=int64s,
    prev_kv=st.booleans(),
    ignore_value=st.booleans(),
    ignore_lease=st.booleans(),
)
delete_requests = st.builds(
    mvcc.DeleteRangeRequest, key=keys, range_end=keys, prev_kv=st.booleans()
)


@st.composite
def compares(draw: st.DrawFn) -> mvcc.Compare:
    target = draw(st.sampled_from(mvcc.CompareTarget))
    operand: int | bytes = draw(keys) if target is mvcc.CompareTarget.VALUE else draw(int64s)
    return mvcc.Compare(
        key=draw(keys),
        target=target,
        result=draw(st.sampled_from(mvcc.CompareResult)),
        operand=operand,
        range_end=draw(keys),
    )


def txns(ops: st.SearchStrategy[Any]) -> st.SearchStrategy[mvcc.TxnRequest]:
    return st.builds(
        mvcc.TxnRequest,
        compare=st.lists(compares(), max_size=3).map(tuple),
        success=st.lists(ops, max_size=3).map(tuple),
        failure=st.lists(ops, max_size=3).map(tuple),
    )


request_ops = st.recursive(
    st.one_of(range_requests, put_requests, delete_requests, st.just(mvcc.EmptyOp())),
    txns,
    max_leaves=12,
)
txn_requests = txns(request_ops)

range_responses = st.builds(
    mvcc.RangeResponse,
    revision=revisions,
    kvs=st.lists(key_values, max_size=3).map(tuple),
    more=st.booleans(),
    count=revisions,
)
put_responses = st.builds(mvcc.PutResponse, revision=revisions, prev_kv=st.none() | key_values)
delete_responses = st.builds(
    mvcc.DeleteRangeResponse,
    revision=revisions,
    deleted=revisions,
    prev_kvs=st.lists(key_values, max_size=3).map(tuple),
)


def txn_responses(nested: st.SearchStrategy[Any]) -> st.SearchStrategy[mvcc.TxnResponse]:
    return st.builds(
        mvcc.TxnResponse,
        revision=revisions,
        succeeded=st.booleans(),
        responses=st.lists(nested, max_size=3).map(tuple),
    ).map(with_nested_revisions)


def with_nested_revisions(response: mvcc.TxnResponse) -> mvcc.TxnResponse:
    """Every response inside a txn has the txn's revision, as the keyspace makes them."""
    nested = tuple(
        with_nested_revisions(replace(inner, revision=response.revision))
        if isinstance(inner, mvcc.TxnResponse)
        else replace(inner, revision=response.revision)
        for inner in response.responses
    )
    return replace(response, responses=nested)


response_ops = st.recursive(
    st.one_of(range_responses, put_responses, delete_responses), txn_responses, max_leaves=10
)


def through_the_wire(message: M) -> M:
    decoded = type(message)()
    decoded.ParseFromString(message.SerializeToString())
    return decoded


@given(events)
def test_events_and_key_values_round_trip(event: mvcc.Event) -> None:
    assert convert.event_from_pb(through_the_wire(convert.event_to_pb(event))) == event


@given(txn_requests)
def test_txn_requests_round_trip_with_every_nested_op(request: mvcc.TxnRequest) -> None:
    message = through_the_wire(convert.txn_request_to_pb(request))
    assert convert.txn_request_from_pb(message) == request


@given(request_ops)
def test_request_ops_round_trip(op: mvcc.RequestOp) -> None:
    assert convert.request_op_from_pb(through_the_wire(convert.request_op_to_pb(op))) == op


@given(st.builds(mvcc.CompactionRequest, revision=int64s, physical=st.booleans()))
def test_compaction_requests_round_trip(request: mvcc.CompactionRequest) -> None:
    message = through_the_wire(convert.compaction_request_to_pb(request))
    assert convert.compaction_request_from_pb(message) == request


@given(txn_responses(response_ops), identities)
def test_txn_responses_round_trip(response: mvcc.TxnResponse, identity: ServerIdentity) -> None:
    message = through_the_wire(convert.txn_response_to_pb(response, identity))
    assert convert.txn_response_from_pb(message) == response
    assert convert.identity_from_pb(message.header) == identity


@given(response_ops, identities)
def test_kv_responses_round_trip(response: mvcc.ResponseOp, identity: ServerIdentity) -> None:
    match response:
        case mvcc.RangeResponse():
            range_message = convert.range_response_to_pb(response, identity)
            assert convert.range_response_from_pb(through_the_wire(range_message)) == response
        case mvcc.PutResponse():
            put_message = convert.put_response_to_pb(response, identity)
            assert convert.put_response_from_pb(through_the_wire(put_message)) == response
        case mvcc.DeleteRangeResponse():
            delete_message = convert.delete_range_response_to_pb(response, identity)
            decoded = convert.delete_range_response_from_pb(through_the_wire(delete_message))
            assert decoded == response
        case mvcc.TxnResponse():
            txn_message = convert.txn_response_to_pb(response, identity)
            assert convert.txn_response_from_pb(through_the_wire(txn_message)) == response


@given(st.builds(mvcc.CompactionResponse, revision=revisions), identities)
def test_compaction_responses_round_trip(
    response: mvcc.CompactionResponse, identity: ServerIdentity
) -> None:
    message = through_the_wire(convert.compaction_response_to_pb(response, identity))
    assert convert.compaction_response_from_pb(message) == response


lease_ids = st.integers(0, (1 << 63) - 1)


@given(
    st.builds(mvcc.LeaseGrantRequest, ttl_seconds=int64s, id=lease_ids),
    st.builds(mvcc.LeaseGrantResponse, revision=revisions, id=lease_ids, ttl_seconds=int64s),
    identities,
)
def test_lease_grant_round_trips(
    request: mvcc.LeaseGrantRequest, response: mvcc.LeaseGrantResponse, identity: ServerIdentity
) -> None:
    request_message = through_the_wire(convert.lease_grant_request_to_pb(request))
    assert convert.lease_grant_request_from_pb(request_message) == request
    response_message = through_the_wire(convert.lease_grant_response_to_pb(response, identity))
    assert convert.lease_grant_response_from_pb(response_message) == response


@given(lease_ids, revisions, identities)
def test_lease_revoke_and_keep_alive_round_trip(
    lease_id: int, revision: int, identity: ServerIdentity
) -> None:
    revoke = mvcc.LeaseRevokeRequest(lease_id)
    assert convert.lease_revoke_request_from_pb(convert.lease_revoke_request_to_pb(revoke)) == (
        revoke
    )
    revoked = mvcc.LeaseRevokeResponse(revision)
    message = through_the_wire(convert.lease_revoke_response_to_pb(revoked, identity))
    assert convert.lease_revoke_response_from_pb(message) == revoked
    keep = mvcc.LeaseKeepAliveRequest(lease_id)
    keep_message = through_the_wire(convert.lease_keep_alive_request_to_pb(keep))
    assert convert.lease_keep_alive_request_from_pb(keep_message) == keep
    kept = mvcc.LeaseKeepAliveResponse(revision, lease_id, 60)
    kept_message = through_the_wire(convert.lease_keep_alive_response_to_pb(kept, identity))
    assert convert.lease_keep_alive_response_from_pb(kept_message) == kept


@given(
    st.builds(mvcc.LeaseTimeToLiveRequest, id=lease_ids, keys=st.booleans()),
    st.builds(
        mvcc.LeaseTimeToLiveResponse,
        revision=revisions,
        id=lease_ids,
        ttl_seconds=int64s,
        granted_ttl_seconds=int64s,
        keys=st.lists(keys, max_size=3).map(tuple),
    ),
    st.builds(LeaseLeasesResponse, revision=revisions, ids=st.lists(lease_ids).map(tuple)),
    identities,
)
def test_lease_time_to_live_and_leases_round_trip(
    request: mvcc.LeaseTimeToLiveRequest,
    response: mvcc.LeaseTimeToLiveResponse,
    leases: LeaseLeasesResponse,
    identity: ServerIdentity,
) -> None:
    request_message = through_the_wire(convert.lease_time_to_live_request_to_pb(request))
    assert convert.lease_time_to_live_request_from_pb(request_message) == request
    response_message = convert.lease_time_to_live_response_to_pb(response, identity)
    assert convert.lease_time_to_live_response_from_pb(through_the_wire(response_message)) == (
        response
    )
    leases_message = through_the_wire(convert.lease_leases_response_to_pb(leases, identity))
    assert convert.lease_leases_response_from_pb(leases_message) == leases


# --------------------------------------------------------------- rules, not just round trips


def test_a_full_header_carries_the_identity_and_a_nested_one_only_the_revision() -> None:
    identity = ServerIdentity(cluster_id=11, member_id=22, raft_term=3)
    response = mvcc.TxnResponse(
        revision=9,
        succeeded=True,
        responses=(mvcc.PutResponse(9), mvcc.TxnResponse(9, False, (mvcc.PutResponse(9),))),
    )
    message = convert.txn_response_to_pb(response, identity)
    assert message.header == rpc_pb2.ResponseHeader(
        cluster_id=11, member_id=22, revision=9, raft_term=3
    )
    only_revision = rpc_pb2.ResponseHeader(revision=9)
    assert message.responses[0].response_put.header == only_revision
    nested_txn = message.responses[1].response_txn
    assert nested_txn.HasField("header")
    assert nested_txn.header == rpc_pb2.ResponseHeader()  # etcd 3.4 sends it empty
    assert nested_txn.responses[0].response_put.header == only_revision
    assert convert.txn_response_from_pb(message) == response


def test_an_identity_beyond_uint64_is_refused() -> None:
    with pytest.raises(ValueError, match="cluster_id"):
        ServerIdentity(cluster_id=1 << 64, member_id=0, raft_term=0)


@pytest.mark.parametrize(
    ("member", "target", "expected"),
    [
        ("version", mvcc.CompareTarget.VERSION, 7),
        ("mod_revision", mvcc.CompareTarget.MOD, 7),
        ("create_revision", mvcc.CompareTarget.CREATE, 7),
        ("lease", mvcc.CompareTarget.LEASE, 7),
        # A member that does not match the target counts as zero (etcd 3.4 does the same:
        # checked against the real binary in test_etcd_differential).
        ("mod_revision", mvcc.CompareTarget.VERSION, 0),
        ("version", mvcc.CompareTarget.LEASE, 0),
        (None, mvcc.CompareTarget.CREATE, 0),
    ],
)
def test_compare_reads_the_member_matching_its_target(
    member: str | None, target: mvcc.CompareTarget, expected: int
) -> None:
    message = rpc_pb2.Compare(key=b"k", target=Target(target))
    if member is not None:
        setattr(message, member, 7)
    assert convert.compare_from_pb(message).operand == expected


def test_a_value_compare_without_its_member_compares_with_empty_bytes() -> None:
    message = rpc_pb2.Compare(key=b"k", target=rpc_pb2.Compare.VALUE, version=3)
    assert convert.compare_from_pb(message).operand == b""


def test_a_zero_operand_is_sent_as_a_present_member() -> None:
    compare = mvcc.Compare(b"k", mvcc.CompareTarget.CREATE, mvcc.CompareResult.EQUAL, 0)
    message = convert.compare_to_pb(compare)
    assert message.WhichOneof("target_union") == "create_revision"


def test_an_operand_of_the_wrong_kind_is_left_out() -> None:
    compare = mvcc.Compare(b"k", mvcc.CompareTarget.VALUE, mvcc.CompareResult.EQUAL, 5)
    assert convert.compare_to_pb(compare).WhichOneof("target_union") is None


def test_an_empty_request_op_stays_empty_both_ways() -> None:
    assert convert.request_op_from_pb(rpc_pb2.RequestOp()) == mvcc.EmptyOp()
    assert convert.request_op_to_pb(mvcc.EmptyOp()).WhichOneof("request") is None


def test_an_empty_response_op_is_refused() -> None:
    with pytest.raises(MissingOneof, match="ResponseOp has no response set"):
        convert.response_op_from_pb(rpc_pb2.ResponseOp(), 0)


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (rpc_pb2.RangeRequest(key=b"k", sort_order=SortOrder(7)), "RangeRequest.sort_order"),
        (rpc_pb2.RangeRequest(key=b"k", sort_target=SortTarget(9)), "RangeRequest.sort_target"),
    ],
)
def test_unknown_enum_values_are_refused(message: rpc_pb2.RangeRequest, field: str) -> None:
    with pytest.raises(UnknownEnumValue) as raised:
        convert.range_request_from_pb(message)
    assert raised.value.field == field


def test_unknown_compare_enums_are_refused() -> None:
    with pytest.raises(UnknownEnumValue, match=r"Compare\.result"):
        convert.compare_from_pb(rpc_pb2.Compare(key=b"k", result=Result(9)))
    with pytest.raises(UnknownEnumValue, match=r"Compare\.target"):
        convert.compare_from_pb(rpc_pb2.Compare(key=b"k", target=Target(9)))
    with pytest.raises(UnknownEnumValue, match=r"Event\.type"):
        convert.event_from_pb(kv_pb2.Event(type=kv_pb2.Event.EventType.ValueType(4)))


def test_responses_of_a_real_store_survive_the_wire() -> None:
    """Responses the keyspace really produces (prev_kv, nested txn, deletes) convert back equal."""
    store = mvcc.MvccStore()
    store.lease_grant(mvcc.LeaseGrantRequest(60, 5))
    store.put(mvcc.PutRequest(b"a", b"1", lease=5))
    store.put(mvcc.PutRequest(b"b", b"x"))
    txn = mvcc.TxnRequest(
        compare=(mvcc.Compare(b"a", mvcc.CompareTarget.VALUE, mvcc.CompareResult.EQUAL, b"1"),),
        success=(
            mvcc.PutRequest(b"a", b"2", prev_kv=True),
            mvcc.TxnRequest(success=(mvcc.DeleteRangeRequest(b"b", prev_kv=True),)),
            mvcc.RangeRequest(b"a", b"\x00"),
        ),
    )
    identity = ServerIdentity(1, 2, 3)
    response = store.txn(convert.txn_request_from_pb(convert.txn_request_to_pb(txn)))
    assert response.succeeded
    message = through_the_wire(convert.txn_response_to_pb(response, identity))
    assert convert.txn_response_from_pb(message) == response
    assert message.responses[0].response_put.prev_kv.value == b"1"
    deleted = message.responses[1].response_txn.responses[0].response_delete_range
    assert deleted.deleted == 1
    assert deleted.prev_kvs[0].value == b"x"
    assert len(message.responses[2].response_range.kvs) == 1
    ttl = store.lease_time_to_live(mvcc.LeaseTimeToLiveRequest(5, keys=True))
    ttl_message = through_the_wire(convert.lease_time_to_live_response_to_pb(ttl, identity))
    assert convert.lease_time_to_live_response_from_pb(ttl_message) == ttl
