"""The fault proxy: who dialed, and cutting a link closes its connections and refuses new ones."""

from __future__ import annotations

import asyncio

from synod.chaos.proxy import UNKNOWN_SOURCE, LinkRules, PeerProxy, identify
from synod.cli.localcluster import free_port
from synod.core.ids import NodeId
from synod.server.frames import FrameType, Hello, encode_frame, encode_hello

SOURCE, DESTINATION = 0xABC, 0xDEF


def hello(source: int) -> bytes:
    return encode_frame(FrameType.HELLO, encode_hello(Hello(NodeId(source), NodeId(1), b"t")))


def test_identifies_synod_and_etcd_dialers() -> None:
    frame = hello(SOURCE)
    assert identify(frame) == SOURCE
    assert identify(frame[:10]) is None, "not enough bytes yet"
    request = b"GET /raft/stream/msgapp/abc HTTP/1.1\r\nX-Server-From: 1f2e\r\n\r\n"
    assert identify(request) == 0x1F2E
    assert identify(b"GET / HTTP/1.1\r\n") is None


def test_rules_cut_links_and_isolated_destinations() -> None:
    rules = LinkRules(cut={(1, 2)}, isolated={3})
    assert rules.is_cut(1, 2)
    assert not rules.is_cut(2, 1)
    assert rules.is_cut(UNKNOWN_SOURCE, 3)
    assert rules.is_cut(UNKNOWN_SOURCE, 2), "an unknown dialer may be the cut source"
    assert not rules.is_cut(UNKNOWN_SOURCE, 1)
    rules.heal()
    assert not rules.is_cut(1, 2)
    assert not rules.is_cut(5, 3)


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1024):
        writer.write(data)
        await writer.drain()
    writer.close()


async def _exchange(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        async with asyncio.timeout(2):
            return await reader.read(len(payload))
    finally:
        writer.close()


def test_forwards_until_the_link_is_cut() -> None:
    async def scenario() -> None:
        target = await asyncio.start_server(_echo, "127.0.0.1", 0)
        target_port = target.sockets[0].getsockname()[1]
        rules = LinkRules()
        proxy = PeerProxy(rules, free_port(), target_port)
        proxy.destination = DESTINATION
        await proxy.start()
        try:
            frame = hello(SOURCE)
            assert await _exchange(proxy.port, frame) == frame
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(frame)
            async with asyncio.timeout(2):
                assert await reader.readexactly(len(frame)) == frame
            rules.cut.add((SOURCE, DESTINATION))
            proxy.enforce()
            async with asyncio.timeout(2):
                assert await reader.read(100) == b"", "a cut link's connection is closed"
            writer.close()
            assert await _exchange(proxy.port, frame) == b"", "and new ones are refused"
            other = hello(0x123)
            assert await _exchange(proxy.port, other) == other, "other links still carry"
            rules.heal()
            assert await _exchange(proxy.port, frame) == frame
        finally:
            await proxy.close()
            target.close()
            await target.wait_closed()

    asyncio.run(scenario())


def test_delays_a_link_even_on_a_connection_older_than_the_members_id() -> None:
    async def scenario() -> None:
        target = await asyncio.start_server(_echo, "127.0.0.1", 0)
        rules = LinkRules()
        proxy = PeerProxy(rules, free_port(), target.sockets[0].getsockname()[1])
        await proxy.start()
        try:
            frame = hello(SOURCE)
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(frame)
            async with asyncio.timeout(2):
                assert await reader.readexactly(len(frame)) == frame
            proxy.destination = DESTINATION  # learned after the connection opened
            rules.delay_s[(SOURCE, DESTINATION)] = 0.3
            loop = asyncio.get_running_loop()
            started = loop.time()
            writer.write(frame)
            async with asyncio.timeout(3):
                assert await reader.readexactly(len(frame)) == frame
            assert loop.time() - started >= 0.3, "the chunk waited on the slow link"
            writer.close()
        finally:
            await proxy.close()
            target.close()
            await target.wait_closed()

    asyncio.run(scenario())
