"""The keyspace side of the world: leaders' lease clocks, keep-alives, and the keyspace checks.

- Lease clocks: every running node's clock ticks with the engine; a leader follows the
  keyspace's leases (when they changed) and proposes a ``LeaseExpire`` for each lease whose
  deadline passed. Keep-alives go to the leader's clock, not through the log (as in etcd); a
  node that does not lead redirects them.
- Keyspace hashes are sampled at every ``HASH_SAMPLE_INDEXES``-th applied index and compared
  across nodes; acknowledged puts are read back after each restart (on the restarted node)
  and at the end (on every node); at the end, nodes at one applied index must hold the same
  keyspace and the same leases.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synod.core.engine import Role
from synod.core.ids import LogIndex, NodeId
from synod.kv.etcd_machine import EtcdMachine
from synod.kv.mvcc import LeaseKeepAliveResponse
from synod.replica import Done, Redirected
from synod.replica.leases import expire_command
from synod.sim.invariants import HASH_SAMPLE_INDEXES, check_acked_put, check_keyspace_hash
from synod.sim.node import SimNode

if TYPE_CHECKING:
    from synod.sim.world import World


class KeyspaceDriver:
    def __init__(self, world: World) -> None:
        self._world = world

    # -- leases -------------------------------------------------------------------------------

    def tick_leases(self, node: SimNode) -> None:
        """Advance the node's lease clock; a leader proposes an expiry for each lease whose
        deadline passed (following the keyspace's leases first, if they changed)."""
        world = self._world
        replica, clock, machine = node.replica, node.leases, node.machine
        assert replica is not None
        if clock.leading and machine.lease_changes != node.lease_changes_seen:
            clock.sync(machine.leases())
            node.lease_changes_seen = machine.lease_changes
        for lease_id in clock.tick():
            world.stats.lease_expiries_proposed += 1
            world.log(f"node {node.node_id} proposes the expiry of lease {lease_id}")
            refusal = replica.submit(world.new_request_id(), expire_command(lease_id))
            if refusal:
                clock.refused(lease_id)
            world.route(node, refusal)

    def keep_alive(self, node: SimNode, request_id: bytes, lease_id: int) -> None:
        """Renew a lease at the node's lease clock if it leads; otherwise redirect."""
        world = self._world
        engine = world.engines[node.node_id]
        if engine.role is not Role.LEADER:
            world.clients.on_reply(Redirected(request_id, engine.leader))
            return
        ttl_seconds = node.leases.keep_alive(lease_id) or 0
        response = LeaseKeepAliveResponse(node.machine.store.revision, lease_id, ttl_seconds)
        assert node.replica is not None
        world.clients.on_reply(Done(request_id, response, node.replica.applied_index))

    # -- checks -------------------------------------------------------------------------------

    def on_applied(self, node: SimNode, machine: EtcdMachine, index: LogIndex) -> None:
        """Sample the keyspace hash at every ``HASH_SAMPLE_INDEXES``-th applied index."""
        if index % HASH_SAMPLE_INDEXES != 0:
            return
        invariants = self._world.invariants
        if index in invariants.hashes:
            self._world.stats.keyspace_hashes_compared += 1
        digest = machine.hash_kv()
        invariants.report(check_keyspace_hash(invariants.hashes, node.node_id, index, digest))

    def check_acked_puts(self, node: SimNode) -> None:
        """Every put acknowledged at an index this node applied reads back from it."""
        if node.replica is None:
            return
        world = self._world
        applied = node.replica.applied_index
        store = node.machine.store
        for put in world.clients.history.acked_puts:
            if put.index > applied or put.revision < store.compact_revision:
                continue
            world.stats.acked_puts_checked += 1
            world.invariants.report(check_acked_put(node.node_id, store, put))

    def check_replicas_agree(self) -> None:
        """Replicas at one applied index hold the same keyspace and the same leases (a
        cross-check at the end, whatever index each node stopped at)."""
        states: dict[LogIndex, tuple[NodeId, tuple[bytes, dict[int, int]]]] = {}
        for node in self._world.nodes.values():
            if node.replica is None:
                continue
            state = (node.machine.hash_kv(), node.machine.leases())
            seen = states.setdefault(node.replica.applied_index, (node.node_id, state))
            if seen[1] != state:
                self._world.invariants.report(
                    f"state divergence: nodes {seen[0]} and {node.node_id} applied up to index "
                    f"{node.replica.applied_index} but hold different keyspaces or leases"
                )
