"""The client-facing side of a node: etcd's gRPC services on the client URLs.

``ApiServer`` owns the gRPC server; each service module brings a ``register`` function. Limits
follow etcd: a request larger than ``--max-request-bytes`` is refused (the gRPC receive limit
is set a little above it, so the service can answer with etcd's own text).

One port per client URL serves gRPC and HTTP/1.1 (the JSON gateway, /version, /health,
/metrics), as etcd does: a ``FrontListener`` on the client URL sorts connections and hands the
gRPC ones to ``GrpcServer`` (``synod.api.grpc_server``), which serves them in the node's event
loop.
"""

from __future__ import annotations

import asyncio
import logging

from synod.api import (
    cluster_service,
    http1,
    kv_service,
    lease_service,
    maintenance_service,
    watch_service,
)
from synod.api.exposition import RpcCounters
from synod.api.front import FrontListener
from synod.api.gateway import Gateway
from synod.api.grpc_server import GrpcServer
from synod.server.config import host_port
from synod.server.node import Node

logger = logging.getLogger("synod.api")

GRPC_OVERHEAD_BYTES = 512 * 1024
"""Allowance above --max-request-bytes for gRPC framing (etcd adds the same)."""


class ApiServer:
    def __init__(self, node: Node, listen_client_urls: tuple[str, ...]) -> None:
        self.node = node
        self.listen_client_urls = listen_client_urls
        limit = node.config.max_request_bytes + GRPC_OVERHEAD_BYTES
        self.rpcs = RpcCounters()
        self._http_limits = http1.Limits(body_bytes_max=limit)
        self._server = GrpcServer(receive_bytes_max=limit, rpcs=self.rpcs)
        kv = kv_service.KvService(node)
        kv_service.register(self._server, kv)
        maintenance = maintenance_service.MaintenanceService(node)
        maintenance_service.register(self._server, maintenance)
        cluster = cluster_service.ClusterService(node)
        cluster_service.register(self._server, cluster)
        watch = watch_service.WatchService(node)
        watch_service.register(self._server, watch)
        lease = lease_service.LeaseService(node)
        lease_service.register(self._server, lease)
        self.servicers: list[object] = [kv, maintenance, cluster, watch, lease]
        """Every servicer registered above; the JSON gateway calls the same objects."""
        self.ports: list[int] = []
        self._fronts: list[FrontListener] = []

    async def start(self) -> None:
        gateway = Gateway(self.node, self.servicers, self.rpcs)

        async def serve_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await http1.serve_connection(reader, writer, gateway.handle, self._http_limits)

        for url in self.listen_client_urls:
            host, port = host_port(url, "--listen-client-urls")
            front = FrontListener(host, port, self._server.connection, serve_http)
            self.ports.append(await front.start())
            self._fronts.append(front)
        logger.info("serving clients on %s", ", ".join(self.listen_client_urls))

    async def stop(self, grace_s: float = 1.0) -> None:
        for front in self._fronts:
            await front.stop()
        await self._server.stop(grace_s)
