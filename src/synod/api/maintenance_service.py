"""etcd's Maintenance service over a ``Node``.

``version`` in Status is the etcd API level Synod serves (clients compare it to decide which
calls they may make), not Synod's own release.
"""

from __future__ import annotations

import grpc

from synod.api.context import Context, ServiceBase
from synod.api.convert import header_to_pb
from synod.api.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc

ETCD_API_VERSION = "3.4.0"


class MaintenanceService(ServiceBase, rpc_pb2_grpc.MaintenanceServicer):
    async def Status(  # noqa: N802 - gRPC's method names
        self, request: rpc_pb2.StatusRequest, context: Context
    ) -> rpc_pb2.StatusResponse:
        async with self.serving(context):
            status = self.node.status()
            return rpc_pb2.StatusResponse(
                header=header_to_pb(status.revision, self.identity()),
                version=ETCD_API_VERSION,
                dbSize=status.db_size_bytes,
                dbSizeInUse=status.db_size_bytes,
                leader=status.leader,
                raftIndex=status.commit_index,
                raftTerm=status.term,
                raftAppliedIndex=status.applied_index,
                isLearner=status.is_learner,
            )
        raise AssertionError("unreachable: serving() aborts")


def register(server: grpc.aio.Server, service: MaintenanceService) -> None:
    rpc_pb2_grpc.add_MaintenanceServicer_to_server(service, server)
