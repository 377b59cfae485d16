"""The client-facing side of a node: etcd's gRPC services on the client URLs.

``ApiServer`` owns the gRPC server; each service module brings a ``register`` function. Limits
follow etcd: a request larger than ``--max-request-bytes`` is refused (the gRPC receive limit
is set a little above it, so the service can answer with etcd's own text).
"""

from __future__ import annotations

import logging

import grpc

from synod.api import (
    cluster_service,
    kv_service,
    lease_service,
    maintenance_service,
    watch_service,
)
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
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", 2**31 - 1),
                ("grpc.so_reuseport", 0),
            ]
        )
        kv_service.register(self._server, kv_service.KvService(node))
        maintenance_service.register(self._server, maintenance_service.MaintenanceService(node))
        cluster_service.register(self._server, cluster_service.ClusterService(node))
        watch_service.register(self._server, watch_service.WatchService(node))
        lease_service.register(self._server, lease_service.LeaseService(node))
        self.ports: list[int] = []

    async def start(self) -> None:
        for url in self.listen_client_urls:
            host, port = host_port(url, "--listen-client-urls")
            bound = self._server.add_insecure_port(f"{host}:{port}")
            if bound == 0:
                raise OSError(f"cannot listen on {url}")
            self.ports.append(bound)
        await self._server.start()
        logger.info("serving clients on %s", ", ".join(self.listen_client_urls))

    async def stop(self, grace_s: float = 1.0) -> None:
        await self._server.stop(grace_s)
