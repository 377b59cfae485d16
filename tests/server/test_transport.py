"""The peer transport over real sockets on 127.0.0.1: delivery, refusals, bad peers, reconnects,
bounded queues, streamed snapshots and a clean shutdown. Every wait has a deadline."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import pytest

from synod.consensus.raft.messages import (
    AppendEntries,
    Heartbeat,
    InstallSnapshot,
    ReadIndexRequest,
    VoteRequest,
)
from synod.consensus.raft.wire import decode_message, encode_message
from synod.core.engine import Message
from synod.core.errors import MalformedMessage
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import Entry, EntryKind, Membership, Snapshot, SnapshotMeta
from synod.server.frames import (
    FRAME_VERSION,
    HEADER,
    MAGIC,
    FrameType,
    Hello,
    chunk_frames,
    decode_error,
    encode_frame,
    encode_hello,
)
from synod.server.transport import Codec, Transport, TransportConfig
from synod.server.transport_bench import append_entries, measure

TOKEN = b"cluster-a"
RAFT = Codec(encode_message, decode_message)
WAIT_S = 10.0


def run(test: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(test, 60))


@dataclass
class Node:
    transport: Transport
    inbox: asyncio.Queue[Message]

    @property
    def id(self) -> NodeId:
        return self.transport.node_id

    @property
    def address(self) -> tuple[str, int]:
        return self.transport.address

    async def receive(self, count: int) -> list[Message]:
        return [await asyncio.wait_for(self.inbox.get(), WAIT_S) for _ in range(count)]


async def start(
    node: int, *, token: bytes = TOKEN, port: int = 0, engine: str = "raft", **limits: Any
) -> Node:
    config = TransportConfig(
        NodeId(node),
        token,
        engine=engine,
        listen_port=port,
        reconnect_delay_ms_min=10,
        reconnect_delay_ms_max=100,
        **limits,
    )
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    transport = Transport(config, RAFT, inbox.put_nowait, random.Random(node))
    await transport.start()
    return Node(transport, inbox)


def connect(*nodes: Node) -> None:
    for node in nodes:
        for other in nodes:
            if other is not node:
                node.transport.add_peer(other.id, *other.address)


async def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def close_all(*nodes: Node) -> None:
    for node in nodes:
        await node.transport.close()


def heartbeat(source: Node | int, target: Node | int, commit: int = 0) -> Heartbeat:
    source_id = source.id if isinstance(source, Node) else NodeId(source)
    target_id = target.id if isinstance(target, Node) else NodeId(target)
    return Heartbeat(source_id, target_id, Term(1), LogIndex(commit))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_two_transports_exchange_every_kind_of_message() -> None:
    async def scenario() -> None:
        one, two = await start(1), await start(2)
        connect(one, two)
        entries = tuple(
            Entry(LogIndex(i), Term(2), EntryKind.NORMAL, bytes([i]) * 300) for i in range(1, 4)
        )
        sent: list[Message] = [
            VoteRequest(one.id, two.id, Term(2), LogIndex(7), Term(1), pre_vote=True),
            AppendEntries(one.id, two.id, Term(2), LogIndex(0), Term(0), entries, LogIndex(2)),
            ReadIndexRequest(one.id, two.id, Term(2), b"read-1"),
            heartbeat(one, two, commit=3),
        ]
        for message in sent:
            assert one.transport.send(message)
        assert two.transport.send(heartbeat(two, one, commit=9))
        assert await two.receive(len(sent)) == sent
        assert await one.receive(1) == [heartbeat(two, one, commit=9)]
        assert one.transport.metrics.messages_sent == len(sent)
        assert two.transport.metrics.messages_received == len(sent)
        assert two.transport.metrics.bytes_received == sum(len(encode_message(m)) for m in sent)
        await close_all(one, two)

    run(scenario())


def test_three_transports_reach_every_peer() -> None:
    async def scenario() -> None:
        nodes = [await start(node) for node in (1, 2, 3)]
        connect(*nodes)
        for source in nodes:
            for target in nodes:
                if target is not source:
                    assert source.transport.send(heartbeat(source, target, commit=source.id))
        for node in nodes:
            received = await node.receive(2)
            assert sorted(message.source for message in received) == sorted(
                other.id for other in nodes if other is not node
            )
            assert all(message.target == node.id for message in received)
        await eventually(
            lambda: all(n.transport.is_connected(p) for n in nodes for p in n.transport.peers),
            "every link up",
        )
        await close_all(*nodes)

    run(scenario())


def _records(caplog: pytest.LogCaptureFixture, node: int, *words: str) -> list[str]:
    lines = [record.getMessage() for record in caplog.records]
    return [line for line in lines if line.startswith(f"node {node}:") and all(
        word in line for word in words)]  # fmt: skip


@pytest.mark.parametrize(
    ("dialer_token", "acceptor_knows_dialer", "address_of", "reason"),
    [
        (b"cluster-b", True, 2, "wrong cluster token"),
        (TOKEN, False, 2, "node 1 is not a known member"),
        (TOKEN, True, 3, "this is node 2, not node 3"),
    ],
)
def test_refused_handshakes_are_logged_on_both_sides(
    caplog: pytest.LogCaptureFixture,
    dialer_token: bytes,
    acceptor_knows_dialer: bool,
    address_of: int,
    reason: str,
) -> None:
    caplog.set_level(logging.INFO, logger="synod.server.transport")

    async def scenario() -> None:
        one, two = await start(1, token=dialer_token), await start(2)
        one.transport.add_peer(NodeId(address_of), *two.address)
        if acceptor_knows_dialer:
            two.transport.add_peer(one.id, *one.address)
        one.transport.send(heartbeat(1, address_of))
        await eventually(lambda: two.transport.metrics.refused >= 1, "the acceptor's refusal")
        await eventually(lambda: one.transport.metrics.refused >= 1, "the dialer's refusal")
        assert not one.transport.is_connected(NodeId(address_of))
        assert two.transport.metrics.messages_received == 0
        assert two.inbox.empty()
        await close_all(one, two)

    run(scenario())
    assert _records(caplog, 2, "refused connection from", "claiming to be node 1", reason)
    assert _records(caplog, 1, f"handshake with node {address_of}", "refused", reason)


def test_a_peer_running_another_engine_is_refused_on_both_sides(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="synod.server.transport")

    async def scenario() -> None:
        raft, paxos = await start(1), await start(2, engine="paxos")
        connect(raft, paxos)
        raft.transport.send(heartbeat(raft, paxos))
        paxos.transport.send(heartbeat(paxos, raft))
        await eventually(
            lambda: min(raft.transport.metrics.refused, paxos.transport.metrics.refused) >= 2,
            "each side refusing and refused",
        )
        assert not raft.transport.is_connected(paxos.id)
        assert not paxos.transport.is_connected(raft.id)
        assert raft.inbox.empty()
        assert paxos.inbox.empty()
        await close_all(raft, paxos)

    run(scenario())
    # Each side, as acceptor, says why it refused; as dialer, logs the refusal it was told.
    assert _records(caplog, 1, "refused connection", "the dialer runs paxos, this node runs raft")
    assert _records(caplog, 2, "refused connection", "the dialer runs raft, this node runs paxos")
    assert _records(caplog, 1, "handshake with node 2", "refused", "engine mismatch")
    assert _records(caplog, 2, "handshake with node 1", "refused", "engine mismatch")


async def _raw_handshake(
    acceptor: Node, source: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(*acceptor.address)
    hello = Hello(NodeId(source), acceptor.id, TOKEN)
    writer.write(encode_frame(FrameType.HELLO, encode_hello(hello)))
    welcome_bytes = HEADER.size + len(encode_hello(hello))
    welcome = await asyncio.wait_for(reader.readexactly(welcome_bytes), WAIT_S)
    assert welcome[5] == FrameType.WELCOME
    return reader, writer


async def _read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the acceptor sends before it closes the connection (bounded)."""
    received = b""
    while chunk := await asyncio.wait_for(reader.read(65536), WAIT_S):
        received += chunk
        assert len(received) < 1 << 20
    return received


