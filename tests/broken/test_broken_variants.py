"""The simulator must catch each deliberately broken engine within a bounded seed sweep.

Each case names a fault profile that gives its bug room to do damage, a range of seeds, and the
violations that count as catching it for the right reason. The sweep stops at the first
violation; the real engine then replays that very seed cleanly, which shows the violation comes
from the planted bug and not from the simulator or the profile.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from synod.consensus.raft import RaftEngine
from synod.core.config import EngineConfig
from synod.sim.config import FaultProfile, SimConfig
from synod.sim.engines import EngineFactory
from synod.sim.result import SimResult
from synod.sim.world import simulate
from tests.broken.variants import VARIANTS

LOST_COMMIT = ("leader completeness", "commit safety", "state machine safety", "linearizability")

SIM_ENGINE = EngineConfig(election_timeout_ticks=10, heartbeat_interval_ticks=2)
QUIET = dataclasses.replace(
    FaultProfile(), membership_probability=0.0, pause_probability=0.0, crash_probability=0.0
)


@dataclass(frozen=True)
class Case:
    variant: str
    seeds: range
    faults: FaultProfile
    expected: tuple[str, ...]
    engine: EngineConfig = SIM_ENGINE
    nodes: int = 3
    ticks: int = 2000

    def config(self, seed: int) -> SimConfig:
        return SimConfig(
            seed=seed,
            nodes=self.nodes,
            ticks=self.ticks,
            faults=self.faults,
            engine_config=self.engine,
        )


CASES = [
    # (a) Two votes in one term: two candidates win the same term.
    Case("double-vote", range(1, 41), FaultProfile(), ("election safety", "durable vote changed")),
    # (b) Figure 8. The commit rule matters only when a leader re-elected with an old-term tail
    # replicates it while a rival holds a higher-term entry at the same index, and loses power
    # before its own-term entry spreads. One-entry messages and a window of one keep followers
    # lagging; frequent crashes with slow restarts, partitions, pauses and loss make the short
    # reigns and divergent logs that scenario needs.
    Case(
        "commits-previous-term",
        range(1, 401),
        dataclasses.replace(
            FaultProfile(),
            crash_probability=0.03,
            restart_ticks_max=150,
            leader_crash_probability=0.3,
            leader_crash_ticks_max=30,
            partition_probability=0.05,
            partition_ticks_max=20,
            membership_probability=0.0,
            pause_probability=0.03,
            pause_ticks_max=40,
            loss_probability=0.3,
            fsync_units_max=100,
        ),
        LOST_COMMIT,
        engine=dataclasses.replace(SIM_ENGINE, message_bytes_max=1, inflight_messages_max=1),
    ),
    # (c) Acknowledging before the fsync: an entry counts as committed while a quorum does not
    # yet hold it durably, which a crash turns into lost data.
    Case("acks-before-durable", range(1, 21), FaultProfile(), ("durability", *LOST_COMMIT)),
    # (d) ReadIndex without a heartbeat round: a leader cut off from the majority keeps serving
    # reads from its stale state. CheckQuorum is off, as safety must not rest on it (a leader
    # that has not yet noticed its isolation is exactly the case it leaves open).
    Case(
        "unconfirmed-read-index",
        range(1, 101),
        dataclasses.replace(QUIET, partition_probability=0.02, partition_ticks_max=100),
        ("linearizability",),
        engine=EngineConfig(
            election_timeout_ticks=10, heartbeat_interval_ticks=2, check_quorum=False
        ),
    ),
]


def first_violation(case: Case, factory: EngineFactory) -> tuple[int, SimResult] | None:
    for seed in case.seeds:
        result = simulate(case.config(seed), factory)
        if not result.ok:
            return seed, result
    return None


@pytest.mark.parametrize("case", CASES, ids=[case.variant for case in CASES])
def test_the_simulator_catches_the_broken_engine(case: Case) -> None:
    found = first_violation(case, VARIANTS[case.variant])
    assert found is not None, (
        f"{case.variant}: no violation in seeds {case.seeds.start}-{case.seeds.stop - 1}"
    )
    seed, result = found
    assert result.violations[0].startswith(case.expected), (
        f"{case.variant}, seed {seed}, caught for an unexpected reason: {result.violations[0]}"
    )
    control = simulate(case.config(seed), RaftEngine)
    assert control.ok, f"the real engine fails the same seed {seed}: {control.violations}"
