"""``synod bench put|range``: load any etcd v3 endpoint the way etcd's ``benchmark`` tool does.

N clients share M gRPC connections (``grpc.aio``) and issue K requests in total, each client
waiting for its answer before sending the next (a closed loop, as etcd's tool). Keys are
``--key-size`` bytes, drawn at random from ``--key-space-size`` keys, or taken in order with
``--sequential-keys``; values are ``--val-size`` bytes. The report gives throughput (ops/s),
latency percentiles (p50, p90, p99, max) and errors, counted by gRPC status.

Rules:
- requests and answers cross the wire as bytes prepared outside the timed call: the client
  spends its time on the network, not on protobuf;
- ``--procs P`` spreads clients, connections and requests over P processes (spawned, never
  forked: gRPC does not survive a fork) that start together behind a barrier, so one Python
  process is not the ceiling; throughput is every request over the span from the first start
  to the last finish;
- every request has a deadline (``--request-timeout``); a failed request counts as an error
  and its latency is left out of the percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.synchronize import Barrier
from typing import Any, TypeVar

import grpc
import grpc.aio

from synod.api.gen.etcdserverpb import rpc_pb2

CONNECT_SECONDS_MAX = 10.0
REQUEST_TIMEOUT_SECONDS_DEFAULT = 10.0
BARRIER_SECONDS_MAX = 60.0
PERCENTILES = (0.5, 0.9, 0.99)

PUT_METHOD = "/etcdserverpb.KV/Put"
RANGE_METHOD = "/etcdserverpb.KV/Range"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Spec:
    """One benchmark run (or one process's share of it)."""

    operation: str
    endpoints: tuple[str, ...]
    clients: int = 1
    conns: int = 1
    total: int = 10_000
    key_size: int = 8
    val_size: int = 8
    key_space_size: int = 1
    sequential_keys: bool = False
    consistency: str = "l"
    procs: int = 1
    request_timeout_s: float = REQUEST_TIMEOUT_SECONDS_DEFAULT
    seed: int = 1

    def validate(self) -> None:
        if self.operation not in ("put", "range"):
            raise ValueError(f"operation must be put or range, not {self.operation!r}")
        if not self.endpoints:
            raise ValueError("give at least one endpoint")
        for name in ("clients", "conns", "total", "key_size", "key_space_size", "procs"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
        if self.val_size < 0:
            raise ValueError("--val-size must not be negative")
        if self.procs > self.clients:
            raise ValueError("--procs must not exceed --clients")
        if self.consistency not in ("l", "s"):
            raise ValueError("--consistency must be l or s")

    def shares(self) -> list[tuple[Spec, int]]:
        """Each process's spec and the index of its first request (for sequential keys)."""
        shares: list[tuple[Spec, int]] = []
        first = 0
        for index in range(self.procs):
            clients = _split(self.clients, self.procs, index)
            total = _split(self.total, self.procs, index)
            conns = max(1, _split(self.conns, self.procs, index))
            share = replace(
                self,
                clients=clients,
                conns=conns,
                total=total,
                procs=1,
                seed=self.seed + index,
            )
            shares.append((share, first))
            first += total
        return shares


def _split(amount: int, parts: int, index: int) -> int:
    return amount // parts + (1 if index < amount % parts else 0)


@dataclass(slots=True)
class Result:
    """What one process measured: latencies of the requests that succeeded, errors by kind."""

    started_s: float = 0.0
    finished_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def merge(self, other: Result) -> None:
        self.started_s = min(self.started_s, other.started_s)
        self.finished_s = max(self.finished_s, other.finished_s)
        self.latencies_s.extend(other.latencies_s)
        self.errors.update(other.errors)


@dataclass(frozen=True, slots=True)
class Report:
    operation: str
    requests: int
    errors: int
    elapsed_s: float
    ops_per_s: float
    latency_ms: dict[str, float]
    """p50, p90, p99 and max, in milliseconds (0 when nothing succeeded)."""
    error_kinds: tuple[tuple[str, int], ...]


def key_of(index: int, key_size: int) -> bytes:
    """Key number ``index`` as ``key_size`` bytes: zero-padded decimal, wrapped to fit."""
    return str(index % (10**key_size)).zfill(key_size).encode()


def request_maker(spec: Spec, first_index: int) -> Callable[[int], bytes]:
    """Request number i (0-based within this process) as serialized bytes."""
    rng = random.Random(spec.seed)
    value = b"v" * spec.val_size
    serializable = spec.consistency == "s"

    def key(index: int) -> bytes:
        if spec.sequential_keys:
            return key_of(first_index + index, spec.key_size)
        return key_of(rng.randrange(spec.key_space_size), spec.key_size)

    if spec.operation == "put":
        return lambda index: rpc_pb2.PutRequest(key=key(index), value=value).SerializeToString()
    return lambda index: rpc_pb2.RangeRequest(
        key=key(index), serializable=serializable
    ).SerializeToString()


async def _connect(spec: Spec) -> list[grpc.aio.Channel]:
    channels = [
        grpc.aio.insecure_channel(spec.endpoints[index % len(spec.endpoints)])
        for index in range(spec.conns)
    ]
    await asyncio.wait_for(
        asyncio.gather(*(channel.channel_ready() for channel in channels)), CONNECT_SECONDS_MAX
    )
    return channels


async def drive(spec: Spec, first_index: int, barrier: Barrier | None = None) -> Result:
    """Run this process's share: ``spec.clients`` closed-loop clients, ``spec.total`` requests."""
    channels = await _connect(spec)
    method = PUT_METHOD if spec.operation == "put" else RANGE_METHOD
    calls: list[grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]] = [
        channel.unary_unary(method) for channel in channels
    ]
    make = request_maker(spec, first_index)
    requests = [make(index) for index in range(spec.total)]
    counter = itertools.count()
    result = Result()
    timeout_s = spec.request_timeout_s

    async def client(call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]) -> None:
        latencies = result.latencies_s
        clock = time.perf_counter
        while (index := next(counter)) < spec.total:
            started = clock()
            try:
                await call(requests[index], timeout=timeout_s)
            except grpc.aio.AioRpcError as error:
                result.errors[f"{error.code().name}: {error.details()}"] += 1
                continue
            latencies.append(clock() - started)

    if barrier is not None:
        barrier.wait(BARRIER_SECONDS_MAX)
    result.started_s = time.monotonic()
    try:
        await asyncio.gather(*(client(calls[index % len(calls)]) for index in range(spec.clients)))
    finally:
        result.finished_s = time.monotonic()
        for channel in channels:
            await channel.close()
    return result


