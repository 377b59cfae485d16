"""Seed sweeps: many seeds, each with its own swarm fault profile, optionally in parallel.

Workers get only plain values (engine name, sizes, seed) and look the engine up themselves,
so nothing unpicklable crosses a process boundary; results come back in seed order.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass

from synod.sim.config import FaultProfile, SimConfig, swarm_engine_config
from synod.sim.engines import lookup_engine
from synod.sim.world import simulate


@dataclass(frozen=True, slots=True)
class RunSpec:
    """Everything that decides a run; ``replay_command`` turns it back into a command line."""

    engine: str
    nodes: int
    seed: int
    ticks: int
    swarm: bool
    check: bool = True
    disk: str = "memory"

    def config(self) -> SimConfig:
        if not self.swarm:
            return SimConfig(
                seed=self.seed,
                nodes=self.nodes,
                ticks=self.ticks,
                check_linearizability=self.check,
                disk=self.disk,
            )
        return SimConfig(
            seed=self.seed,
            nodes=self.nodes,
            ticks=self.ticks,
            faults=FaultProfile.swarm(self.seed),
            engine_config=swarm_engine_config(self.seed),
            check_linearizability=self.check,
            disk=self.disk,
        )

    def replay_command(self) -> str:
        parts = [
            f"synod sim --engine {self.engine} --nodes {self.nodes}",
            f"--seed {self.seed} --ticks {self.ticks}",
        ]
        if self.swarm:
            parts.append("--swarm")
        if not self.check:
            parts.append("--no-check")
        if self.disk != "memory":
            parts.append(f"--disk {self.disk}")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a sweep keeps of one run (small, so it crosses processes cheaply)."""

    spec: RunSpec
    violations: tuple[str, ...]
    elections: int
    commits: int
    operations_checked: int
    verdict: str
    messages_sent: int
    wall_time_s: float
    trace_hash: str

    @property
    def ok(self) -> bool:
        return not self.violations


def run_spec(spec: RunSpec) -> Outcome:
    result = simulate(spec.config(), lookup_engine(spec.engine))
    stats = result.stats
    return Outcome(
        spec,
        tuple(result.violations),
        stats.elections,
        stats.commits,
        stats.operations_checked,
        stats.verdict,
        stats.messages_sent,
        stats.wall_time_s,
        result.trace_hash,
    )


def sweep(specs: list[RunSpec], jobs: int) -> Iterator[Outcome]:
    """Run ``specs`` on ``jobs`` processes, yielding outcomes in the order of ``specs``."""
    assert jobs >= 1, "jobs must be at least 1"
    if jobs == 1 or len(specs) <= 1:
        yield from map(run_spec, specs)
        return
    with multiprocessing.get_context("fork").Pool(processes=jobs) as pool:
        yield from pool.imap(run_spec, specs, chunksize=1)


def specs_for(template: RunSpec, seeds: range) -> list[RunSpec]:
    return [dataclasses.replace(template, seed=seed) for seed in seeds]