def _message_frame(message: Message) -> bytes:
    return encode_frame(FrameType.MESSAGE, encode_message(message))


def _bad_crc(frame: bytes) -> bytes:
    return frame[:10] + bytes([frame[10] ^ 0xFF]) + frame[11:]


def _damaged_stream(message: Message) -> bytes:
    """Chunk frames, each sound, whose whole fails the stream checksum."""
    frames = list(chunk_frames(encode_message(message), 1, 4))
    last = frames[-1][HEADER.size :]
    frames[-1] = encode_frame(FrameType.CHUNK, last[:-1] + bytes([last[-1] ^ 1]))
    return b"".join(frames)


GARBAGE: dict[str, tuple[bool, bytes, str]] = {
    # case: (handshake first, bytes sent, reason the acceptor gives)
    "random bytes": (False, random.Random(7).randbytes(64), "bad magic"),
    "wrong magic": (False, b"XXXX" + _message_frame(heartbeat(3, 2))[4:], "bad magic"),
    "wrong version": (False, MAGIC + b"\x09" + b"\x00" * 9, "frame version 9"),
    "bad crc": (True, _bad_crc(_message_frame(heartbeat(3, 2))), "fails its crc32c"),
    "oversized length": (
        True,
        HEADER.pack(MAGIC, FRAME_VERSION, FrameType.MESSAGE, 1 << 31, 0),
        "exceeds the limit",
    ),
    "message before hello": (False, _message_frame(heartbeat(3, 2)), "expected HELLO"),
    "undecodable message": (True, encode_frame(FrameType.MESSAGE, b"\x01\xc1"), "malformed"),
    "spoofed source": (True, _message_frame(heartbeat(1, 2)), "message from node 1"),
    "bad stream checksum": (True, _damaged_stream(heartbeat(3, 2)), "stream 1 of"),
}