def run_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on a fresh uvloop loop when uvloop is installed (asyncio's otherwise),
    without touching the process's event loop policy."""
    try:
        import uvloop  # noqa: PLC0415 - optional

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coroutine)


def _worker(spec: Spec, first_index: int, barrier: Barrier, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        result = run_loop(drive(spec, first_index, barrier))
    except Exception as error:  # reported to the parent, which prints it
        results.put(("error", f"{type(error).__name__}: {error}"))
        return
    results.put(("ok", result))


def measure(spec: Spec) -> Report:
    """Run ``spec`` (over ``spec.procs`` processes) and summarize it."""
    spec.validate()
    if spec.procs == 1:
        return summarize(spec, run_loop(drive(spec, 0)))
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(spec.procs)
    results: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    workers = [
        context.Process(target=_worker, args=(share, first, barrier, results), daemon=True)
        for share, first in spec.shares()
    ]
    for worker in workers:
        worker.start()
    merged: Result | None = None
    try:
        for _ in workers:
            kind, payload = results.get(timeout=BARRIER_SECONDS_MAX + spec.total)
            if kind != "ok":
                raise RuntimeError(f"a benchmark process failed: {payload}")
            if merged is None:
                merged = payload
            else:
                merged.merge(payload)
    finally:
        for worker in workers:
            worker.join(timeout=CONNECT_SECONDS_MAX)
            if worker.is_alive():
                worker.kill()
    assert merged is not None
    return summarize(spec, merged)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    assert sorted_values, "percentiles of nothing"
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def summarize(spec: Spec, result: Result) -> Report:
    latencies = sorted(result.latencies_s)
    errors = sum(result.errors.values())
    elapsed_s = max(result.finished_s - result.started_s, 1e-9)
    latency_ms: dict[str, float] = {}
    for fraction in PERCENTILES:
        name = f"p{round(fraction * 100)}"
        latency_ms[name] = percentile(latencies, fraction) * 1000 if latencies else 0.0
    latency_ms["max"] = latencies[-1] * 1000 if latencies else 0.0
    return Report(
        operation=spec.operation,
        requests=len(latencies) + errors,
        errors=errors,
        elapsed_s=elapsed_s,
        ops_per_s=len(latencies) / elapsed_s,
        latency_ms=latency_ms,
        error_kinds=tuple(result.errors.most_common()),
    )


def format_report(spec: Spec, report: Report) -> str:
    latency = "  ".join(f"{name} {value:.2f}" for name, value in report.latency_ms.items())
    consistency = "" if spec.operation == "put" else f", consistency {spec.consistency}"
    lines = [
        f"synod bench {spec.operation}: {spec.total:,} requests, {spec.clients} clients,"
        f" {spec.conns} connections, {spec.procs} process(es){consistency},"
        f" keys {spec.key_size} B, values {spec.val_size} B",
        f"  endpoints     {','.join(spec.endpoints)}",
        f"  throughput    {report.ops_per_s:,.0f} ops/s"
        f" ({report.requests - report.errors:,} ok in {report.elapsed_s:.2f} s)",
        f"  latency ms    {latency}",
        f"  errors        {report.errors}",
    ]
    lines.extend(f"    {count} x {kind}" for kind, count in report.error_kinds[:5])
    return "\n".join(lines)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("operation", choices=("put", "range"))
    parser.add_argument("--endpoints", default="127.0.0.1:2379", help="HOST:PORT,...")
    parser.add_argument("--clients", type=int, default=1, help="concurrent requests in flight")
    parser.add_argument("--conns", type=int, default=1, help="gRPC connections")
    parser.add_argument("--total", type=int, default=10_000, help="requests in all")
    parser.add_argument("--key-size", type=int, default=8, help="bytes")
    parser.add_argument("--val-size", type=int, default=8, help="bytes")
    parser.add_argument("--key-space-size", type=int, default=1, help="distinct random keys")
    parser.add_argument("--sequential-keys", action="store_true", help="keys 0, 1, 2, ...")
    parser.add_argument("--consistency", choices=("l", "s"), default="l", help="range only")
    parser.add_argument("--procs", type=int, default=1, help="client processes")
    parser.add_argument(
        "--request-timeout", type=float, default=REQUEST_TIMEOUT_SECONDS_DEFAULT, help="seconds"
    )


def spec_from(args: argparse.Namespace) -> Spec:
    endpoints = tuple(item.strip() for item in args.endpoints.split(",") if item.strip())
    return Spec(
        operation=args.operation,
        endpoints=endpoints,
        clients=args.clients,
        conns=args.conns,
        total=args.total,
        key_size=args.key_size,
        val_size=args.val_size,
        key_space_size=args.key_space_size,
        sequential_keys=args.sequential_keys,
        consistency=args.consistency,
        procs=args.procs,
        request_timeout_s=args.request_timeout,
    )


def run(args: argparse.Namespace) -> int:
    spec = spec_from(args)
    try:
        spec.validate()
        report = measure(spec)
    except ValueError as error:
        print(f"synod bench: {error}", file=sys.stderr)
        return 2
    except (TimeoutError, RuntimeError) as error:
        print(f"synod bench: cannot run against {args.endpoints}: {error}", file=sys.stderr)
        return 1
    print(format_report(spec, report))
    return 1 if report.errors else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="synod bench", description=__doc__)
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
