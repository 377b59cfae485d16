"""The nemesis: decides, tick by tick during the fault phase, which fault to inject next.

Partitions (one at a time), crashes and pauses (never more than ``down_nodes_max`` nodes down at
once), and membership changes: remove a voter, later add a new node with an empty disk as a
learner, then promote it once it has caught up. The membership flow runs one change at a time
and only when the remaining voters keep a live majority; it finishes during healing too.

With WAL disks, a crashed node may have a bit flipped in one of its segment files just before
it restarts (``disk_corruption``). Recovery then repairs the log (the node comes back unable to
vote until its peers refill it) or refuses it (the node stays down for good). Either way it
counts against the down budget: corruption strikes only while the membership flow is idle
(every member a voter) and only while corrupt and repairing nodes stay within
``down_nodes_max``, which keeps a live majority possible for the rest of the run.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from synod.core.errors import ProposalDropped
from synod.core.ids import LogIndex, NodeId
from synod.core.log import ChangeKind, Membership, MembershipChange, MembershipError
from synod.sim.config import UNITS_PER_TICK
from synod.sim.network import choose_partition
from synod.sim.node import NodeState, SimNode
from synod.storage.records import Fault, decode
from synod.storage.recovery import segment_name
from synod.storage.wal_storage import WalStorage

if TYPE_CHECKING:
    from synod.sim.world import World

MEMBERSHIP_RETRY_TICKS = 50
READD_TICKS_MAX = 200


class Nemesis:
    def __init__(self, world: World) -> None:
        self._world = world
        self._rng = world.rng
        self._partition_serial = 0
        self.membership = MembershipFlow(world)

    def on_tick(self, tick: int) -> None:
        world = self._world
        self.membership.on_tick(tick)
        if world.healing:
            return
        faults = world.config.faults
        rng = self._rng
        if faults.partition_probability and rng.random() < faults.partition_probability:
            self._maybe_partition()
        if faults.crash_probability and rng.random() < faults.crash_probability:
            offset = rng.randrange(UNITS_PER_TICK)
            self._world.scheduler.after(offset, "crash", self._maybe_take_down, True)
        if faults.pause_probability and rng.random() < faults.pause_probability:
            offset = rng.randrange(UNITS_PER_TICK)
            self._world.scheduler.after(offset, "pause", self._maybe_take_down, False)
        if faults.membership_probability and rng.random() < faults.membership_probability:
            self.membership.maybe_start(tick)

    def _maybe_partition(self) -> None:
        world = self._world
        members = [n.node_id for n in world.nodes.values() if n.state is not NodeState.REMOVED]
        if world.network.blocked or len(members) < 2:
            return
        kind, links = choose_partition(self._rng, members, world.leader_id())
        world.network.partition(kind, links)
        world.stats.faults[f"partition_{kind}"] += 1
        self._partition_serial += 1
        cut = sorted(links)
        world.scheduler.note(f"partition {kind} {cut}")
        world.log(f"partition {kind}: blocked {cut}")
        duration = self._rng.randint(1, world.config.faults.partition_ticks_max)
        serial = self._partition_serial
        world.scheduler.after(
            duration * UNITS_PER_TICK, "partition heals", self._heal_partition, serial
        )

    def _heal_partition(self, serial: int) -> None:
        world = self._world
        if serial == self._partition_serial and world.network.blocked:
            world.network.heal()
            world.log("partition heals")

    def _maybe_take_down(self, crash: bool) -> None:
        """Crash or pause a running node at a random moment within a tick.

        Half the crashes aim at a node whose write is still unsynced: that is the moment when
        an engine that acknowledged too early loses what it promised."""
        world = self._world
        running = [n for n in world.nodes.values() if n.running]
        if not self._may_take_down() or not running:
            return
        unsynced = [n for n in running if n.in_flight is not None and not n.synced]
        pool = unsynced if crash and unsynced and self._rng.random() < 0.5 else running
        node = self._rng.choice(pool)
        faults = world.config.faults
        if crash:
            world.stats.faults["crash"] += 1
            self._crash(node)
        else:
            world.stats.faults["pause"] += 1
            world.pause(node)
            ticks = self._rng.randint(1, faults.pause_ticks_max)
            life = node.life
            world.scheduler.after(
                ticks * UNITS_PER_TICK, f"resume {node.node_id}", self._resume, node, life
            )

    def _crash(self, node: SimNode) -> None:
        """Crash ``node`` now and schedule its restart."""
        world = self._world
        world.crash(node)
        ticks = self._rng.randint(1, world.config.faults.restart_ticks_max)
        world.scheduler.after(
            ticks * UNITS_PER_TICK, f"restart {node.node_id}", self._restart, node
        )

    def _may_take_down(self) -> bool:
        world = self._world
        down_states = (NodeState.CRASHED, NodeState.PAUSED, NodeState.CORRUPT)
        down = sum(n.state in down_states or n.repairing for n in world.nodes.values())
        return not world.healing and down < world.config.down_nodes_max

    def on_new_leader(self, node: SimNode) -> None:
        """Sometimes crash a new leader soon after its election (Jepsen's kill-the-leader).

        Short reigns leave logs replicated to some nodes and not others, in several terms:
        the ground that Raft's Figure 8 (commit only current-term entries) is about."""
        faults = self._world.config.faults
        if not faults.leader_crash_probability or not self._may_take_down():
            return
        if self._rng.random() >= faults.leader_crash_probability:
            return
        delay = self._rng.randint(0, faults.leader_crash_ticks_max * UNITS_PER_TICK)
        label = f"crash leader {node.node_id}"
        self._world.scheduler.after(delay, label, self._crash_leader, node, node.life)

    def _crash_leader(self, node: SimNode, life: int) -> None:
        if node.running and node.life == life and self._may_take_down():
            self._world.stats.faults["leader_crash"] += 1
            self._crash(node)

    def _restart(self, node: SimNode) -> None:
        if node.state is not NodeState.CRASHED:
            return
        world = self._world
        probability = world.config.faults.disk_corruption_probability
        if world.config.disk == "wal" and probability and self._rng.random() < probability:
            self._maybe_corrupt(node)
        world.start(node)

    def _maybe_corrupt(self, node: SimNode) -> None:
        """Flip one bit of a crashed node's log, where recovery must see it (not in the very
        last record, which no checksum can tell from a torn write)."""
        world = self._world
        corrupt = sum(
            n.state is NodeState.CORRUPT or n.repairing or n.storage.repair_until() != 0
            for n in world.nodes.values()
        )
        if self.membership.phase is not Phase.IDLE or corrupt + 1 > world.config.down_nodes_max:
            return
        assert node.disk is not None, f"{node} has no simulated disk"
        assert isinstance(node.storage, WalStorage), f"{node} has no WAL"
        name, offset = self._corruptible_byte(node.storage)
        if offset is None:
            return
        node.disk.flip_bit(name, offset, self._rng.randrange(8))
        world.stats.faults["disk_corruption"] += 1
        world.scheduler.note(f"disk corruption {node.node_id} {name}@{offset}")
        world.log(f"node {node.node_id}: a bit flips in {name} at offset {offset}")

    def _corruptible_byte(self, storage: WalStorage) -> tuple[str, int | None]:
        segments = storage.wal.segments
        segment = self._rng.choice(segments)
        name = segment_name(segment.sequence)
        end = segment.end_offset
        if segment is segments[-1]:
            end = _last_record_start(storage.wal.disk.read(name), segment.end_offset)
        return name, self._rng.randrange(end) if end > 0 else None

    def _resume(self, node: SimNode, life: int) -> None:
        if node.state is NodeState.PAUSED and node.life == life:
            self._world.resume(node)


class Phase(enum.Enum):
    IDLE = "idle"
    REMOVING = "removing"
    REMOVED = "removed"
    ADDING = "adding"
    CATCHING_UP = "catching up"
    PROMOTING = "promoting"


class MembershipFlow:
    """Remove a voter, add a new empty node as a learner, promote it: one change at a time."""

    def __init__(self, world: World) -> None:
        self._world = world
        self.phase = Phase.IDLE
        self.node = NodeId(0)
        self._retry_tick = 0
        self._readd_tick = 0
        self._caught_up_index = LogIndex(0)

    def maybe_start(self, tick: int) -> None:
        world = self._world
        leader = world.current_leader()
        if self.phase is not Phase.IDLE or leader is None:
            return
        voters = world.engines[leader.node_id].membership.voters
        if len(voters) < 3:
            return
        candidates = [v for v in sorted(voters) if v != leader.node_id and self._is_running(v)]
        candidates = [v for v in candidates if self._live_majority(voters - {v})]
        if not candidates:
            return
        self.node = world.rng.choice(candidates)
        world.stats.faults["membership"] += 1
        self._enter(Phase.REMOVING, tick)

    def _is_running(self, node: NodeId) -> bool:
        return self._world.nodes[node].running

    def _live_majority(self, voters: frozenset[NodeId]) -> bool:
        """Enough voters running, and able to vote (not repairing a damaged log)."""
        nodes = self._world.nodes
        live = sum(nodes[v].running and not nodes[v].repairing for v in voters)
        return live >= len(voters) // 2 + 1

    def _enter(self, phase: Phase, tick: int) -> None:
        self.phase = phase
        self._retry_tick = tick
        self._world.log(f"membership: {phase.value} node {self.node}")

    def on_tick(self, tick: int) -> None:
        if self.phase is Phase.IDLE:
            return
        world = self._world
        if self.phase is Phase.REMOVED:
            if world.healing or tick >= self._readd_tick:
                self._readd(tick)
            return
        leader = world.current_leader()
        if leader is None:
            return
        engine = world.engines[leader.node_id]
        if self._done(engine.membership, engine.commit_index):
            self._advance(tick)
        elif tick >= self._retry_tick:
            self._retry_tick = tick + MEMBERSHIP_RETRY_TICKS
            self._propose(leader)

    def _change(self) -> MembershipChange | None:
        kinds = {
            Phase.REMOVING: ChangeKind.REMOVE,
            Phase.ADDING: ChangeKind.ADD_LEARNER,
            Phase.PROMOTING: ChangeKind.PROMOTE_LEARNER,
        }
        kind = kinds.get(self.phase)
        return MembershipChange(kind, self.node) if kind is not None else None

    def _done(self, membership: Membership, commit: LogIndex) -> bool:
        """Has the leader applied the change this phase waits for?"""
        node = self.node
        match self.phase:
            case Phase.REMOVING:
                return node not in membership.members
            case Phase.ADDING:
                return node in membership.members
            case Phase.CATCHING_UP:
                if self._caught_up_index == 0:
                    self._caught_up_index = commit
                replica = self._world.nodes[node].replica
                return replica is not None and replica.applied_index >= self._caught_up_index
            case Phase.PROMOTING:
                return node in membership.voters
        return False

    def _advance(self, tick: int) -> None:
        world = self._world
        node = world.nodes[self.node]
        match self.phase:
            case Phase.REMOVING:
                if node.up:
                    world.crash(node, NodeState.REMOVED)
                else:
                    node.state = NodeState.REMOVED
                self._readd_tick = tick + world.rng.randint(1, READD_TICKS_MAX)
                self._enter(Phase.REMOVED, tick)
            case Phase.ADDING:
                self._caught_up_index = LogIndex(0)
                self._enter(Phase.CATCHING_UP, tick)
            case Phase.CATCHING_UP:
                self._enter(Phase.PROMOTING, tick)
            case Phase.PROMOTING:
                self._enter(Phase.IDLE, tick)

    def _readd(self, tick: int) -> None:
        """Bring in a new node (the next unused id, empty storage) for the removed one.

        Ids are never reused, as in etcd: a machine whose disk was wiped has forgotten the
        votes it cast, so under its old id it could vote a second time in a term, for a node
        whose stale configuration still lists that id."""
        world = self._world
        assert world.nodes[self.node].state is NodeState.REMOVED, f"re-adding {self.node}"
        node = world.new_node(NodeId(max(world.nodes) + 1), None)
        world.nodes[node.node_id] = node
        world.stats.nodes_added += 1
        world.log(f"node {node.node_id} starts with empty storage to replace node {self.node}")
        world.start(node)
        self.node = node.node_id
        self._enter(Phase.ADDING, tick)

    def _propose(self, leader: SimNode) -> None:
        change = self._change()
        if change is None:
            return
        engine = self._world.engines[leader.node_id]
        try:
            engine.change_membership(change)
        except (ProposalDropped, MembershipError):
            return  # retried after MEMBERSHIP_RETRY_TICKS
        self._world.log(f"membership: node {leader.node_id} proposes {change}")
        self._world.pump(leader)


def _last_record_start(data: bytes, end_offset: int) -> int:
    """Where the last record before ``end_offset`` begins (0 if there is none)."""
    offset = start = 0
    while offset < end_offset:
        decoded = decode(data, offset)
        if isinstance(decoded, Fault):
            break
        start, offset = offset, decoded[1]
    return start
