"""Peer transport micro-benchmark: messages/s and MB/s between two transports on loopback.

Run ``python -m synod.server.transport_bench``. Both transports share one process and one
event loop, so the numbers include the receiver's work as well as the sender's (framing,
crc32c, the Raft codec, asyncio streams) on one core. The sender keeps at most ``--window``
messages (fewer for large ones: half the send queue's byte bound) not yet delivered to the
receiving callback, so no message is dropped from a queue.
MB/s counts encoded message bytes (frame headers excluded).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from dataclasses import dataclass

from synod.consensus.raft.messages import AppendEntries, InstallSnapshot
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


class _Counter:
    """The receiving side: counts deliveries and wakes the sender."""

    def __init__(self) -> None:
        self.received = 0
        self.progress = asyncio.Event()

    def on_message(self, _: Message) -> None:
        self.received += 1
        self.progress.set()


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


async def measure(name: str, message: Message, count: int, window: int) -> Row:
    codec = Codec(encode_message, decode_message)
    counter = _Counter()
    sender, receiver = (
        Transport(TransportConfig(NodeId(node), b"bench"), codec, counter.on_message, rng)
        for node, rng in ((1, random.Random(1)), (2, random.Random(2)))
    )
    size_bytes = len(encode_message(message))
    window = max(1, min(window, sender.config.send_queue_bytes_max // (2 * size_bytes)))
    for transport in (sender, receiver):
        await transport.start()
    sender.add_peer(NodeId(2), *receiver.address)
    receiver.add_peer(NodeId(1), *sender.address)
    async with asyncio.timeout(TIMEOUT_S):
        while not sender.is_connected(NodeId(2)):
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        for sent in range(count):
            while sent - counter.received >= window:
                counter.progress.clear()
                await counter.progress.wait()
            sender.send(message)
        while counter.received < count:
            counter.progress.clear()
            await counter.progress.wait()
        seconds = time.perf_counter() - started
    assert sender.metrics.messages_dropped == 0
    for transport in (sender, receiver):
        await transport.close()
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


async def run(scale: float, window: int) -> list[Row]:
    cases: list[tuple[str, Message, int]] = [
        ("AppendEntries 1 x 256 B", append_entries(1), int(100_000 * scale)),
        ("AppendEntries 64 x 256 B", append_entries(64), int(20_000 * scale)),
        ("InstallSnapshot 16 MiB (chunked)", snapshot(16), max(1, int(20 * scale))),
    ]
    return [await measure(name, message, count, window) for name, message, count in cases]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies message counts")
    parser.add_argument("--window", type=int, default=1024, help="unacknowledged messages max")
    arguments = parser.parse_args(argv)
    print_table(asyncio.run(run(arguments.scale, arguments.window)))


if __name__ == "__main__":
    main()
