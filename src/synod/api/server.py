"""The client-facing side of a node: etcd's gRPC services on the client URLs.

``ApiServer`` owns the gRPC server; each service module brings a ``register`` function. Limits
follow etcd: a request larger than ``--max-request-bytes`` is refused (the gRPC receive limit
is set a little above it, so the service can answer with etcd's own text).

One port per client URL serves gRPC and HTTP/1.1 (the JSON gateway, /version, /health,
/metrics), as etcd does: a ``FrontListener`` on the client URL sorts connections; the gRPC
server itself listens only inside: on a 127.0.0.1 port chosen at start and on an abstract Unix
socket (Linux), which the pass-through uses.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets

import grpc

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
from synod.api.rpc_metrics import RpcCountingInterceptor
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
        self._server = grpc.aio.server(
            interceptors=[RpcCountingInterceptor(self.rpcs)],
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", 2**31 - 1),
                ("grpc.so_reuseport", 0),
            ],
        )
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
        self.grpc_port = 0
        self.grpc_unix_name: str | None = None
        """The abstract Unix socket gRPC also listens on, which the client port's pass-through
        uses when there is one: a Unix socket costs less per write than loopback TCP."""
        self._fronts: list[FrontListener] = []

    async def start(self) -> None:
        self.grpc_port = self._server.add_insecure_port("127.0.0.1:0")
        if self.grpc_port == 0:
            raise OSError("cannot listen on an internal port for gRPC")
        unix_name = f"synod-grpc-{os.getpid()}-{secrets.token_hex(8)}"
        if self._server.add_insecure_port(f"unix-abstract:{unix_name}") != 0:
            self.grpc_unix_name = unix_name
        await self._server.start()
        gateway = Gateway(self.node, self.servicers, self.rpcs)

        async def serve_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await http1.serve_connection(reader, writer, gateway.handle, self._http_limits)

        for url in self.listen_client_urls:
            host, port = host_port(url, "--listen-client-urls")
            front = FrontListener(
                host, port, self.grpc_port, serve_http, grpc_unix_name=self.grpc_unix_name
            )
            self.ports.append(await front.start())
            self._fronts.append(front)
        logger.info(
            "serving clients on %s (gRPC inside on 127.0.0.1:%d and @%s)",
            ", ".join(self.listen_client_urls),
            self.grpc_port,
            self.grpc_unix_name or "-",
        )

    async def stop(self, grace_s: float = 1.0) -> None:
        for front in self._fronts:
            await front.stop()
        await self._server.stop(grace_s)
