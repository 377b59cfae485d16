"""etcd's KV service (Range, Put, DeleteRange, Txn, Compact) over a ``Node``.

Rules:
- Range with ``serializable`` reads this member's keyspace as it is; any other range is
  linearizable (ReadIndex through the leader). A txn of ranges only is a read as well, as in
  etcd: it is served linearizably without going through the log.
- Everything else goes through the log and answers once applied on this member.
- Errors reach the client as etcd's status and text (``synod.api.errors.status_of``).
"""

from __future__ import annotations

from synod.api import convert
from synod.api.context import Context, ServiceBase
from synod.api.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from synod.api.grpc_server import GrpcServer
from synod.kv import mvcc


class KvService(ServiceBase, rpc_pb2_grpc.KVServicer):
    async def Range(  # noqa: N802 - gRPC's method names
        self, request: rpc_pb2.RangeRequest, context: Context
    ) -> rpc_pb2.RangeResponse:
        async with self.serving(context):
            ours = convert.range_request_from_pb(request)
            result = await self.node.read(ours, serializable=request.serializable)
            return convert.range_response_to_pb(
                self.expect(result, mvcc.RangeResponse), self.identity()
            )
        raise AssertionError("unreachable: serving() aborts")

    async def Put(  # noqa: N802
        self, request: rpc_pb2.PutRequest, context: Context
    ) -> rpc_pb2.PutResponse:
        async with self.serving(context):
            result = await self.node.write(convert.put_request_from_pb(request))
            return convert.put_response_to_pb(
                self.expect(result, mvcc.PutResponse), self.identity()
            )
        raise AssertionError("unreachable: serving() aborts")

    async def DeleteRange(  # noqa: N802
        self, request: rpc_pb2.DeleteRangeRequest, context: Context
    ) -> rpc_pb2.DeleteRangeResponse:
        async with self.serving(context):
            result = await self.node.write(convert.delete_range_request_from_pb(request))
            response = self.expect(result, mvcc.DeleteRangeResponse)
            return convert.delete_range_response_to_pb(response, self.identity())
        raise AssertionError("unreachable: serving() aborts")

    async def Txn(  # noqa: N802
        self, request: rpc_pb2.TxnRequest, context: Context
    ) -> rpc_pb2.TxnResponse:
        async with self.serving(context):
            result = await self.node.write(convert.txn_request_from_pb(request))
            return convert.txn_response_to_pb(
                self.expect(result, mvcc.TxnResponse), self.identity()
            )
        raise AssertionError("unreachable: serving() aborts")

    async def Compact(  # noqa: N802
        self, request: rpc_pb2.CompactionRequest, context: Context
    ) -> rpc_pb2.CompactionResponse:
        async with self.serving(context):
            result = await self.node.write(convert.compaction_request_from_pb(request))
            response = self.expect(result, mvcc.CompactionResponse)
            return convert.compaction_response_to_pb(response, self.identity())
        raise AssertionError("unreachable: serving() aborts")


def register(server: GrpcServer, service: KvService) -> None:
    server.add(rpc_pb2_grpc.add_KVServicer_to_server, service)
