"""Peer transport micro-benchmark: messages/s and MB/s between two transports on loopback.

Run ``python -m synod.server.transport_bench``. Node 1 sends, node 2 receives; by default
node 2 runs in its own process (as peers do), ``--processes 1`` puts both on one event loop
(one core doing the sender's and the receiver's work: framing, crc32c, the Raft codec, asyncio
streams). Node 2 acknowledges every ``window / 4`` messages with a HeartbeatResponse over its
own link, and node 1 keeps at most ``--window`` messages unacknowledged (fewer for large ones:
half the send queue's byte bound), so no message is dropped from a queue. The clock runs from
the first send to the last acknowledgement. MB/s counts encoded message bytes (frame headers
excluded). A measurement, not a test: nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection

from synod.consensus.raft.messages import AppendEntries, HeartbeatResponse, InstallSnapshot
from synod.consensus.raft.wire import decode_message, encode_message
from synod.core.engine import Message
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import Entry, Membership, Snapshot, SnapshotMeta
from synod.server.transport import Codec, Transport, TransportConfig

ENTRY_BYTES = 256
TIMEOUT_S = 300.0


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    messages: int
    message_bytes: int
    seconds: float

    @property
    def messages_per_s(self) -> float:
        return self.messages / self.seconds

    @property
    def megabytes_per_s(self) -> float:
        return self.messages * self.message_bytes / self.seconds / 1e6


class _Receiver:
    """Node 2: counts deliveries and acknowledges every ``ack_every``-th and the last one with a
    HeartbeatResponse whose read_round is the count, so the sender can keep a window."""

    def __init__(self, count: int, ack_every: int) -> None:
        self.count = count
        self.ack_every = ack_every
        self.received = 0
        self.done = asyncio.Event()
        self.transport: Transport | None = None

    def on_message(self, _: Message) -> None:
        self.received += 1
        if self.received % self.ack_every == 0 or self.received == self.count:
            assert self.transport is not None
            ack = HeartbeatResponse(NodeId(2), NodeId(1), Term(3), self.received)
            self.transport.send(ack)
        if self.received == self.count:
            self.done.set()


class _Sender:
    """Node 1's view of the receiver's acknowledgements."""

    def __init__(self) -> None:
        self.acked = 0
        self.progress = asyncio.Event()

    def on_message(self, message: Message) -> None:
        if isinstance(message, HeartbeatResponse):
            self.acked = max(self.acked, message.read_round)
            self.progress.set()

    async def wait_acked(self, at_least: int) -> None:
        while self.acked < at_least:
            self.progress.clear()
            await self.progress.wait()


def _transport(node: int, on_message: Callable[[Message], None]) -> Transport:
    config = TransportConfig(NodeId(node), b"bench")
    return Transport(config, Codec(encode_message, decode_message), on_message, random.Random(node))


async def _serve_receiver(control: Connection, count: int, ack_every: int) -> None:
    """The receiving node: tell the sender our port, learn its port, count, wait for "done"."""
    receiver = _Receiver(count, ack_every)
    receiver.transport = transport = _transport(2, receiver.on_message)
    _, port = await transport.start()
    control.send(port)
    sender_port = await asyncio.to_thread(control.recv)
    transport.add_peer(NodeId(1), "127.0.0.1", sender_port)
    control.send("ready")  # the sender may dial: we know it now
    async with asyncio.timeout(TIMEOUT_S):
        await receiver.done.wait()
        await asyncio.to_thread(control.recv)  # the sender has every acknowledgement
    await transport.close()


def _quiet() -> None:
    """Peers come and go between cases (a dial may beat the other side's add_peer and be
    refused once): the refusals and reconnects are expected here, so nothing is logged."""
    logging.getLogger("synod.server.transport").setLevel(logging.CRITICAL)


def _receiver_process(control: Connection, count: int, ack_every: int) -> None:
    _quiet()
    asyncio.run(_serve_receiver(control, count, ack_every))


def append_entries(entries: int) -> AppendEntries:
    rng = random.Random(entries)
    batch = tuple(
        Entry(LogIndex(100 + i), Term(3), data=rng.randbytes(ENTRY_BYTES)) for i in range(entries)
    )
    return AppendEntries(NodeId(1), NodeId(2), Term(3), LogIndex(99), Term(3), batch, LogIndex(99))


def snapshot(megabytes: int) -> InstallSnapshot:
    meta = SnapshotMeta(LogIndex(10_000), Term(3), Membership(frozenset({NodeId(1), NodeId(2)})))
    state = random.Random(megabytes).randbytes(megabytes << 20)
    return InstallSnapshot(NodeId(1), NodeId(2), Term(3), Snapshot(meta, state))


async def measure(name: str, message: Message, count: int, window: int, processes: int) -> Row:
    """Send ``count`` copies of ``message`` from node 1 to node 2 (in a second process when
    ``processes`` is 2), at most ``window`` unacknowledged."""
    size_bytes = len(encode_message(message))
    queue_window = TransportConfig(NodeId(1), b"bench").send_queue_bytes_max // (2 * size_bytes)
    window = max(1, min(window, queue_window))
    ack_every = max(1, window // 4)
    control, remote_control = multiprocessing.Pipe()
    if processes == 2:
        process = multiprocessing.get_context("spawn").Process(
            target=_receiver_process, args=(remote_control, count, ack_every), daemon=True
        )
        process.start()
        receiving = asyncio.create_task(asyncio.to_thread(process.join, TIMEOUT_S))
    else:
        receiving = asyncio.create_task(_serve_receiver(remote_control, count, ack_every))
    sender = _Sender()
    transport = _transport(1, sender.on_message)
    _, port = await transport.start()
    receiver_port = await asyncio.to_thread(control.recv)
    control.send(port)
    await asyncio.to_thread(control.recv)
    transport.add_peer(NodeId(2), "127.0.0.1", receiver_port)
    async with asyncio.timeout(TIMEOUT_S):
        while not transport.is_connected(NodeId(2)):
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        for sent in range(count):
            await sender.wait_acked(sent - window + 1)
            transport.send(message)
        await sender.wait_acked(count)
        seconds = time.perf_counter() - started
        assert transport.metrics.messages_dropped == 0
        await transport.close()
        control.send("done")
        await receiving
    return Row(name, count, size_bytes, seconds)


def print_table(rows: list[Row]) -> None:
    header = f"{'case':<34} {'messages':>9} {'bytes/msg':>10} {'msgs/s':>10} {'MB/s':>8}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row.name:<34} {row.messages:>9} {row.message_bytes:>10}"
            f" {row.messages_per_s:>10.0f} {row.megabytes_per_s:>8.1f}"
        )


async def run(scale: float, window: int, processes: int) -> list[Row]:
    cases: list[tuple[str, Message, int]] = [
        ("AppendEntries 1 x 256 B", append_entries(1), int(100_000 * scale)),
        ("AppendEntries 64 x 256 B", append_entries(64), int(20_000 * scale)),
        ("InstallSnapshot 16 MiB (chunked)", snapshot(16), max(1, int(20 * scale))),
    ]
    return [
        await measure(name, message, count, window, processes) for name, message, count in cases
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies message counts")
    parser.add_argument("--window", type=int, default=1024, help="unacknowledged messages max")
    parser.add_argument(
        "--processes",
        type=int,
        choices=(1, 2),
        default=2,
        help="2: the receiver runs in its own process; 1: both share one event loop",
    )
    arguments = parser.parse_args(argv)
    _quiet()
    print(f"receiver in {'its own process' if arguments.processes == 2 else 'the same loop'}")
    print_table(asyncio.run(run(arguments.scale, arguments.window, arguments.processes)))


if __name__ == "__main__":
    main()
