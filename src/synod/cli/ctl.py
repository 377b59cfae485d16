"""``synod ctl``: a small etcd v3 client for people without etcdctl, over gRPC.

Speaks etcd's API through the generated stubs, so it works against Synod and etcd alike. The
output follows etcdctl's simple format (``get`` prints key and value lines, ``put`` prints OK,
``del`` the number deleted); ``member list`` and ``endpoint status`` print tables.

Rules:
- every unary call has a deadline (``--command-timeout``, seconds); ``watch`` and
  ``lease keep-alive`` stream until Ctrl-C, which ends them with exit code 0 (any other command
  interrupted exits 130);
- requests go to the first endpoint; when it cannot be reached, to the next one;
  ``endpoint status`` asks every endpoint;
- any failure is one line on stderr (the endpoint that could not be reached, or etcd's own error
  text) and exit code 1; bad arguments exit 2, as argparse does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

import grpc
import grpc.aio

from synod.api.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from synod.api.gen.mvccpb import kv_pb2

COMMAND_TIMEOUT_SECONDS_DEFAULT = 5.0
KEEP_ALIVE_FRACTION = 3
"""A keep-alive is sent every TTL / this, as etcd's clients do."""

T = TypeVar("T")
Call = Callable[[grpc.aio.Channel], Awaitable[T]]


class CtlError(Exception):
    """A request failed; the message is the one line printed."""


def prefix_end(key: bytes) -> bytes:
    """The range end that covers every key starting with ``key`` (etcd's rule)."""
    end = bytearray(key)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\x00"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoints", default="127.0.0.1:2379", help="HOST:PORT,...")
    parser.add_argument(
        "--command-timeout",
        type=float,
        default=COMMAND_TIMEOUT_SECONDS_DEFAULT,
        help="seconds per request",
    )
    commands = parser.add_subparsers(dest="ctl_command", metavar="COMMAND", required=True)
    get = commands.add_parser("get", help="read a key (or every key under a prefix)")
    get.add_argument("key")
    get.add_argument("--prefix", action="store_true")
    get.add_argument("--rev", type=int, default=0, help="read at this revision")
    get.add_argument("--consistency", choices=("l", "s"), default="l")
    put = commands.add_parser("put", help="write a key")
    put.add_argument("key")
    put.add_argument("value")
    put.add_argument("--lease", default="0", help="lease ID (hex), 0 for none")
    delete = commands.add_parser("del", help="delete a key (or every key under a prefix)")
    delete.add_argument("key")
    delete.add_argument("--prefix", action="store_true")
    watch = commands.add_parser("watch", help="print changes to a key until Ctrl-C")
    watch.add_argument("key")
    watch.add_argument("--prefix", action="store_true")
    watch.add_argument("--rev", type=int, default=0, help="replay from this revision")
    _configure_lease(commands.add_parser("lease", help="grant, revoke, list, keep-alive"))
    member = commands.add_parser("member", help="cluster members")
    member_commands = member.add_subparsers(dest="member_command", metavar="COMMAND")
    member_commands.required = True
    member_commands.add_parser("list", help="a table of members")
    endpoint = commands.add_parser("endpoint", help="endpoint health and status")
    endpoint_commands = endpoint.add_subparsers(dest="endpoint_command", metavar="COMMAND")
    endpoint_commands.required = True
    endpoint_commands.add_parser("status", help="a table with one row per endpoint")


def _configure_lease(lease: argparse.ArgumentParser) -> None:
    commands = lease.add_subparsers(dest="lease_command", metavar="COMMAND", required=True)
    commands.add_parser("grant", help="a new lease").add_argument("ttl", type=int)
    commands.add_parser("revoke", help="revoke a lease").add_argument("id")
    commands.add_parser("list", help="every live lease")
    commands.add_parser("keep-alive", help="keep a lease alive until Ctrl-C").add_argument("id")


def lease_id(text: str) -> int:
    try:
        return int(text, 16)
    except ValueError:
        raise CtlError(f"{text!r} is not a lease ID (hexadecimal, as lease grant prints)") from None


def describe(error: grpc.aio.AioRpcError, endpoint: str) -> str:
    """One line for a failed call: etcd's error text, or why the endpoint is unreachable."""
    details = error.details() or ""
    if error.code() == grpc.StatusCode.UNAVAILABLE and "etcdserver" not in details:
        reason = "connection refused" if "refused" in details.lower() else details
        return f"cannot reach {endpoint}: {reason}"
    if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED and not details.startswith("etcd"):
        return f"{endpoint} did not answer in time"
    if error.code() == grpc.StatusCode.UNIMPLEMENTED:
        return f"{endpoint} does not serve this call yet ({details or 'unimplemented'})"
    return details or error.code().name.lower()


