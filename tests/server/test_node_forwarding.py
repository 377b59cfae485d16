"""Writes through a follower, with three ``Node``s on one event loop over real sockets on
127.0.0.1: the follower forwards the proposal, the leader proposes it without replying, and the
follower answers once the entry applies there. A forward to a member that does not lead is
refused, and only then is a reply sent. Every wait has a deadline."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from synod.core.engine import Message
from synod.kv.mvcc import PutRequest, PutResponse
from synod.server.config import NodeConfig
from synod.server.node import Node
from synod.server.peer_calls import CallKind, PeerCall, PeerReply
from synod.server.requests import ForwardRefused

WAIT_S = 20.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _configs(base: Path) -> list[NodeConfig]:
    urls = {f"n{number}": (f"http://127.0.0.1:{_free_port()}",) for number in range(3)}
    return [
        NodeConfig(
            name=name,
            data_dir=str(base / name),
            initial_cluster=urls,
            advertise_peer_urls=peer_urls,
            listen_peer_urls=peer_urls,
            heartbeat_ms=20,
            election_ms=200,
        )
        for name, peer_urls in urls.items()
    ]


def _run(base: Path, scenario: Callable[[list[Node]], Coroutine[Any, Any, None]]) -> None:
    async def main() -> None:
        nodes = [Node(config) for config in _configs(base)]
        try:
            for node in nodes:
                await node.start()
            async with asyncio.timeout(WAIT_S):
                await scenario(nodes)
        finally:
            for node in nodes:
                await node.stop()

    asyncio.run(main())


async def _leader(nodes: list[Node]) -> Node:
    while True:  # bounded by the scenario's timeout
        leaders = [node for node in nodes if node.is_leader]
        if leaders and all(node.leader == leaders[0].member_id for node in nodes):
            return leaders[0]
        await asyncio.sleep(0.02)


def _record_sends(node: Node) -> list[Message]:
    sent: list[Message] = []
    send = node.transport.send

    def recording(message: Message) -> bool:
        sent.append(message)
        return send(message)

    node.transport.send = recording  # type: ignore[method-assign]
    return sent


def test_a_write_through_a_follower_applies_without_a_reply(tmp_path: Path) -> None:
    async def scenario(nodes: list[Node]) -> None:
        leader = await _leader(nodes)
        follower = next(node for node in nodes if node is not leader)
        from_leader = _record_sends(leader)
        from_follower = _record_sends(follower)
        results = [await follower.write(PutRequest(b"key", b"v%d" % n)) for n in range(3)]
        assert [result.revision for result in results if isinstance(result, PutResponse)] == [
            2,
            3,
            4,
        ]
        calls = [m for m in from_follower if isinstance(m, PeerCall)]
        assert [call.kind for call in calls] == [CallKind.PROPOSE] * 3
        assert not [m for m in from_leader if isinstance(m, PeerReply)]
        assert not follower._forwards  # every attempt's entry is gone

    _run(tmp_path, scenario)


def test_a_forward_to_a_member_that_does_not_lead_is_refused(tmp_path: Path) -> None:
    async def scenario(nodes: list[Node]) -> None:
        leader = await _leader(nodes)
        first, second = (node for node in nodes if node is not leader)
        replies = _record_sends(second)
        request_id = first._request_id()
        envelope = first.replica.expect(request_id, b"not applied")
        future = asyncio.get_running_loop().create_future()
        first._forwards[99] = future
        first.transport.send(
            PeerCall(first.member_id, second.member_id, 99, CallKind.PROPOSE, envelope)
        )
        with pytest.raises(ForwardRefused, match="not the leader"):
            await future
        first.replica.abandon(request_id)
        refusals = [m for m in replies if isinstance(m, PeerReply)]
        assert [(reply.call_id, reply.ok) for reply in refusals] == [(99, False)]
        assert 99 not in first._forwards

    _run(tmp_path, scenario)
