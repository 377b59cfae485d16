"""etcd's Lease service over a ``Node``.

Rules (etcd 3.4, reference 2.4):
- Grant and revoke go through the log. The keyspace chooses the ID when the request has none,
  raises a TTL below the minimum to it, and refuses a TTL above the maximum or an ID in use.
- Deadlines live only at the leader: a keep-alive renews there (a follower asks the leader)
  and answers the granted TTL, or 0 for a lease that does not exist (not an error). The
  remaining TTL comes from the leader's clock; -1 for a lease that does not exist.
- TimeToLive and Leases first wait until this member has applied everything the leader had
  committed (a linearizable read), so a lease granted through another member is seen.
- A keep-alive stream answers each request in turn, and ends when the client ends it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from synod.api.context import Context, ServiceBase, abort
from synod.api.convert.lease import (
    LeaseLeasesResponse,
    lease_grant_request_from_pb,
    lease_grant_response_to_pb,
    lease_keep_alive_response_to_pb,
    lease_leases_response_to_pb,
    lease_revoke_request_from_pb,
    lease_revoke_response_to_pb,
    lease_time_to_live_request_from_pb,
    lease_time_to_live_response_to_pb,
)
from synod.api.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from synod.api.grpc_server import GrpcServer
from synod.core.errors import SynodError
from synod.kv import mvcc

BARRIER_KEY = b"\x00"
"""The key a linearizable barrier reads (any key does; one key keeps it cheap)."""


class LeaseService(ServiceBase, rpc_pb2_grpc.LeaseServicer):
    async def LeaseGrant(  # noqa: N802 - gRPC's method names
        self, request: rpc_pb2.LeaseGrantRequest, context: Context
    ) -> rpc_pb2.LeaseGrantResponse:
        async with self.serving(context):
            result = await self.node.write(lease_grant_request_from_pb(request))
            response = self.expect(result, mvcc.LeaseGrantResponse)
            return lease_grant_response_to_pb(response, self.identity())
        raise AssertionError("unreachable: serving() aborts")

    async def LeaseRevoke(  # noqa: N802
        self, request: rpc_pb2.LeaseRevokeRequest, context: Context
    ) -> rpc_pb2.LeaseRevokeResponse:
        async with self.serving(context):
            result = await self.node.write(lease_revoke_request_from_pb(request))
            response = self.expect(result, mvcc.LeaseRevokeResponse)
            return lease_revoke_response_to_pb(response, self.identity())
        raise AssertionError("unreachable: serving() aborts")

    async def LeaseKeepAlive(  # noqa: N802
        self, request_iterator: AsyncIterator[rpc_pb2.LeaseKeepAliveRequest], context: Context
    ) -> AsyncIterator[rpc_pb2.LeaseKeepAliveResponse]:
        try:
            async for request in request_iterator:
                ttl_seconds = await self.node.keep_alive(request.ID)
                revision = self.node.machine.store.revision
                response = mvcc.LeaseKeepAliveResponse(revision, request.ID, ttl_seconds)
                yield lease_keep_alive_response_to_pb(response, self.identity())
        except SynodError as error:
            await abort(context, error)

    async def LeaseTimeToLive(  # noqa: N802
        self, request: rpc_pb2.LeaseTimeToLiveRequest, context: Context
    ) -> rpc_pb2.LeaseTimeToLiveResponse:
        async with self.serving(context):
            await self._barrier()
            remaining_seconds = await self.node.time_to_live(request.ID)
            store = self.node.machine.store
            local = store.lease_time_to_live(lease_time_to_live_request_from_pb(request))
            if remaining_seconds < 0 or local.ttl_seconds < 0:
                gone = mvcc.LeaseTimeToLiveResponse(store.revision, request.ID, -1, 0)
                return lease_time_to_live_response_to_pb(gone, self.identity())
            response = mvcc.LeaseTimeToLiveResponse(
                local.revision,
                local.id,
                min(remaining_seconds, local.granted_ttl_seconds),
                local.granted_ttl_seconds,
                local.keys,
            )
            return lease_time_to_live_response_to_pb(response, self.identity())
        raise AssertionError("unreachable: serving() aborts")

    async def LeaseLeases(  # noqa: N802
        self, request: rpc_pb2.LeaseLeasesRequest, context: Context
    ) -> rpc_pb2.LeaseLeasesResponse:
        async with self.serving(context):
            await self._barrier()
            store = self.node.machine.store
            listed = LeaseLeasesResponse(store.revision, tuple(store.lease_ids()))
            return lease_leases_response_to_pb(listed, self.identity())
        raise AssertionError("unreachable: serving() aborts")

    async def _barrier(self) -> None:
        """Until this member has applied what the leader had committed when asked."""
        result = await self.node.read(mvcc.RangeRequest(BARRIER_KEY, count_only=True))
        self.expect(result, mvcc.RangeResponse)


def register(server: GrpcServer, service: LeaseService) -> None:
    server.add(rpc_pb2_grpc.add_LeaseServicer_to_server, service)