class Client:
    """Channels to the endpoints; a call goes to the first one that can be reached."""

    def __init__(self, endpoints: Sequence[str], timeout_s: float) -> None:
        if not endpoints:
            raise CtlError("--endpoints: give at least one HOST:PORT")
        self.endpoints = list(endpoints)
        self.timeout_s = timeout_s
        self.channels = {endpoint: grpc.aio.insecure_channel(endpoint) for endpoint in endpoints}

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()

    async def call(self, call: Call[T]) -> T:
        last = ""
        for endpoint in self.endpoints:
            try:
                return await call(self.channels[endpoint])
            except grpc.aio.AioRpcError as error:
                last = describe(error, endpoint)
                if error.code() != grpc.StatusCode.UNAVAILABLE:
                    raise CtlError(last) from None
        raise CtlError(last)

    async def call_at(self, endpoint: str, call: Call[T]) -> T:
        try:
            return await call(self.channels[endpoint])
        except grpc.aio.AioRpcError as error:
            raise CtlError(describe(error, endpoint)) from None


def _key_range(key: str, prefix: bool) -> tuple[bytes, bytes]:
    encoded = key.encode()
    return encoded, prefix_end(encoded) if prefix else b""


async def get(client: Client, args: argparse.Namespace) -> None:
    key, range_end = _key_range(args.key, args.prefix)
    request = rpc_pb2.RangeRequest(
        key=key, range_end=range_end, revision=args.rev, serializable=args.consistency == "s"
    )
    response = await client.call(
        lambda channel: rpc_pb2_grpc.KVStub(channel).Range(request, timeout=client.timeout_s)
    )
    for kv in response.kvs:
        print(_text(kv.key))
        print(_text(kv.value))


async def put(client: Client, args: argparse.Namespace) -> None:
    request = rpc_pb2.PutRequest(
        key=args.key.encode(), value=args.value.encode(), lease=lease_id(args.lease)
    )
    await client.call(
        lambda channel: rpc_pb2_grpc.KVStub(channel).Put(request, timeout=client.timeout_s)
    )
    print("OK")


async def delete(client: Client, args: argparse.Namespace) -> None:
    key, range_end = _key_range(args.key, args.prefix)
    request = rpc_pb2.DeleteRangeRequest(key=key, range_end=range_end)
    response = await client.call(
        lambda channel: rpc_pb2_grpc.KVStub(channel).DeleteRange(request, timeout=client.timeout_s)
    )
    print(response.deleted)


def _text(data: bytes) -> str:
    return data.decode(errors="backslashreplace")


def format_event(event: kv_pb2.Event) -> list[str]:
    kind = "PUT" if event.type == kv_pb2.Event.PUT else "DELETE"
    lines = [kind, _text(event.kv.key)]
    if event.type == kv_pb2.Event.PUT:
        lines.append(_text(event.kv.value))
    return lines


async def watch(client: Client, args: argparse.Namespace) -> None:
    key, range_end = _key_range(args.key, args.prefix)
    create = rpc_pb2.WatchCreateRequest(key=key, range_end=range_end, start_revision=args.rev)

    async def requests() -> AsyncIterator[rpc_pb2.WatchRequest]:
        yield rpc_pb2.WatchRequest(create_request=create)
        await asyncio.Event().wait()  # keep the stream open until cancelled

    async def stream(channel: grpc.aio.Channel) -> None:
        async for response in rpc_pb2_grpc.WatchStub(channel).Watch(requests()):
            if response.canceled:
                reason = response.cancel_reason or "the server cancelled the watch"
                if response.compact_revision:
                    reason = f"revision {args.rev} is compacted (oldest kept: "
                    reason += f"{response.compact_revision})"
                raise CtlError(f"watch cancelled: {reason}")
            for event in response.events:
                print("\n".join(format_event(event)), flush=True)

    await client.call(stream)


async def lease(client: Client, args: argparse.Namespace) -> None:
    def lease_stub(channel: grpc.aio.Channel) -> rpc_pb2_grpc.LeaseAsyncStub:
        return rpc_pb2_grpc.LeaseStub(channel)

    timeout = client.timeout_s
    if args.lease_command == "grant":
        grant = rpc_pb2.LeaseGrantRequest(TTL=args.ttl)
        granted = await client.call(lambda c: lease_stub(c).LeaseGrant(grant, timeout=timeout))
        if granted.error:
            raise CtlError(granted.error)
        print(f"lease {granted.ID:x} granted with TTL({granted.TTL}s)")
    elif args.lease_command == "revoke":
        revoke = rpc_pb2.LeaseRevokeRequest(ID=lease_id(args.id))
        await client.call(lambda c: lease_stub(c).LeaseRevoke(revoke, timeout=timeout))
        print(f"lease {args.id} revoked")
    elif args.lease_command == "list":
        listed = await client.call(
            lambda c: lease_stub(c).LeaseLeases(rpc_pb2.LeaseLeasesRequest(), timeout=timeout)
        )
        print(f"found {len(listed.leases)} leases")
        for status in listed.leases:
            print(f"{status.ID:x}")
    else:
        await client.call(lambda c: keep_alive(lease_stub(c), lease_id(args.id)))


