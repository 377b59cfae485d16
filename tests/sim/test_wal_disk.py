"""The simulator over the real WAL on simulated disks: recovery on every restart, and disk
corruption that must keep the damaged node down instead of letting it vote with a broken log."""

from __future__ import annotations

import dataclasses

import pytest

from synod.core.errors import ConfigError
from synod.sim import FaultProfile, SimConfig, simulate
from synod.sim.engines import lookup_engine
from synod.sim.node import NodeState
from synod.sim.sweep import RunSpec, run_spec
from synod.sim.world import World
from synod.storage.wal_storage import WalStorage

pytest.importorskip("synod.consensus.raft")

# Crashes often, and corrupts the disk on half the restarts of a crashed node.
CORRUPTING = FaultProfile(
    loss_probability=0.02,
    crash_probability=0.01,
    restart_ticks_max=50,
    leader_crash_probability=0.3,
    disk_corruption_probability=0.5,
)


def test_the_same_seed_over_the_wal_gives_the_same_trace():
    config = SimConfig(seed=11, nodes=3, ticks=800, faults=CORRUPTING, disk="wal")
    first = simulate(config)
    second = simulate(config)
    assert first.violations == []
    assert first.trace_hash == second.trace_hash
    assert first.stats.as_dict() | {"wall_time_s": 0} == second.stats.as_dict() | {"wall_time_s": 0}
    memory = simulate(dataclasses.replace(config, disk="memory"))
    assert memory.trace_hash != first.trace_hash


@pytest.mark.parametrize("seed", range(1, 5))
def test_a_small_swarm_sweep_over_the_wal_finds_no_violation(seed):
    outcome = run_spec(RunSpec("raft", 3, seed, 1500, swarm=True, disk="wal"))
    assert outcome.violations == (), outcome.spec.replay_command()
    assert outcome.spec.replay_command().endswith("--disk wal")


def test_nodes_run_on_a_wal_and_restart_through_recovery():
    memory = World(SimConfig(seed=2, nodes=3, ticks=1500, faults=CORRUPTING), lookup_engine("raft"))
    assert all(node.disk is None for node in memory.nodes.values())
    crashing = dataclasses.replace(CORRUPTING, disk_corruption_probability=0.0)
    world = World(
        SimConfig(seed=2, nodes=3, ticks=1500, faults=crashing, disk="wal"), lookup_engine("raft")
    )
    first_lives = {node_id: node.storage for node_id, node in world.nodes.items()}
    assert all(isinstance(storage, WalStorage) for storage in first_lives.values())
    result = world.run()
    assert result.violations == []
    assert result.stats.restarts > 0
    for node in world.nodes.values():
        if node.node_id in first_lives and node.life > 1:
            assert node.storage is not first_lives[node.node_id], "restart skipped recovery"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_corrupt_log_is_repaired_from_peers_or_refused_for_good(seed):
    """Each bit flip ends in one of two ways: the node repairs its log (it restarts, may not
    vote until a leader refilled it, and by the end of the run has been refilled), or recovery
    refuses the log and the node never comes back."""
    lines: list[str] = []
    config = SimConfig(seed=seed, nodes=5, ticks=1500, faults=CORRUPTING, disk="wal")
    world = World(config, lookup_engine("raft"), lines.append)
    result = world.run()
    assert result.violations == []
    stats = result.stats
    assert stats.faults["disk_corruption"] > 0, "the profile should corrupt some disk"
    assert stats.corrupt_nodes + stats.repaired_nodes == stats.faults["disk_corruption"]
    corrupt = [node for node in world.nodes.values() if node.state is NodeState.CORRUPT]
    assert len(corrupt) == stats.corrupt_nodes <= config.down_nodes_max
    for node in corrupt:
        assert node.replica is None
        assert node.node_id not in world.engines
        refused = next(i for i, line in enumerate(lines) if f"node {node.node_id} refused" in line)
        later = lines[refused + 1 :]
        assert not any(f"node {node.node_id} restarts" in line for line in later)
        assert not any(f"node {node.node_id} becomes leader" in line for line in later)
    repaired = {line.split()[2] for line in lines if "repairs its log" in line}
    assert len(repaired) <= stats.repaired_nodes
    for node in world.nodes.values():
        if str(node.node_id) in repaired and node.running:
            assert node.storage.repair_until() == 0, f"node {node.node_id} never refilled"


def test_repairs_happen_under_the_default_sweep_profile():
    repairs = sum(
        simulate(
            SimConfig(seed=seed, nodes=3, ticks=1500, faults=CORRUPTING, disk="wal")
        ).stats.repaired_nodes
        for seed in range(1, 4)
    )
    assert repairs > 0


def test_memory_disks_never_see_disk_faults():
    result = simulate(SimConfig(seed=1, nodes=5, ticks=1500, faults=CORRUPTING))
    assert result.violations == []
    assert result.stats.corrupt_nodes == 0
    assert "disk_corruption" not in result.stats.faults


def test_disk_config_is_validated():
    with pytest.raises(ConfigError, match="disk must be one of"):
        SimConfig(disk="tape")
    with pytest.raises(ConfigError, match="segment_bytes_max"):
        SimConfig(disk="wal", wal_segment_bytes_max=100)


def test_power_cuts_in_the_middle_of_an_fsync_happen_and_recovery_copes():
    cuts = 0
    # A Ready that only moves the commit index waits for no fsync, so fewer crashes land in
    # one: ten seeds make sure some do.
    for seed in range(1, 11):
        config = SimConfig(seed=seed, nodes=5, ticks=1000, faults=CORRUPTING, disk="wal")
        result = simulate(dataclasses.replace(config, check_linearizability=False))
        assert result.violations == [], f"seed {seed}"
        cuts += result.stats.faults["power_cut_in_fsync"]
    assert cuts > 0


def test_clients_homed_on_a_corrupt_node_rebind_so_the_cluster_stays_live():
    # Seed 7 corrupts node 6 while every client is homed on it; they must move elsewhere.
    outcome = run_spec(RunSpec("raft", 5, 7, 3000, swarm=True, disk="wal"))
    assert outcome.violations == (), outcome.spec.replay_command()


def test_a_repaired_log_does_not_apply_entries_a_later_record_had_overwritten():
    """Seed 6472 of the WAL soak: a bit flip hit the records that overwrote an uncommitted
    suffix; the repaired node used the salvaged commit index and applied a stale entry."""
    outcome = run_spec(RunSpec("raft", 3, 6472, 1500, swarm=True, disk="wal"))
    assert outcome.violations == (), outcome.spec.replay_command()


def test_a_follower_that_lost_acknowledged_entries_is_probed_from_what_it_holds():
    """Seed 6483 of the WAL soak: a duplicated acknowledgement from before a follower's repair
    reached the leader after it had heard of the loss; it believed the follower held entries
    it had lost and probed there forever (a message storm)."""
    outcome = run_spec(RunSpec("raft", 3, 6483, 4000, swarm=True, disk="wal"))
    assert outcome.violations == (), outcome.spec.replay_command()
