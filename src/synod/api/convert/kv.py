"""etcd's KV service (Range, Put, DeleteRange, Txn, Compact) between protobuf and
``synod.kv.mvcc``, requests and responses, both ways.

Rules:
- A Compare's operand is the oneof member that matches its target (``value`` for VALUE,
  ``version`` for VERSION...). A request whose member does not match the target compares
  against zero (or empty bytes), as etcd does, so the operand read in is then 0 / b"".
  Going out, the matching member is always set, zero included (clientv3 does the same).
- A RequestOp with no member becomes ``EmptyOp`` (the keyspace answers it as etcd does).
- Headers: see ``common``. Range, Put and DeleteRange responses nested in a txn carry only
  the txn's revision; a nested TxnResponse carries an empty header (etcd 3.4 sends it so,
  checked against the binary), and reading one back it takes the enclosing txn's revision,
  which is what the keyspace gives every response inside a txn.
"""

from __future__ import annotations

from synod.api.convert.common import (
    ServerIdentity,
    enum_from_pb,
    header_to_pb,
    key_value_from_pb,
    key_value_to_pb,
)
from synod.api.errors import MissingOneof
from synod.api.gen.etcdserverpb import rpc_pb2
from synod.kv import mvcc

# The oneof member that carries the operand, per compare target.
_OPERAND_MEMBER = {
    mvcc.CompareTarget.VERSION: "version",
    mvcc.CompareTarget.CREATE: "create_revision",
    mvcc.CompareTarget.MOD: "mod_revision",
    mvcc.CompareTarget.VALUE: "value",
    mvcc.CompareTarget.LEASE: "lease",
}

# ---------------------------------------------------------------------------- requests in


def range_request_from_pb(request: rpc_pb2.RangeRequest) -> mvcc.RangeRequest:
    return mvcc.RangeRequest(
        key=request.key,
        range_end=request.range_end,
        limit=request.limit,
        revision=request.revision,
        sort_order=enum_from_pb(mvcc.SortOrder, request.sort_order, "RangeRequest.sort_order"),
        sort_target=enum_from_pb(mvcc.SortTarget, request.sort_target, "RangeRequest.sort_target"),
        serializable=request.serializable,
        keys_only=request.keys_only,
        count_only=request.count_only,
        min_mod_revision=request.min_mod_revision,
        max_mod_revision=request.max_mod_revision,
        min_create_revision=request.min_create_revision,
        max_create_revision=request.max_create_revision,
    )


def put_request_from_pb(request: rpc_pb2.PutRequest) -> mvcc.PutRequest:
    return mvcc.PutRequest(
        key=request.key,
        value=request.value,
        lease=request.lease,
        prev_kv=request.prev_kv,
        ignore_value=request.ignore_value,
        ignore_lease=request.ignore_lease,
    )


def delete_range_request_from_pb(request: rpc_pb2.DeleteRangeRequest) -> mvcc.DeleteRangeRequest:
    return mvcc.DeleteRangeRequest(
        key=request.key, range_end=request.range_end, prev_kv=request.prev_kv
    )


def compare_from_pb(compare: rpc_pb2.Compare) -> mvcc.Compare:
    target = enum_from_pb(mvcc.CompareTarget, compare.target, "Compare.target")
    result = enum_from_pb(mvcc.CompareResult, compare.result, "Compare.result")
    member = _OPERAND_MEMBER[target]
    operand: int | bytes
    if compare.WhichOneof("target_union") == member:
        operand = getattr(compare, member)
    else:
        operand = b"" if target is mvcc.CompareTarget.VALUE else 0
    return mvcc.Compare(
        key=compare.key,
        target=target,
        result=result,
        operand=operand,
        range_end=compare.range_end,
    )


def request_op_from_pb(op: rpc_pb2.RequestOp) -> mvcc.RequestOp:
    match op.WhichOneof("request"):
        case "request_range":
            return range_request_from_pb(op.request_range)
        case "request_put":
            return put_request_from_pb(op.request_put)
        case "request_delete_range":
            return delete_range_request_from_pb(op.request_delete_range)
        case "request_txn":
            return txn_request_from_pb(op.request_txn)
        case None:
            return mvcc.EmptyOp()


