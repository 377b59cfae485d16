"""Restart of a member whose log lost its latest commit index (saved without a sync) while
its keyspace, which records its applied index, kept what applied past it: the commit index is
raised to the keyspace's applied index, and no entry applies twice."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

from synod.core.ids import LogIndex
from synod.core.log import HardState
from synod.kv.mvcc import PutRequest, RangeRequest
from synod.server.config import NodeConfig
from synod.server.node import WAL_DIR, Node
from synod.storage.disk import OsDisk
from synod.storage.wal_storage import WalStorage

WAIT_S = 20.0
PUTS = 5


def _config(base: Path) -> NodeConfig:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    urls = (f"http://127.0.0.1:{port}",)
    return NodeConfig(
        name="solo",
        data_dir=str(base / "solo"),
        initial_cluster={"solo": urls},
        advertise_peer_urls=urls,
        listen_peer_urls=urls,
        heartbeat_ms=20,
        election_ms=200,
    )


async def _until_leading(node: Node) -> None:
    while not node.is_leader:  # bounded by the caller's timeout
        await asyncio.sleep(0.02)


async def _write_all(config: NodeConfig) -> tuple[int, int]:
    """Puts on a fresh member; (applied index, revision) once it stopped."""
    node = Node(config)
    await node.start()
    try:
        async with asyncio.timeout(WAIT_S):
            await _until_leading(node)
            for number in range(PUTS):
                await node.write(PutRequest(f"k{number}".encode(), f"v{number}".encode()))
        return int(node.replica.applied_index), node.machine.store.revision
    finally:
        await node.stop()


def _lose_commit_index(config: NodeConfig, commit: int) -> int:
    """What a power cut does to commit indexes saved without a sync: the log's last hard state
    says ``commit``. Returns the commit index the log held before."""
    storage = WalStorage.open(OsDisk(os.path.join(config.data_dir, WAL_DIR)))
    held = storage.hard_state
    storage.wal.save(HardState(held.term, held.vote, LogIndex(commit)))
    storage.wal.sync()
    return int(held.commit)


def test_restart_raises_the_commit_index_to_the_keyspace_and_applies_nothing_twice(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    applied, revision = asyncio.run(_write_all(config))
    held = _lose_commit_index(config, applied - 3)
    assert held >= applied
    reopened = WalStorage.open(OsDisk(os.path.join(config.data_dir, WAL_DIR)))
    assert reopened.hard_state.commit == applied - 3  # the log is now behind the keyspace

    async def restart() -> None:
        node = Node(config)
        try:
            assert node.machine.applied_index == applied
            assert node.engine.commit_index >= applied
            assert node.replica.applied_index == applied
            assert node.machine.store.revision == revision  # nothing applied twice
            await node.start()
            async with asyncio.timeout(WAIT_S):
                await _until_leading(node)
                await node.write(PutRequest(b"after", b"restart"))
            assert node.machine.store.revision == revision + 1
            for number in range(PUTS):
                found = node.machine.store.range(RangeRequest(f"k{number}".encode()))
                assert [kv.value for kv in found.kvs] == [f"v{number}".encode()]
        finally:
            await node.stop()

    asyncio.run(restart())