@pytest.mark.parametrize("case", sorted(GARBAGE))
def test_bad_bytes_close_that_connection_and_the_node_serves_on(
    caplog: pytest.LogCaptureFixture, case: str
) -> None:
    handshake_first, garbage, reason = GARBAGE[case]

    async def scenario() -> None:
        one, two = await start(1), await start(2)
        connect(one, two)
        two.transport.add_peer(NodeId(3), "127.0.0.1", free_port())  # the raw socket's identity
        if handshake_first:
            reader, writer = await _raw_handshake(two, source=3)
        else:
            reader, writer = await asyncio.open_connection(*two.address)
        writer.write(garbage)
        answer = await _read_until_closed(reader)
        writer.close()
        assert answer[5] == FrameType.ERROR
        assert reason in decode_error(answer[HEADER.size :])
        assert two.transport.metrics.connection_errors == 1
        assert two.transport.metrics.messages_received == 0
        assert one.transport.send(heartbeat(one, two, commit=5))
        assert await two.receive(1) == [heartbeat(one, two, commit=5)]
        await close_all(one, two)

    run(scenario())
    assert _records(caplog, 2, "closing connection from", reason)


def _random_garbage(rng: random.Random) -> tuple[bool, bytes]:
    """(handshake first, bytes): raw noise, or well-framed noise after a good handshake."""
    noise = rng.randbytes(rng.randrange(0, 200))
    match rng.randrange(4):
        case 0:
            return False, noise
        case 1:
            return True, noise
        case 2:
            return True, encode_frame(FrameType.MESSAGE, noise)
        case _:
            return True, encode_frame(FrameType.CHUNK, noise)


