"""The cost of serving one gRPC call: ``python -m synod.cli.grpc_bench``.

Serves etcd's ``KV.Put`` with a handler that does nothing (it answers a fixed header) in a
separate process, once with ``grpc.aio`` and once with Synod's own HTTP/2 server
(``synod.api.grpc_server`` behind the client port's ``FrontListener``, as ``synod serve`` runs
it), both on uvloop, and drives each with ``synod bench``'s client (64 clients over 8
connections by default). Prints calls/s, latency, and the server process's CPU time per call
(user plus system, all threads, from /proc): the floor a member pays per request before any
consensus or storage work. Measurements, not assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
from collections.abc import Sequence
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

import grpc
import uvloop

from synod.api.front import FrontListener
from synod.api.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from synod.api.grpc_server import GrpcServer
from synod.cli.etcd_bench import Spec, measure

SERVERS = ("grpcio", "builtin")
_HEADER = rpc_pb2.ResponseHeader(cluster_id=1, member_id=2, revision=3, raft_term=4)


class _Kv(rpc_pb2_grpc.KVServicer):
    """Put answers at once; the rest is not served."""

    async def Put(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC's names
        return rpc_pb2.PutResponse(header=_HEADER)

    async def Range(self, request: Any, context: Any) -> Any:  # noqa: N802
        raise NotImplementedError

    async def DeleteRange(self, request: Any, context: Any) -> Any:  # noqa: N802
        raise NotImplementedError

    async def Txn(self, request: Any, context: Any) -> Any:  # noqa: N802
        raise NotImplementedError

    async def Compact(self, request: Any, context: Any) -> Any:  # noqa: N802
        raise NotImplementedError


def _serve(kind: str, ports: Queue[int]) -> None:
    """The server process (started with "spawn": grpcio's threads do not survive a fork)."""

    async def main() -> None:
        if kind == "grpcio":
            server = grpc.aio.server()
            rpc_pb2_grpc.add_KVServicer_to_server(_Kv(), server)
            ports.put(server.add_insecure_port("127.0.0.1:0"))
            await server.start()
            await server.wait_for_termination()
            return
        builtin = GrpcServer(receive_bytes_max=2 << 20)
        builtin.add(rpc_pb2_grpc.add_KVServicer_to_server, _Kv())

        async def no_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        front = FrontListener("127.0.0.1", 0, builtin.connection, no_http)
        ports.put(await front.start())
        await asyncio.Event().wait()

    uvloop.run(main())


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(kind: str, clients: int, conns: int, total: int) -> str:
    context = multiprocessing.get_context("spawn")
    ports: Queue[int] = context.Queue()
    process = context.Process(target=_serve, args=(kind, ports), daemon=True)
    process.start()
    try:
        endpoint = f"127.0.0.1:{ports.get(timeout=30)}"

        def spec(count: int) -> Spec:
            return Spec(
                operation="put",
                endpoints=(endpoint,),
                clients=clients,
                conns=conns,
                total=count,
                key_size=8,
                val_size=256,
            )

        measure(spec(min(total, 2000)))  # warm-up: connections, caches
        assert process.pid is not None
        before_s = _cpu_s(process.pid)
        report = measure(spec(total))
        cpu_us = (_cpu_s(process.pid) - before_s) * 1e6 / max(report.requests, 1)
        return (
            f"{kind:8} {report.ops_per_s:9,.0f} calls/s  p50 {report.latency_ms['p50']:6.2f} ms"
            f"  p99 {report.latency_ms['p99']:6.2f} ms  server CPU {cpu_us:5.0f} us/call"
            f"  errors {report.errors}"
        )
    finally:
        process.terminate()
        process.join(10)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synod.cli.grpc_bench", description=__doc__)
    parser.add_argument("--servers", default=",".join(SERVERS), help="grpcio,builtin")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--conns", type=int, default=8)
    parser.add_argument("--total", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2, help="each server this many times")
    args = parser.parse_args(argv)
    kinds = [kind.strip() for kind in args.servers.split(",") if kind.strip()]
    if not kinds or any(kind not in SERVERS for kind in kinds):
        parser.error(f"--servers must be some of {','.join(SERVERS)}")
    if min(args.clients, args.conns, args.total, args.rounds) < 1:
        parser.error("--clients, --conns, --total and --rounds must be at least 1")
    for _ in range(args.rounds):
        for kind in kinds:
            print(run(kind, args.clients, args.conns, args.total), flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
