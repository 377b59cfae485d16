"""A hand-driven Multi-Paxos cluster for interaction tests: nothing moves unless a test says.

Each node has a ``MemoryStorage`` as its disk. ``process(node)`` takes one Ready, persists it,
applies what it commits and queues its messages (recording which left early); ``deliver``
hands queued messages to their targets (optionally filtered or dropped); ``stabilize`` loops
both until nothing moves (bounded).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from synod.consensus.paxos import PaxosEngine
from synod.consensus.storage import MemoryStorage
from synod.core.config import EngineConfig
from synod.core.engine import Message, Ready
from synod.core.ids import LogIndex, NodeId
from synod.core.log import Entry, Membership

ROUNDS_MAX = 200


class ZeroRng:
    """Election timeouts of exactly ``election_timeout_ticks``."""

    def randrange(self, start: int, stop: int) -> int:
        assert start < stop
        return start


@dataclass
class Node:
    engine: PaxosEngine
    storage: MemoryStorage
    applied: list[tuple[LogIndex, bytes]] = field(default_factory=list)


@dataclass
class Cluster:
    size: int = 3
    config: EngineConfig = field(
        default_factory=lambda: EngineConfig(election_timeout_ticks=10, heartbeat_interval_ticks=1)
    )
    factory: Callable[..., PaxosEngine] = PaxosEngine
    nodes: dict[NodeId, Node] = field(default_factory=dict)
    queue: list[Message] = field(default_factory=list)
    early: list[Message] = field(default_factory=list)
    late: list[Message] = field(default_factory=list)
    readies: dict[NodeId, list[Ready]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        voters = frozenset(NodeId(n) for n in range(1, self.size + 1))
        for node_id in sorted(voters):
            self.nodes[node_id] = self._start(node_id, MemoryStorage(Membership(voters)))

    def _start(self, node_id: NodeId, storage: MemoryStorage) -> Node:
        engine = self.factory(node_id, storage, self.config, ZeroRng())
        return Node(engine, storage)

    def add(self, node_id: int) -> None:
        """A new node with empty storage (it learns the configuration from a snapshot)."""
        self.nodes[NodeId(node_id)] = self._start(NodeId(node_id), MemoryStorage())

    def engine(self, node_id: int) -> PaxosEngine:
        return self.nodes[NodeId(node_id)].engine

    def restart(self, node_id: int) -> None:
        """Crash and restart: keep only what the storage holds."""
        node = self.nodes[NodeId(node_id)]
        self.queue = [m for m in self.queue if node_id not in (m.target, m.source)]
        self.nodes[NodeId(node_id)] = self._start(NodeId(node_id), node.storage)

    def process(self, node_id: int) -> Ready | None:
        node = self.nodes[NodeId(node_id)]
        ready = node.engine.ready()
        if ready is None:
            return None
        self.readies.setdefault(NodeId(node_id), []).append(ready)
        self.early.extend(ready.early_messages)
        self.queue.extend(ready.early_messages)
        node.storage.save(ready.hard_state, ready.entries, ready.snapshot)
        if ready.compaction is not None:
            node.storage.compact(ready.compaction)
        for entry in ready.committed_entries:
            if entry.data:
                node.applied.append((entry.index, entry.data))
        self.late.extend(ready.messages)
        self.queue.extend(ready.messages)
        node.engine.advance(ready)
        return ready

    def process_all(self) -> None:
        for _ in range(ROUNDS_MAX):
            if not any([self.process(n) is not None for n in self.nodes]):
                return
        raise AssertionError("readies never settle")

    def deliver(self, keep: Callable[[Message], bool] = lambda m: True) -> int:
        """Deliver every queued message ``keep`` accepts (the rest are dropped)."""
        batch, self.queue = self.queue, []
        count = 0
        for message in batch:
            if keep(message) and message.target in self.nodes:
                self.nodes[message.target].engine.step(message)
                count += 1
        return count

    def stabilize(self, keep: Callable[[Message], bool] = lambda m: True) -> None:
        for _ in range(ROUNDS_MAX):
            self.process_all()
            if not self.queue:
                return
            self.deliver(keep)
        raise AssertionError("the cluster never settles")

    def elect(self, node_id: int) -> None:
        self.engine(node_id).campaign()
        self.stabilize()

    def tick_all(self, count: int = 1) -> None:
        for _ in range(count):
            for node in self.nodes.values():
                node.engine.tick()

    def log(self, node_id: int) -> list[Entry]:
        return self.nodes[NodeId(node_id)].storage.all_entries()

    def values(self, node_id: int) -> list[bytes]:
        return [data for _, data in self.nodes[NodeId(node_id)].applied]