def test_random_garbage_never_stops_the_node() -> None:
    async def scenario() -> None:
        one, two = await start(1), await start(2)
        connect(one, two)
        two.transport.add_peer(NodeId(3), "127.0.0.1", free_port())
        rng = random.Random(11)
        for _ in range(40):
            handshake_first, garbage = _random_garbage(rng)
            if handshake_first:
                reader, writer = await _raw_handshake(two, source=3)
            else:
                reader, writer = await asyncio.open_connection(*two.address)
            writer.write(garbage)
            writer.write_eof()
            await _read_until_closed(reader)
            writer.close()
        await eventually(lambda: two.transport.inbound_connections == 1, "only node 1 left")
        assert two.transport.metrics.connection_errors >= 30  # short noise may just end early
        assert one.transport.send(heartbeat(one, two, commit=8))
        assert await two.receive(1) == [heartbeat(one, two, commit=8)]
        await close_all(one, two)

    run(scenario())


def test_a_restarted_peer_is_reconnected() -> None:
    async def scenario() -> None:
        one, two = await start(1), await start(2)
        connect(one, two)
        assert one.transport.send(heartbeat(one, two, commit=1))
        assert await two.receive(1) == [heartbeat(one, two, commit=1)]
        port = two.address[1]
        await two.transport.close()
        await eventually(lambda: not one.transport.is_connected(two.id), "the link to go down")
        two = await start(2, port=port)
        two.transport.add_peer(one.id, *one.address)
        await eventually(lambda: one.transport.is_connected(two.id), "the link to come back")
        assert one.transport.metrics.reconnects == 1
        assert one.transport.send(heartbeat(one, two, commit=2))
        assert await two.receive(1) == [heartbeat(one, two, commit=2)]
        await close_all(one, two)

    run(scenario())


def test_a_full_queue_drops_the_oldest_while_the_peer_is_down() -> None:
    async def scenario() -> None:
        port = free_port()
        one = await start(1, send_queue_messages_max=8)
        one.transport.add_peer(NodeId(2), "127.0.0.1", port)
        for commit in range(20):
            assert one.transport.send(heartbeat(1, 2, commit=commit))
        assert one.transport.metrics.messages_dropped == 12
        assert one.transport.queued_messages(NodeId(2)) == 8
        await eventually(lambda: one.transport.metrics.dial_failures >= 1, "a failed dial")
        two = await start(2, port=port)
        two.transport.add_peer(one.id, *one.address)
        received = await two.receive(8)
        assert [message.commit for message in received if isinstance(message, Heartbeat)] == list(
            range(12, 20)
        )
        assert one.transport.metrics.messages_dropped == 12
        await close_all(one, two)

    run(scenario())


def test_a_snapshot_of_several_megabytes_is_streamed_in_chunks() -> None:
    async def scenario() -> None:
        limits: dict[str, Any] = {"chunk_bytes": 256 << 10, "streamed_message_bytes_max": 8 << 20}
        one, two = await start(1, **limits), await start(2, **limits)
        connect(one, two)
        await eventually(lambda: one.transport.is_connected(two.id), "the link")
        state = random.Random(5).randbytes(6 << 20)
        meta = SnapshotMeta(LogIndex(900), Term(4), Membership(frozenset({one.id, two.id})))
        snapshot = InstallSnapshot(one.id, two.id, Term(4), Snapshot(meta, state))
        assert one.transport.send(snapshot)
        for commit in range(3):  # queued behind the snapshot, sent between its chunks
            assert one.transport.send(heartbeat(one, two, commit=commit))
        received = await two.receive(4)
        assert received[:3] == [heartbeat(one, two, commit=c) for c in range(3)]
        assert received[3] == snapshot
        too_large = InstallSnapshot(one.id, two.id, Term(4), Snapshot(meta, bytes(9 << 20)))
        assert not one.transport.send(too_large)
        assert one.transport.metrics.messages_dropped == 1
        await close_all(one, two)

    run(scenario())


def test_close_leaves_no_task_behind() -> None:
    async def scenario() -> None:
        before = asyncio.all_tasks()
        one, two = await start(1), await start(2)
        connect(one, two)
        one.transport.add_peer(NodeId(3), "127.0.0.1", free_port())  # a peer that is down
        assert one.transport.send(heartbeat(one, two))
        await two.receive(1)
        _, idle = await asyncio.open_connection(*two.address)  # a handshake never sent
        await close_all(one, two)
        assert asyncio.all_tasks() == before
        idle.close()

    run(scenario())


