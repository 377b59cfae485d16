"""The simulator end to end over the real Raft engine: determinism, faults, liveness, sweeps."""

from __future__ import annotations

import dataclasses

import pytest

from synod.core.errors import ConfigError
from synod.sim import FaultProfile, SimConfig, simulate
from synod.sim.config import FAULT_KINDS
from synod.sim.engines import lookup_engine

pytest.importorskip("synod.consensus.raft")

# Every fault kind at a high rate, so a short run shows each of them.
STORMY = FaultProfile(
    delay_tail_probability=0.05,
    loss_probability=0.05,
    duplicate_probability=0.05,
    partition_probability=0.03,
    partition_ticks_max=40,
    crash_probability=0.01,
    restart_ticks_max=50,
    pause_probability=0.01,
    pause_ticks_max=50,
    membership_probability=0.02,
    leader_crash_probability=0.3,
)


def test_the_same_seed_gives_the_same_trace_and_different_seeds_differ():
    config = SimConfig(seed=11, nodes=3, ticks=800, faults=STORMY)
    first = simulate(config)
    second = simulate(config)
    other = simulate(dataclasses.replace(config, seed=12))
    assert first.trace_hash == second.trace_hash
    assert first.stats.as_dict() | {"wall_time_s": 0} == second.stats.as_dict() | {"wall_time_s": 0}
    assert other.trace_hash != first.trace_hash


def test_a_reliable_cluster_elects_one_leader_and_commits():
    result = simulate(SimConfig(seed=1, nodes=3, ticks=600, faults=FaultProfile.reliable()))
    assert result.violations == []
    assert result.stats.elections == 1
    assert result.stats.commits > 100
    assert result.stats.operations_ok > 100
    assert result.stats.verdict == "linearizable"
    assert result.stats.messages_dropped == result.stats.messages_duplicated == 0


def test_every_fault_kind_happens_and_is_counted():
    result = simulate(SimConfig(seed=3, nodes=5, ticks=2000, faults=STORMY))
    assert result.violations == []
    faults = result.stats.faults
    for kind in FAULT_KINDS:
        if kind == "partition":
            continue
        assert faults[kind] > 0, kind
    partitions = {kind for kind in faults if kind.startswith("partition_")}
    assert partitions == {
        "partition_symmetric",
        "partition_one_way",
        "partition_isolate_leader",
        "partition_majority_minority",
        "partition_bridge",
    }
    assert result.stats.crashes == faults["crash"] + faults["leader_crash"]
    assert result.stats.messages_duplicated > 0
    assert result.stats.messages_dropped > 0


def test_membership_changes_complete_under_faults():
    result = simulate(SimConfig(seed=3, nodes=5, ticks=1000, faults=STORMY))
    assert result.violations == []
    assert result.stats.faults["membership"] > 0
    assert result.stats.nodes_added > 0  # removed nodes were replaced by new, empty ones


def test_a_network_that_never_heals_is_a_liveness_violation():
    dead = dataclasses.replace(FaultProfile.reliable(), loss_probability=1.0)
    config = SimConfig(seed=5, nodes=3, ticks=400, faults=dead, heal_network=False)
    result = simulate(config)
    assert len(result.violations) == 1
    assert result.violations[0].startswith("liveness: no client write committed within 80 ticks")


def test_the_engine_factory_builds_every_node_on_every_start():
    built: list[int] = []
    raft = lookup_engine("raft")

    def factory(node_id, storage, config, rng):
        built.append(node_id)
        return raft(node_id, storage, config, rng)

    faults = dataclasses.replace(FaultProfile.reliable(), crash_probability=0.02)
    result = simulate(SimConfig(seed=2, nodes=3, ticks=500, faults=faults), factory)
    assert result.violations == []
    assert sorted(set(built)) == [1, 2, 3]
    assert len(built) == 3 + result.stats.restarts


def test_an_engine_that_raises_is_reported_not_propagated():
    raft = lookup_engine("raft")

    class Exploding(raft):  # type: ignore[misc, valid-type]
        def tick(self):
            if self.node_id == 2 and self.term > 0:
                raise RuntimeError("boom")
            super().tick()

    result = simulate(SimConfig(seed=1, nodes=3, ticks=300), Exploding)
    assert len(result.violations) == 1
    assert "RuntimeError: boom" in result.violations[0]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
def test_a_small_swarm_sweep_finds_no_violation(seed):
    config = SimConfig(
        seed=seed, nodes=3 + 2 * (seed % 2), ticks=1500, faults=FaultProfile.swarm(seed)
    )
    result = simulate(config)
    assert result.violations == [], f"replay with seed {seed}"


@pytest.mark.parametrize("seed", [7, 54])
def test_new_nodes_join_with_the_right_configuration(seed):
    """A joiner once replicated the log from index 1 and never learnt the bootstrap voters,
    then elected itself alone (split brain). It must learn them from a snapshot."""
    faults = dataclasses.replace(STORMY, membership_probability=0.05)
    result = simulate(SimConfig(seed=seed, nodes=3, ticks=1500, faults=faults))
    assert result.stats.nodes_added > 0
    assert result.stats.snapshots_installed > 0
    assert result.violations == []


def test_config_is_validated():
    for bad in (
        {"nodes": 0},
        {"ticks": 0},
        {"heal_ticks": 0},
        {"keys": 0},
        {"faults": FaultProfile(loss_probability=2.0)},
        {"faults": FaultProfile(delay_units_min=10, delay_units_max=5)},
    ):
        with pytest.raises(ConfigError):
            SimConfig(**bad)


def test_swarm_profiles_are_derived_from_the_seed_alone():
    assert FaultProfile.swarm(9) == FaultProfile.swarm(9)
    profiles = {FaultProfile.swarm(seed) for seed in range(20)}
    assert len(profiles) == 20


def test_an_engine_that_sends_everything_before_its_fsync_is_caught():
    """``early_messages`` leave before the fsync: acknowledging there breaks durability."""
    raft = lookup_engine("raft")

    class AcksEarly(raft):  # type: ignore[misc, valid-type]
        def ready(self):
            ready = super().ready()
            if ready is None:
                return None
            self.handed_out = ready
            return dataclasses.replace(
                ready, messages=(), early_messages=ready.early_messages + ready.messages
            )

        def advance(self, ready):
            super().advance(self.handed_out)

    slow_disks = dataclasses.replace(FaultProfile.reliable(), fsync_units_max=300)
    result = simulate(SimConfig(seed=1, nodes=3, ticks=300, faults=slow_disks), AcksEarly)
    assert result.violations
    assert all(violation.startswith("durability: node") for violation in result.violations)
