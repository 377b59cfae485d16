"""The runner's etcd v3 client: one gRPC channel per member, every call with a deadline.

A failed call raises ``grpc.aio.AioRpcError``. The workloads treat every failed write as of
unknown outcome (it may have been proposed before the error), every failed read as one that did
not happen; a compare that did not hold is an answer (``False``), not an error.
"""

from __future__ import annotations

import grpc
import grpc.aio

from synod.api.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc

CALL_SECONDS_DEFAULT = 2.0
STATUS_SECONDS = 0.5


def prefix_end(prefix: bytes) -> bytes:
    return prefix[:-1] + bytes([prefix[-1] + 1])


class EtcdClient:
    """Unary calls to one endpoint (``host:port``)."""

    def __init__(self, endpoint: str, call_s: float = CALL_SECONDS_DEFAULT) -> None:
        self.endpoint = endpoint
        self.call_s = call_s
        self.channel = grpc.aio.insecure_channel(endpoint)
        self.kv = rpc_pb2_grpc.KVStub(self.channel)
        self.cluster = rpc_pb2_grpc.ClusterStub(self.channel)
        self.maintenance = rpc_pb2_grpc.MaintenanceStub(self.channel)

    async def close(self) -> None:
        await self.channel.close()

    async def get(self, key: str) -> str | None:
        reply = await self.kv.Range(rpc_pb2.RangeRequest(key=key.encode()), timeout=self.call_s)
        return reply.kvs[0].value.decode() if reply.kvs else None

    async def get_prefix(self, prefix: str) -> tuple[dict[str, str], int]:
        """Every key under ``prefix`` at one revision, and the revision."""
        start = prefix.encode()
        reply = await self.kv.Range(
            rpc_pb2.RangeRequest(key=start, range_end=prefix_end(start)), timeout=self.call_s
        )
        values = {kv.key.decode(): kv.value.decode() for kv in reply.kvs}
        return values, reply.header.revision

    async def get_with_revision(self, keys: list[str]) -> dict[str, tuple[str, int]]:
        """Values and mod revisions of ``keys``, read in one transaction."""
        request = rpc_pb2.TxnRequest(
            success=[
                rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=key.encode()))
                for key in keys
            ]
        )
        reply = await self.kv.Txn(request, timeout=self.call_s)
        found: dict[str, tuple[str, int]] = {}
        for response in reply.responses:
            for kv in response.response_range.kvs:
                found[kv.key.decode()] = (kv.value.decode(), kv.mod_revision)
        return found

    async def last_revision(self, prefix: str) -> int:
        """The highest mod revision among the keys under ``prefix`` (0: none)."""
        start = prefix.encode()
        reply = await self.kv.Range(
            rpc_pb2.RangeRequest(key=start, range_end=prefix_end(start), keys_only=True),
            timeout=self.call_s,
        )
        return max((kv.mod_revision for kv in reply.kvs), default=0)

    async def put(self, key: str, value: str) -> None:
        await self.kv.Put(
            rpc_pb2.PutRequest(key=key.encode(), value=value.encode()), timeout=self.call_s
        )

    async def cas(self, key: str, old: str, new: str) -> bool:
        """Put ``new`` if ``key`` holds ``old`` (one Txn); whether it did."""
        compare = rpc_pb2.Compare(
            result=rpc_pb2.Compare.EQUAL,
            target=rpc_pb2.Compare.VALUE,
            key=key.encode(),
            value=old.encode(),
        )
        put = rpc_pb2.RequestOp(
            request_put=rpc_pb2.PutRequest(key=key.encode(), value=new.encode())
        )
        reply = await self.kv.Txn(
            rpc_pb2.TxnRequest(compare=[compare], success=[put]), timeout=self.call_s
        )
        return reply.succeeded

    async def put_if_revisions(self, revisions: dict[str, int], values: dict[str, str]) -> bool:
        """Put ``values`` if every key in ``revisions`` still has that mod revision."""
        compares = [
            rpc_pb2.Compare(
                result=rpc_pb2.Compare.EQUAL,
                target=rpc_pb2.Compare.MOD,
                key=key.encode(),
                mod_revision=revision,
            )
            for key, revision in revisions.items()
        ]
        puts = [
            rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=k.encode(), value=v.encode()))
            for k, v in values.items()
        ]
        reply = await self.kv.Txn(
            rpc_pb2.TxnRequest(compare=compares, success=puts), timeout=self.call_s
        )
        return reply.succeeded

    async def put_all_if_absent(self, values: dict[str, str]) -> bool:
        compares = [
            rpc_pb2.Compare(
                result=rpc_pb2.Compare.EQUAL,
                target=rpc_pb2.Compare.CREATE,
                key=key.encode(),
                create_revision=0,
            )
            for key in values
        ]
        puts = [
            rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=k.encode(), value=v.encode()))
            for k, v in values.items()
        ]
        reply = await self.kv.Txn(
            rpc_pb2.TxnRequest(compare=compares, success=puts), timeout=self.call_s
        )
        return reply.succeeded

    async def status(self) -> tuple[int, int]:
        """(this member's id, the leader it knows; 0 for none)."""
        reply = await self.maintenance.Status(rpc_pb2.StatusRequest(), timeout=STATUS_SECONDS)
        return reply.header.member_id, reply.leader

    async def member_list(self) -> list[tuple[int, str, list[str]]]:
        reply = await self.cluster.MemberList(rpc_pb2.MemberListRequest(), timeout=self.call_s)
        return [(m.ID, m.name, list(m.peerURLs)) for m in reply.members]

    async def member_add(self, peer_url: str) -> int:
        reply = await self.cluster.MemberAdd(
            rpc_pb2.MemberAddRequest(peerURLs=[peer_url]), timeout=self.call_s * 3
        )
        member_id: int = reply.member.ID
        return member_id

    async def member_remove(self, member_id: int) -> None:
        await self.cluster.MemberRemove(
            rpc_pb2.MemberRemoveRequest(ID=member_id), timeout=self.call_s * 3
        )