def txn_request_from_pb(request: rpc_pb2.TxnRequest) -> mvcc.TxnRequest:
    return mvcc.TxnRequest(
        compare=tuple(compare_from_pb(compare) for compare in request.compare),
        success=tuple(request_op_from_pb(op) for op in request.success),
        failure=tuple(request_op_from_pb(op) for op in request.failure),
    )


def compaction_request_from_pb(request: rpc_pb2.CompactionRequest) -> mvcc.CompactionRequest:
    return mvcc.CompactionRequest(revision=request.revision, physical=request.physical)


# --------------------------------------------------------------------------- requests out


def range_request_to_pb(request: mvcc.RangeRequest) -> rpc_pb2.RangeRequest:
    return rpc_pb2.RangeRequest(
        key=request.key,
        range_end=request.range_end,
        limit=request.limit,
        revision=request.revision,
        sort_order=rpc_pb2.RangeRequest.SortOrder.ValueType(request.sort_order),
        sort_target=rpc_pb2.RangeRequest.SortTarget.ValueType(request.sort_target),
        serializable=request.serializable,
        keys_only=request.keys_only,
        count_only=request.count_only,
        min_mod_revision=request.min_mod_revision,
        max_mod_revision=request.max_mod_revision,
        min_create_revision=request.min_create_revision,
        max_create_revision=request.max_create_revision,
    )


def put_request_to_pb(request: mvcc.PutRequest) -> rpc_pb2.PutRequest:
    return rpc_pb2.PutRequest(
        key=request.key,
        value=request.value,
        lease=request.lease,
        prev_kv=request.prev_kv,
        ignore_value=request.ignore_value,
        ignore_lease=request.ignore_lease,
    )


def delete_range_request_to_pb(request: mvcc.DeleteRangeRequest) -> rpc_pb2.DeleteRangeRequest:
    return rpc_pb2.DeleteRangeRequest(
        key=request.key, range_end=request.range_end, prev_kv=request.prev_kv
    )


def compare_to_pb(compare: mvcc.Compare) -> rpc_pb2.Compare:
    message = rpc_pb2.Compare(
        result=rpc_pb2.Compare.CompareResult.ValueType(compare.result),
        target=rpc_pb2.Compare.CompareTarget.ValueType(compare.target),
        key=compare.key,
        range_end=compare.range_end,
    )
    is_value = compare.target is mvcc.CompareTarget.VALUE
    if is_value and isinstance(compare.operand, bytes):
        message.value = compare.operand
    elif not is_value and isinstance(compare.operand, int):
        setattr(message, _OPERAND_MEMBER[compare.target], compare.operand)
    # An operand of the wrong kind counts as absent in the keyspace: leave the oneof unset.
    return message


def request_op_to_pb(op: mvcc.RequestOp) -> rpc_pb2.RequestOp:
    match op:
        case mvcc.RangeRequest():
            return rpc_pb2.RequestOp(request_range=range_request_to_pb(op))
        case mvcc.PutRequest():
            return rpc_pb2.RequestOp(request_put=put_request_to_pb(op))
        case mvcc.DeleteRangeRequest():
            return rpc_pb2.RequestOp(request_delete_range=delete_range_request_to_pb(op))
        case mvcc.TxnRequest():
            return rpc_pb2.RequestOp(request_txn=txn_request_to_pb(op))
        case mvcc.EmptyOp():
            return rpc_pb2.RequestOp()


def txn_request_to_pb(request: mvcc.TxnRequest) -> rpc_pb2.TxnRequest:
    return rpc_pb2.TxnRequest(
        compare=[compare_to_pb(compare) for compare in request.compare],
        success=[request_op_to_pb(op) for op in request.success],
        failure=[request_op_to_pb(op) for op in request.failure],
    )


def compaction_request_to_pb(request: mvcc.CompactionRequest) -> rpc_pb2.CompactionRequest:
    return rpc_pb2.CompactionRequest(revision=request.revision, physical=request.physical)


# --------------------------------------------------------------------------- responses out


def range_response_to_pb(
    response: mvcc.RangeResponse, identity: ServerIdentity | None
) -> rpc_pb2.RangeResponse:
    return rpc_pb2.RangeResponse(
        header=header_to_pb(response.revision, identity),
        kvs=[key_value_to_pb(kv) for kv in response.kvs],
        more=response.more,
        count=response.count,
    )


def put_response_to_pb(
    response: mvcc.PutResponse, identity: ServerIdentity | None
) -> rpc_pb2.PutResponse:
    message = rpc_pb2.PutResponse(header=header_to_pb(response.revision, identity))
    if response.prev_kv is not None:
        message.prev_kv.CopyFrom(key_value_to_pb(response.prev_kv))
    return message


