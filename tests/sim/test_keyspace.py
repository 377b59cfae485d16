"""The simulator over etcd's keyspace: leases expire by command, and the keyspace checks catch
a replica that applies a corrupted record or loses acknowledged puts."""

from __future__ import annotations

import dataclasses

from synod.core.ids import NodeId
from synod.kv.commands import decode, encode
from synod.kv.etcd_machine import EtcdMachine, EtcdResult
from synod.kv.mvcc import PutRequest
from synod.sim import FaultProfile, SimConfig, simulate
from synod.sim.engines import lookup_engine
from synod.sim.world import World
from synod.sim.world import simulate as simulate_with


class FlippingMachine(EtcdMachine):
    """Applies every put's value with its last byte flipped, as if the record had been
    corrupted on its way to this replica's keyspace (after every checksum)."""

    def apply(self, command: bytes) -> EtcdResult:
        request = decode(command)
        if isinstance(request, PutRequest) and request.value:
            flipped = request.value[:-1] + bytes([request.value[-1] ^ 0x01])
            command = encode(dataclasses.replace(request, value=flipped))
        return super().apply(command)


class ForgetfulMachine(EtcdMachine):
    """Restores every snapshot as an empty keyspace (a snapshot that lost its data)."""

    def restore(self, data: bytes) -> None:
        super().restore(b"")


def _on_node(node: NodeId, machine: type[EtcdMachine]):
    return lambda node_id: machine() if node_id == node else EtcdMachine()


def test_leases_expire_by_a_command_the_leader_proposes():
    lines: list[str] = []
    config = SimConfig(seed=4, nodes=3, ticks=1500, faults=FaultProfile.reliable())
    world = World(config, lookup_engine("raft"), lines.append)
    result = world.run()
    assert result.violations == []
    assert result.stats.lease_expiries_proposed > 0
    assert any("proposes the expiry of lease" in line for line in lines)
    leader = world.current_leader()
    assert leader is not None
    assert leader.machine.leases_expired > 0
    assert result.stats.keyspace_hashes_compared > 0
    assert result.stats.acked_puts_checked > 0


def test_a_replica_that_applies_a_flipped_byte_is_caught():
    config = SimConfig(seed=1, nodes=3, ticks=600, faults=FaultProfile.reliable())
    assert simulate(config).violations == []
    result = simulate_with(config, machine_factory=_on_node(NodeId(2), FlippingMachine))
    assert result.violations
    assert "keyspace divergence" in result.violations[0]


def test_a_sweep_catches_a_replica_whose_snapshots_lose_acknowledged_puts():
    caught: list[str] = []
    for seed in range(1, 6):
        faults = dataclasses.replace(
            FaultProfile.reliable(), crash_probability=0.01, restart_ticks_max=30
        )
        config = SimConfig(seed=seed, nodes=3, ticks=1500, faults=faults)
        result = simulate(config, machine_factory=_on_node(NodeId(1), ForgetfulMachine))
        caught.extend(result.violations)
    assert any("acknowledged put lost" in violation for violation in caught)
