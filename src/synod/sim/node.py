"""One simulated node: durable storage that survives crashes, and a volatile life on top.

The storage is the node's disk after fsync: a ``MemoryStorage``, or (``disk="wal"``) a
``WalStorage`` on the node's ``SimDisk``, reopened through recovery on every restart. A Ready
taken from the replica is the unsynced write buffer: it reaches the storage only when its fsync
completes (``persist`` then writes and syncs it through the WAL), so a crash before that loses
it, exactly like a real page cache. A Ready that only moves the commit index waits for no fsync
(as in the runtime): a ``MemoryStorage`` takes it at once, a ``WalStorage`` writes it unsynced to
the simulated disk, where a crash may lose or tear it. Everything else (engine, replica, state
machine, the Ready in flight, a paused node's inbox) is the node's life, rebuilt from the storage on
restart. ``life`` counts restarts so events scheduled in an earlier life are ignored.
"""

from __future__ import annotations

import enum
from collections import deque

from synod.consensus.storage import MemoryStorage
from synod.core.engine import Message, Ready, Role
from synod.core.ids import LogIndex, NodeId
from synod.kv.etcd_machine import EtcdMachine, EtcdResult
from synod.replica import Replica
from synod.replica.leases import LeaseClock
from synod.storage.disk import SimDisk
from synod.storage.wal_storage import WalStorage

RECENT_VOTER_SETS = 3
"""Configurations remembered per node: the current one and the two before it."""

NodeStorage = MemoryStorage | WalStorage

InboxItem = Message | tuple[str, bytes, bytes]
"""A queued peer message, or a client request ("write" | "read" | "keepalive", request id,
payload)."""


class NodeState(enum.StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    CRASHED = "crashed"
    REMOVED = "removed"
    """Taken out of the cluster by a membership change; never comes back (ids are not reused)."""
    CORRUPT = "corrupt"
    """Its WAL failed recovery at a restart beyond repair: it stays down for the rest of the
    run (and counts as down for the fault budget)."""


class SimNode:
    def __init__(self, node_id: NodeId, storage: NodeStorage, disk: SimDisk | None = None) -> None:
        self.node_id = node_id
        self.storage = storage
        """What survived the last crash. For a corrupt node: what its disk held when the fault
        struck (the engine made it durable; the media lost it later)."""
        self.disk = disk
        """The simulated disk under a ``WalStorage``; None for a ``MemoryStorage``."""
        self.state = NodeState.CRASHED
        self.life = 0
        self.replica: Replica[EtcdResult] | None = None
        self.machine = EtcdMachine()
        """The replica's state machine (for the keyspace and lease checks)."""
        self.leases = LeaseClock()
        """Lease deadlines: kept only while this node leads."""
        self.lease_changes_seen = 0
        self.in_flight: Ready | None = None
        self.synced = False
        """The in-flight Ready's fsync completed (its writes are durable)."""
        self.inbox: deque[InboxItem] = deque()
        self.seen_role = Role.FOLLOWER
        self.seen_term = 0
        self.seen_commit = 0
        self.seen_applied = 0
        self.recent_voters: list[frozenset[NodeId]] = []
        """The last few distinct voter sets this node applied (for the durability check)."""

    def __repr__(self) -> str:
        return f"SimNode({self.node_id}, {self.state}, life {self.life})"

    @property
    def running(self) -> bool:
        return self.state is NodeState.RUNNING

    @property
    def repairing(self) -> bool:
        """Its log lost a damaged range at a restart and is not refilled yet: it may not vote,
        so it counts as down for the fault budget."""
        return self.state is NodeState.RUNNING and self.storage.repair_until() != 0

    @property
    def up(self) -> bool:
        """Alive (running or paused): it keeps its volatile state."""
        return self.state in (NodeState.RUNNING, NodeState.PAUSED)

    def start(self, replica: Replica[EtcdResult], machine: EtcdMachine, leases: LeaseClock) -> None:
        assert self.state in (NodeState.CRASHED, NodeState.REMOVED), f"{self} is already up"
        self.state = NodeState.RUNNING
        self.life += 1
        self.replica = replica
        self.machine = machine
        self.leases = leases
        self.lease_changes_seen = machine.lease_changes
        self.in_flight = None
        self.synced = False
        self.inbox.clear()
        self.seen_role = Role.FOLLOWER
        self.seen_term = 0
        self.seen_commit = 0
        self.seen_applied = replica.applied_index

    def stop(self, state: NodeState) -> None:
        """Crash (or decommission): drop the life, keep only what the storage holds."""
        assert state in (NodeState.CRASHED, NodeState.REMOVED)
        self.state = state
        self.replica = None
        self.in_flight = None
        self.synced = False
        self.inbox.clear()

    def note_voters(self, voters: frozenset[NodeId]) -> None:
        if self.recent_voters and self.recent_voters[-1] == voters:
            return
        self.recent_voters = [*self.recent_voters[-(RECENT_VOTER_SETS - 1) :], voters]
        assert len(self.recent_voters) <= RECENT_VOTER_SETS

    def covered_index(self) -> LogIndex:
        """Highest index a snapshot folds away on this node (durable or in flight)."""
        covered = int(self.storage.snapshot().meta.index)
        if self.in_flight is not None and self.in_flight.snapshot is not None:
            covered = max(covered, self.in_flight.snapshot.meta.index)
        if self.in_flight is not None and self.in_flight.compaction is not None:
            covered = max(covered, self.in_flight.compaction.meta.index)
        if self.replica is not None:
            covered = max(covered, self.replica.snapshot_index, self.replica.compaction_index or 0)
        return LogIndex(covered)