async def keep_alive(stub: rpc_pb2_grpc.LeaseAsyncStub, identifier: int) -> None:
    """Refresh the lease every TTL/3 until Ctrl-C; an expired lease ends it with an error."""
    pause_s = asyncio.Queue[float]()
    await pause_s.put(0.0)

    async def requests() -> AsyncIterator[rpc_pb2.LeaseKeepAliveRequest]:
        while True:
            await asyncio.sleep(await pause_s.get())
            yield rpc_pb2.LeaseKeepAliveRequest(ID=identifier)

    async for response in stub.LeaseKeepAlive(requests()):
        if response.TTL <= 0:
            raise CtlError(f"lease {identifier:x} expired or revoked")
        print(f"lease {response.ID:x} keepalived with TTL({response.TTL})", flush=True)
        await pause_s.put(max(response.TTL / KEEP_ALIVE_FRACTION, 0.5))


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An aligned text table with a rule under the header."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        cells_padded = (cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        return "  ".join(cells_padded).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


async def member_list(client: Client, args: argparse.Namespace) -> None:
    del args
    listed = await client.call(
        lambda channel: rpc_pb2_grpc.ClusterStub(channel).MemberList(
            rpc_pb2.MemberListRequest(), timeout=client.timeout_s
        )
    )
    rows = [
        (
            f"{member.ID:x}",
            member.name or "(unstarted)",
            ",".join(member.peerURLs),
            ",".join(member.clientURLs),
            "yes" if member.isLearner else "no",
        )
        for member in listed.members
    ]
    print(table(("ID", "NAME", "PEER URLS", "CLIENT URLS", "LEARNER"), rows))


async def endpoint_status(client: Client, args: argparse.Namespace) -> None:
    del args
    rows: list[tuple[str, ...]] = []
    failures: list[str] = []
    for endpoint in client.endpoints:
        try:
            status = await client.call_at(
                endpoint,
                lambda channel: rpc_pb2_grpc.MaintenanceStub(channel).Status(
                    rpc_pb2.StatusRequest(), timeout=client.timeout_s
                ),
            )
        except CtlError as error:
            failures.append(str(error))
            continue
        member = status.header.member_id
        rows.append(
            (
                endpoint,
                f"{member:x}",
                status.version,
                _size(status.dbSize),
                "yes" if member == status.leader and member != 0 else "no",
                str(status.raftTerm),
                str(status.raftIndex),
                str(status.raftAppliedIndex),
                ",".join(status.errors),
            )
        )
    if rows:
        header = ("ENDPOINT", "ID", "VERSION", "DB SIZE", "LEADER", "TERM", "INDEX", "APPLIED")
        print(table((*header, "ERRORS"), rows))
    if failures:
        raise CtlError("; ".join(failures))


def _size(size_bytes: int) -> str:
    value = float(size_bytes)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size_bytes} B"


COMMANDS: dict[str, Callable[[Client, argparse.Namespace], Awaitable[None]]] = {
    "get": get,
    "put": put,
    "del": delete,
    "watch": watch,
    "lease": lease,
    "member": member_list,
    "endpoint": endpoint_status,
}


async def _run(args: argparse.Namespace) -> None:
    endpoints = [endpoint.strip() for endpoint in args.endpoints.split(",") if endpoint.strip()]
    client = Client(endpoints, args.command_timeout)
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    try:
        await COMMANDS[args.ctl_command](client, args)
    finally:
        await client.close()


def run(args: argparse.Namespace) -> int:
    try:
        asyncio.run(_run(args))
    except CtlError as error:
        print(f"synod ctl: {error}", file=sys.stderr)
        return 1
    except asyncio.CancelledError:
        # Ctrl-C: the way watch and keep-alive end; anything else was interrupted.
        streaming = args.ctl_command == "watch" or getattr(args, "lease_command", "") == (
            "keep-alive"
        )
        return 0 if streaming else 130
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="synod ctl", description=__doc__)
    configure(parser)
    with contextlib.suppress(KeyboardInterrupt):
        return run(parser.parse_args(argv))
    return 130
