"""What the shared client port costs a gRPC call: direct to grpcio vs through ``FrontListener``.

Run ``python -m synod.api.front_bench``. The server process runs a grpc.aio server with one
unary echo method on an internal port and a ``FrontListener`` in front of it, on one uvloop
event loop (as ``synod serve`` does). A client process (sync grpcio) makes ``--calls``
sequential calls to each port, then ``--concurrency`` threads each make calls at once, and
reports latency percentiles and calls/s. A measurement, not a test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import threading
import time
from multiprocessing.connection import Connection

import grpc

from synod.api.front import FrontListener

METHOD = "/bench.Echo/Echo"
WARMUP_CALLS = 200


def _identity(data: bytes) -> bytes:
    return data


async def _echo(request: bytes, _: object) -> bytes:
    return request


async def _serve(ready: Connection, stop: Connection) -> None:
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo",
        {"Echo": grpc.unary_unary_rpc_method_handler(_echo, _identity, _identity)},
    )
    server.add_generic_rpc_handlers((handler,))
    grpc_port = server.add_insecure_port("127.0.0.1:0")
    await server.start()

    async def no_http(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    front = FrontListener("127.0.0.1", 0, grpc_port, no_http)
    front_port = await front.start()
    ready.send((grpc_port, front_port))
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, stop.recv)
    await front.stop()
    await server.stop(0)


def _server_main(ready: Connection, stop: Connection) -> None:
    import uvloop  # noqa: PLC0415 - the server side runs as synod serve does

    uvloop.run(_serve(ready, stop))


def _sequential(port: int, calls: int, payload: bytes) -> list[float]:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        echo = channel.unary_unary(METHOD, _identity, _identity)
        for _ in range(WARMUP_CALLS):
            echo(payload)
        latencies: list[float] = []
        for _ in range(calls):
            started = time.perf_counter()
            echo(payload)
            latencies.append(time.perf_counter() - started)
        return latencies


def _concurrent(port: int, threads: int, calls: int, payload: bytes) -> float:
    """Calls per second with ``threads`` callers sharing one channel."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        echo = channel.unary_unary(METHOD, _identity, _identity)
        for _ in range(WARMUP_CALLS):
            echo(payload)

        def caller() -> None:
            for _ in range(calls):
                echo(payload)

        workers = [threading.Thread(target=caller) for _ in range(threads)]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return threads * calls / (time.perf_counter() - started)


def _report(name: str, latencies: list[float], rate: float) -> str:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1e6
    p99 = ordered[int(len(ordered) * 0.99)] * 1e6
    return f"{name:8} p50 {p50:7.1f} us  p99 {p99:7.1f} us  concurrent {rate:8.0f} calls/s"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m synod.api.front_bench")
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--payload-bytes", type=int, default=100)
    args = parser.parse_args()
    ready_recv, ready_send = multiprocessing.Pipe(duplex=False)
    stop_recv, stop_send = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.Process(target=_server_main, args=(ready_send, stop_recv))
    server.start()
    try:
        grpc_port, front_port = ready_recv.recv()
        payload = b"x" * args.payload_bytes
        per_thread = max(1, args.calls // args.concurrency)
        for name, port in (("direct", grpc_port), ("front", front_port)):
            latencies = _sequential(port, args.calls, payload)
            rate = _concurrent(port, args.concurrency, per_thread, payload)
            print(_report(name, latencies, rate), flush=True)
    finally:
        stop_send.send(None)
        server.join(timeout=10)
        if server.is_alive():
            server.kill()


if __name__ == "__main__":
    main()