def delete_range_response_to_pb(
    response: mvcc.DeleteRangeResponse, identity: ServerIdentity | None
) -> rpc_pb2.DeleteRangeResponse:
    return rpc_pb2.DeleteRangeResponse(
        header=header_to_pb(response.revision, identity),
        deleted=response.deleted,
        prev_kvs=[key_value_to_pb(kv) for kv in response.prev_kvs],
    )


def response_op_to_pb(response: mvcc.ResponseOp) -> rpc_pb2.ResponseOp:
    """A response inside a txn: its header holds only the revision."""
    match response:
        case mvcc.RangeResponse():
            return rpc_pb2.ResponseOp(response_range=range_response_to_pb(response, None))
        case mvcc.PutResponse():
            return rpc_pb2.ResponseOp(response_put=put_response_to_pb(response, None))
        case mvcc.DeleteRangeResponse():
            nested = delete_range_response_to_pb(response, None)
            return rpc_pb2.ResponseOp(response_delete_range=nested)
        case mvcc.TxnResponse():
            return rpc_pb2.ResponseOp(response_txn=_txn_to_pb(response, rpc_pb2.ResponseHeader()))


def txn_response_to_pb(
    response: mvcc.TxnResponse, identity: ServerIdentity | None
) -> rpc_pb2.TxnResponse:
    return _txn_to_pb(response, header_to_pb(response.revision, identity))


def _txn_to_pb(response: mvcc.TxnResponse, header: rpc_pb2.ResponseHeader) -> rpc_pb2.TxnResponse:
    return rpc_pb2.TxnResponse(
        header=header,
        succeeded=response.succeeded,
        responses=[response_op_to_pb(nested) for nested in response.responses],
    )


def compaction_response_to_pb(
    response: mvcc.CompactionResponse, identity: ServerIdentity | None
) -> rpc_pb2.CompactionResponse:
    return rpc_pb2.CompactionResponse(header=header_to_pb(response.revision, identity))


# ---------------------------------------------------------------------------- responses in


def range_response_from_pb(response: rpc_pb2.RangeResponse) -> mvcc.RangeResponse:
    return mvcc.RangeResponse(
        revision=response.header.revision,
        kvs=tuple(key_value_from_pb(kv) for kv in response.kvs),
        more=response.more,
        count=response.count,
    )


def put_response_from_pb(response: rpc_pb2.PutResponse) -> mvcc.PutResponse:
    prev_kv = key_value_from_pb(response.prev_kv) if response.HasField("prev_kv") else None
    return mvcc.PutResponse(revision=response.header.revision, prev_kv=prev_kv)


def delete_range_response_from_pb(
    response: rpc_pb2.DeleteRangeResponse,
) -> mvcc.DeleteRangeResponse:
    return mvcc.DeleteRangeResponse(
        revision=response.header.revision,
        deleted=response.deleted,
        prev_kvs=tuple(key_value_from_pb(kv) for kv in response.prev_kvs),
    )


def response_op_from_pb(response: rpc_pb2.ResponseOp, txn_revision: int) -> mvcc.ResponseOp:
    """A response inside a txn whose header revision is ``txn_revision``."""
    match response.WhichOneof("response"):
        case "response_range":
            return range_response_from_pb(response.response_range)
        case "response_put":
            return put_response_from_pb(response.response_put)
        case "response_delete_range":
            return delete_range_response_from_pb(response.response_delete_range)
        case "response_txn":
            return _txn_from_pb(response.response_txn, txn_revision)
        case None:
            raise MissingOneof("ResponseOp", "response")


def txn_response_from_pb(response: rpc_pb2.TxnResponse) -> mvcc.TxnResponse:
    return _txn_from_pb(response, response.header.revision)


def _txn_from_pb(response: rpc_pb2.TxnResponse, revision: int) -> mvcc.TxnResponse:
    return mvcc.TxnResponse(
        revision=revision,
        succeeded=response.succeeded,
        responses=tuple(response_op_from_pb(nested, revision) for nested in response.responses),
    )


def compaction_response_from_pb(response: rpc_pb2.CompactionResponse) -> mvcc.CompactionResponse:
    return mvcc.CompactionResponse(revision=response.header.revision)
