"""etcd's gateway JSON conventions: names, int64 strings, base64, enums, omission, errors."""

from __future__ import annotations

import json

import grpc
import pytest

from synod.api import gateway_json as gj
from synod.api.gen.etcdserverpb import rpc_pb2
from synod.api.gen.mvccpb import kv_pb2


def test_output_uses_proto_names_int64_strings_and_base64() -> None:
    response = rpc_pb2.RangeResponse(
        header=rpc_pb2.ResponseHeader(cluster_id=2**63 + 5, member_id=7, revision=3, raft_term=2),
        kvs=[kv_pb2.KeyValue(key=b"foo", create_revision=2, mod_revision=3, version=2, value=b"")],
        count=1,
    )
    assert json.loads(gj.encode(response)) == {
        "header": {
            "cluster_id": str(2**63 + 5),
            "member_id": "7",
            "revision": "3",
            "raft_term": "2",
        },
        "kvs": [{"key": "Zm9v", "create_revision": "2", "mod_revision": "3", "version": "2"}],
        "count": "1",
    }


def test_output_is_compact_and_keeps_etcds_mixed_case_names() -> None:
    status = rpc_pb2.StatusResponse(version="3.4.0", dbSize=10, raftAppliedIndex=4, isLearner=False)
    assert gj.encode(status) == b'{"version":"3.4.0","dbSize":"10","raftAppliedIndex":"4"}'
    grant = rpc_pb2.LeaseGrantResponse(ID=99, TTL=60)
    assert gj.encode(grant) == b'{"ID":"99","TTL":"60"}'


def test_enums_by_name_and_zero_enum_omitted() -> None:
    from synod.api.gen.mvccpb import kv_pb2 as mvcc  # noqa: PLC0415 - local alias for clarity

    put = mvcc.Event(type=mvcc.Event.PUT, kv=mvcc.KeyValue(key=b"a"))
    delete = mvcc.Event(type=mvcc.Event.DELETE, kv=mvcc.KeyValue(key=b"a"))
    assert json.loads(gj.encode(put)) == {"kv": {"key": "YQ=="}}
    assert json.loads(gj.encode(delete)) == {"type": "DELETE", "kv": {"key": "YQ=="}}


def test_a_set_oneof_member_is_written_even_when_zero() -> None:
    compare = rpc_pb2.Compare(
        target=rpc_pb2.Compare.CREATE, key=b"k", create_revision=0, result=rpc_pb2.Compare.EQUAL
    )
    assert json.loads(gj.encode(compare)) == {
        "target": "CREATE",
        "key": "aw==",
        "create_revision": "0",
    }


def test_stream_items_are_wrapped_in_result_lines() -> None:
    line = gj.encode_stream_item(rpc_pb2.LeaseKeepAliveResponse(ID=5, TTL=10))
    assert line == b'{"result":{"ID":"5","TTL":"10"}}\n'


@pytest.mark.parametrize(
    "body",
    [
        {"key": "Zm9v", "range_end": "Zm9w", "limit": 3, "sort_order": 2},
        {"key": "Zm9v", "rangeEnd": "Zm9w", "limit": "3", "sortOrder": "DESCEND"},
        {"key": "Zm9v", "range_end": "Zm9w", "limit": 3, "sort_order": "DESCEND", "junk": [1]},
    ],
)
def test_input_takes_both_names_numbers_or_strings_and_ignores_unknowns(
    body: dict[str, object],
) -> None:
    request = gj.decode(body, rpc_pb2.RangeRequest)
    assert request == rpc_pb2.RangeRequest(
        key=b"foo", range_end=b"fop", limit=3, sort_order=rpc_pb2.RangeRequest.DESCEND
    )


def test_txn_input_with_oneofs_in_either_spelling() -> None:
    body = {
        "compare": [{"target": "CREATE", "key": "Zm9v", "createRevision": "0"}],
        "success": [{"requestPut": {"key": "Zm9v", "value": "YmFy"}}],
        "failure": [{"request_range": {"key": "Zm9v"}}],
    }
    txn = gj.decode(body, rpc_pb2.TxnRequest)
    assert txn.compare[0].WhichOneof("target_union") == "create_revision"
    assert txn.success[0].request_put.value == b"bar"
    assert txn.failure[0].WhichOneof("request") == "request_range"


def test_json_objects_reads_a_stream_of_objects_and_empty_means_one_empty() -> None:
    assert gj.json_objects(b"") == [{}]
    assert gj.json_objects(b"  \n") == [{}]
    assert gj.json_objects(b'{"ID":1}{"ID":2}\n {"ID":"3"}') == [{"ID": 1}, {"ID": 2}, {"ID": "3"}]


@pytest.mark.parametrize("body", [b"{bad", b'{"key": }', b"\xff\xfe"])
def test_bad_json_is_refused(body: bytes) -> None:
    with pytest.raises(gj.BadJson):
        gj.json_objects(body)


@pytest.mark.parametrize(
    "value", [[1, 2], "text", {"limit": "many"}, {"key": 5}, {"sort_order": "SIDEWAYS"}]
)
def test_values_that_do_not_fit_the_message_are_refused(value: object) -> None:
    with pytest.raises(gj.BadJson):
        gj.decode(value, rpc_pb2.RangeRequest)


def test_unary_error_body_has_etcds_keys_in_etcds_order() -> None:
    body = gj.error_body(grpc.StatusCode.NOT_FOUND, "etcdserver: requested lease not found")
    assert body == (
        b'{"error":"etcdserver: requested lease not found",'
        b'"message":"etcdserver: requested lease not found","code":5}'
    )


def test_stream_error_line() -> None:
    line = gj.stream_error_line(grpc.StatusCode.UNAVAILABLE, "etcdserver: no leader")
    assert json.loads(line) == {
        "error": {
            "grpc_code": 14,
            "http_code": 503,
            "message": "etcdserver: no leader",
            "http_status": "Service Unavailable",
        }
    }
    assert line.endswith(b"\n")


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 400),
        (grpc.StatusCode.OUT_OF_RANGE, 400),
        (grpc.StatusCode.NOT_FOUND, 404),
        (grpc.StatusCode.FAILED_PRECONDITION, 412),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
        (grpc.StatusCode.UNAVAILABLE, 503),
        (grpc.StatusCode.UNKNOWN, 500),
        (grpc.StatusCode.DATA_LOSS, 500),
        (grpc.StatusCode.UNAUTHENTICATED, 401),
        (grpc.StatusCode.PERMISSION_DENIED, 403),
        (grpc.StatusCode.CANCELLED, 408),
    ],
)
def test_http_status_of_grpc_codes(code: grpc.StatusCode, status: int) -> None:
    assert gj.HTTP_STATUS_OF[code] == status


def test_every_grpc_code_has_an_http_status() -> None:
    assert set(gj.HTTP_STATUS_OF) == set(grpc.StatusCode)