def test_a_silent_dialer_is_closed_after_the_handshake_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        two = await start(2, handshake_timeout_ms=100)
        reader, writer = await asyncio.open_connection(*two.address)
        assert await _read_until_closed(reader) == b""
        writer.close()
        await two.transport.close()

    run(scenario())
    assert _records(caplog, 2, "handshake from", "timed out")


def test_connections_past_the_limit_are_turned_away() -> None:
    async def scenario() -> None:
        two = await start(2, inbound_connections_max=2)
        idle = [await asyncio.open_connection(*two.address) for _ in range(2)]
        await eventually(lambda: two.transport.inbound_connections == 2, "two idle handlers")
        reader, writer = await asyncio.open_connection(*two.address)
        answer = await _read_until_closed(reader)
        assert "too many" in decode_error(answer[HEADER.size :])
        for _, idle_writer in idle:
            idle_writer.close()
        writer.close()
        await two.transport.close()

    run(scenario())


def test_a_new_connection_from_a_peer_replaces_its_old_one() -> None:
    async def scenario() -> None:
        two = await start(2)
        two.transport.add_peer(NodeId(3), "127.0.0.1", free_port())
        old_reader, old_writer = await _raw_handshake(two, source=3)
        _, new_writer = await _raw_handshake(two, source=3)
        assert await _read_until_closed(old_reader) == b""
        new_writer.write(_message_frame(heartbeat(3, 2, commit=4)))
        assert await two.receive(1) == [heartbeat(3, 2, commit=4)]
        old_writer.close()
        new_writer.close()
        await two.transport.close()

    run(scenario())


def test_a_removed_peer_is_no_longer_sent_to_or_accepted() -> None:
    async def scenario() -> None:
        one, two = await start(1), await start(2)
        connect(one, two)
        assert one.transport.send(heartbeat(one, two))
        await two.receive(1)
        await two.transport.remove_peer(one.id)
        assert two.transport.peers == frozenset()
        assert not two.transport.send(heartbeat(two, one))
        await eventually(lambda: two.transport.metrics.refused >= 1, "node 1 refused")
        assert two.transport.metrics.messages_dropped == 1
        await close_all(one, two)

    run(scenario())


@dataclass(frozen=True)
class Note:
    """A message from another engine, to show the transport depends on no engine."""

    source: NodeId
    target: NodeId
    text: str

    def size_bytes(self) -> int:
        return len(self.text)


def _encode_note(message: Message) -> bytes:
    assert isinstance(message, Note)
    return bytes([message.source, message.target]) + message.text.encode()


def _decode_note(data: bytes) -> Message:
    if len(data) < 2:
        raise MalformedMessage("short note")
    return Note(NodeId(data[0]), NodeId(data[1]), data[2:].decode())


def test_any_engine_brings_its_own_codec() -> None:
    async def scenario() -> None:
        inbox: asyncio.Queue[Message] = asyncio.Queue()
        transports = [
            Transport(
                TransportConfig(NodeId(node), TOKEN),
                Codec(_encode_note, _decode_note),
                inbox.put_nowait,
                random.Random(node),
            )
            for node in (1, 2)
        ]
        for transport in transports:
            await transport.start()
        one, two = transports
        one.add_peer(two.node_id, *two.address)
        two.add_peer(one.node_id, *one.address)
        assert one.send(Note(NodeId(1), NodeId(2), "prepare ballot 7"))
        assert await asyncio.wait_for(inbox.get(), WAIT_S) == Note(
            NodeId(1), NodeId(2), "prepare ballot 7"
        )
        for transport in transports:
            await transport.close()

    run(scenario())


def test_the_benchmark_runs_at_a_tiny_scale() -> None:
    async def scenario() -> None:
        row = await measure("batched", append_entries(64), count=40, window=8, processes=1)
        assert row.messages == 40
        assert row.message_bytes == len(encode_message(append_entries(64)))
        assert row.seconds > 0

    run(scenario())
