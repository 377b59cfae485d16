"""The simulator must catch each deliberately broken Multi-Paxos engine within a bounded seed
range, and the real engine must pass the very seed that caught it (so the violation comes from
the planted bug, not from the simulator or the fault profile)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from synod.consensus.paxos import PaxosEngine
from synod.core.config import EngineConfig
from synod.sim.config import FaultProfile, SimConfig
from synod.sim.engines import EngineFactory
from synod.sim.result import SimResult
from synod.sim.world import simulate
from tests.broken.paxos_variants import VARIANTS

LOST_CHOICE = ("leader completeness", "state machine safety", "linearizability", "durability")

SIM_ENGINE = EngineConfig(election_timeout_ticks=10, heartbeat_interval_ticks=2)
CHURN = dataclasses.replace(
    FaultProfile(),
    crash_probability=0.02,
    restart_ticks_max=100,
    leader_crash_probability=0.2,
    partition_probability=0.03,
    partition_ticks_max=40,
    loss_probability=0.1,
    membership_probability=0.0,
)
"""The variants break phase 1 and phase 2 rules: runs without membership changes (which would
reshuffle every seed's faults) catch them within the seed ranges below."""


@dataclass(frozen=True)
class Case:
    variant: str
    seeds: range
    faults: FaultProfile
    expected: tuple[str, ...]
    engine: EngineConfig = SIM_ENGINE
    nodes: int = 3
    ticks: int = 1500

    def config(self, seed: int) -> SimConfig:
        return SimConfig(
            seed=seed,
            nodes=self.nodes,
            ticks=self.ticks,
            faults=self.faults,
            engine_config=self.engine,
        )


STALE_LEADERS = dataclasses.replace(SIM_ENGINE, check_quorum=False)
"""Leaders that do not step down when cut off: a deposed leader keeps sending Accepts and
Heartbeats in its old ballot, which is what an acceptor taking lower ballots trips over (with
check quorum on, the deposed leader falls silent within an election timeout and the bug has
only a few messages in flight to act on)."""

CASES = [
    Case(
        "accepts-lower-ballot",
        range(1, 61),
        CHURN,
        ("log matching", *LOST_CHOICE),
        engine=STALE_LEADERS,
    ),
    Case("ignores-promised-values", range(1, 61), CHURN, LOST_CHOICE),
    Case("shared-ballot", range(1, 61), CHURN, ("election safety", "log matching", *LOST_CHOICE)),
]


def first_violation(case: Case, factory: EngineFactory) -> tuple[int, SimResult] | None:
    for seed in case.seeds:
        result = simulate(case.config(seed), factory)
        if not result.ok:
            return seed, result
    return None


@pytest.mark.parametrize("case", CASES, ids=[case.variant for case in CASES])
def test_the_simulator_catches_the_broken_paxos_engine(case: Case) -> None:
    found = first_violation(case, VARIANTS[case.variant])
    assert found is not None, (
        f"{case.variant}: no violation in seeds {case.seeds.start}-{case.seeds.stop - 1}"
    )
    seed, result = found
    assert result.violations[0].startswith(case.expected), (
        f"{case.variant}, seed {seed}, caught for an unexpected reason: {result.violations[0]}"
    )
    control = simulate(case.config(seed), PaxosEngine)
    assert control.ok, f"the real engine fails the same seed {seed}: {control.violations}"
