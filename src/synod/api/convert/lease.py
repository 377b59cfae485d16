"""etcd's Lease service (grant, revoke, keep-alive, time-to-live, leases) between protobuf and
``synod.kv.mvcc``, requests and responses, both ways.

Rules: etcd's wire names (``ID``, ``TTL``, ``grantedTTL``) map to the keyspace's ``id``,
``ttl_seconds``, ``granted_ttl_seconds``. The keyspace lists lease IDs without a message of its
own, so ``LeaseLeasesResponse`` here is that list with the header revision. Headers: see
``common``.
"""

from __future__ import annotations

from dataclasses import dataclass

from synod.api.convert.common import ServerIdentity, header_to_pb
from synod.api.gen.etcdserverpb import rpc_pb2
from synod.kv import mvcc


@dataclass(frozen=True, slots=True)
class LeaseLeasesResponse:
    revision: int
    ids: tuple[int, ...]


def lease_grant_request_from_pb(request: rpc_pb2.LeaseGrantRequest) -> mvcc.LeaseGrantRequest:
    return mvcc.LeaseGrantRequest(ttl_seconds=request.TTL, id=request.ID)


def lease_grant_request_to_pb(request: mvcc.LeaseGrantRequest) -> rpc_pb2.LeaseGrantRequest:
    return rpc_pb2.LeaseGrantRequest(TTL=request.ttl_seconds, ID=request.id)


def lease_grant_response_to_pb(
    response: mvcc.LeaseGrantResponse, identity: ServerIdentity | None
) -> rpc_pb2.LeaseGrantResponse:
    return rpc_pb2.LeaseGrantResponse(
        header=header_to_pb(response.revision, identity),
        ID=response.id,
        TTL=response.ttl_seconds,
    )


def lease_grant_response_from_pb(response: rpc_pb2.LeaseGrantResponse) -> mvcc.LeaseGrantResponse:
    return mvcc.LeaseGrantResponse(
        revision=response.header.revision, id=response.ID, ttl_seconds=response.TTL
    )


def lease_revoke_request_from_pb(request: rpc_pb2.LeaseRevokeRequest) -> mvcc.LeaseRevokeRequest:
    return mvcc.LeaseRevokeRequest(id=request.ID)


def lease_revoke_request_to_pb(request: mvcc.LeaseRevokeRequest) -> rpc_pb2.LeaseRevokeRequest:
    return rpc_pb2.LeaseRevokeRequest(ID=request.id)


def lease_revoke_response_to_pb(
    response: mvcc.LeaseRevokeResponse, identity: ServerIdentity | None
) -> rpc_pb2.LeaseRevokeResponse:
    return rpc_pb2.LeaseRevokeResponse(header=header_to_pb(response.revision, identity))


def lease_revoke_response_from_pb(
    response: rpc_pb2.LeaseRevokeResponse,
) -> mvcc.LeaseRevokeResponse:
    return mvcc.LeaseRevokeResponse(revision=response.header.revision)


def lease_keep_alive_request_from_pb(
    request: rpc_pb2.LeaseKeepAliveRequest,
) -> mvcc.LeaseKeepAliveRequest:
    return mvcc.LeaseKeepAliveRequest(id=request.ID)


def lease_keep_alive_request_to_pb(
    request: mvcc.LeaseKeepAliveRequest,
) -> rpc_pb2.LeaseKeepAliveRequest:
    return rpc_pb2.LeaseKeepAliveRequest(ID=request.id)


def lease_keep_alive_response_to_pb(
    response: mvcc.LeaseKeepAliveResponse, identity: ServerIdentity | None
) -> rpc_pb2.LeaseKeepAliveResponse:
    return rpc_pb2.LeaseKeepAliveResponse(
        header=header_to_pb(response.revision, identity),
        ID=response.id,
        TTL=response.ttl_seconds,
    )


def lease_keep_alive_response_from_pb(
    response: rpc_pb2.LeaseKeepAliveResponse,
) -> mvcc.LeaseKeepAliveResponse:
    return mvcc.LeaseKeepAliveResponse(
        revision=response.header.revision, id=response.ID, ttl_seconds=response.TTL
    )


def lease_time_to_live_request_from_pb(
    request: rpc_pb2.LeaseTimeToLiveRequest,
) -> mvcc.LeaseTimeToLiveRequest:
    return mvcc.LeaseTimeToLiveRequest(id=request.ID, keys=request.keys)


def lease_time_to_live_request_to_pb(
    request: mvcc.LeaseTimeToLiveRequest,
) -> rpc_pb2.LeaseTimeToLiveRequest:
    return rpc_pb2.LeaseTimeToLiveRequest(ID=request.id, keys=request.keys)


def lease_time_to_live_response_to_pb(
    response: mvcc.LeaseTimeToLiveResponse, identity: ServerIdentity | None
) -> rpc_pb2.LeaseTimeToLiveResponse:
    return rpc_pb2.LeaseTimeToLiveResponse(
        header=header_to_pb(response.revision, identity),
        ID=response.id,
        TTL=response.ttl_seconds,
        grantedTTL=response.granted_ttl_seconds,
        keys=list(response.keys),
    )


def lease_time_to_live_response_from_pb(
    response: rpc_pb2.LeaseTimeToLiveResponse,
) -> mvcc.LeaseTimeToLiveResponse:
    return mvcc.LeaseTimeToLiveResponse(
        revision=response.header.revision,
        id=response.ID,
        ttl_seconds=response.TTL,
        granted_ttl_seconds=response.grantedTTL,
        keys=tuple(response.keys),
    )


def lease_leases_response_to_pb(
    response: LeaseLeasesResponse, identity: ServerIdentity | None
) -> rpc_pb2.LeaseLeasesResponse:
    return rpc_pb2.LeaseLeasesResponse(
        header=header_to_pb(response.revision, identity),
        leases=[rpc_pb2.LeaseStatus(ID=lease_id) for lease_id in response.ids],
    )


def lease_leases_response_from_pb(response: rpc_pb2.LeaseLeasesResponse) -> LeaseLeasesResponse:
    return LeaseLeasesResponse(
        revision=response.header.revision, ids=tuple(lease.ID for lease in response.leases)
    )
