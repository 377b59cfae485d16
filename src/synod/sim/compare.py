"""Raft and Multi-Paxos measured side by side in the simulator (``synod compare``).

Every figure comes from runs of the real engines through the same world, workload and fault
menu, seed by seed, so the two engines face identical conditions:

- ``steady``: a reliable network (small delays, no loss) and no faults;
- ``faults``: each seed's swarm fault profile (partitions, crashes, pauses, loss, ...);
- ``leader-loss``: a reliable network whose leader crashes at ``CRASH_TICK``; it measures the
  ticks until another node leads and until that leader's first entry commits.

Per scenario it reports messages and fsyncs per committed log entry (heartbeats, no-ops and
lease expiries included: they are what the engine costs) and the latency of acknowledged
client writes in ticks (one tick is a heartbeat interval). Nothing here asserts a winner.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import multiprocessing
import statistics
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from synod.consensus.catalog import ENGINES
from synod.core.ids import NO_INDEX, NO_NODE
from synod.sim.cli import NODES_MAX, UsageError, parse_seeds
from synod.sim.config import UNITS_PER_TICK, FaultProfile, SimConfig
from synod.sim.engines import lookup_engine
from synod.sim.sweep import RunSpec
from synod.sim.world import World

SCENARIOS = ("steady", "faults", "leader-loss")
CRASH_TICK = 300
"""When ``leader-loss`` crashes the leader: long after the first election has settled."""
PROBE_UNITS = UNITS_PER_TICK // 10
"""How often ``leader-loss`` looks for a new leader (a tenth of a tick)."""


@dataclass(frozen=True, slots=True)
class Job:
    engine: str
    nodes: int
    scenario: str
    seed: int
    ticks: int


@dataclass(frozen=True, slots=True)
class Sample:
    """What one run measured."""

    job: Job
    violations: int
    messages: int
    fsyncs: int
    commits: int
    write_latencies: tuple[float, ...]
    message_kinds: tuple[tuple[str, int], ...]
    election_ticks: float | None = None
    """``leader-loss`` only: from the crash until another node leads (None: none did)."""
    commit_recovery_ticks: float | None = None
    """``leader-loss`` only: from the crash until the new leader's own first entry commits
    (the point from which it serves writes and linearizable reads)."""


@dataclass(frozen=True, slots=True)
class Summary:
    engine: str
    scenario: str
    runs: int
    violations: int
    messages_per_commit: float
    fsyncs_per_commit: float
    write_p50: float
    write_p99: float
    election_p50: float | None
    recovery_p50: float | None
    recovery_max: float | None
    messages_per_commit_by_kind: dict[str, float]


def config_for(job: Job) -> SimConfig:
    if job.scenario == "faults":  # exactly what a sweep runs for this seed
        return RunSpec(job.engine, job.nodes, job.seed, job.ticks, swarm=True).config()
    if job.scenario in ("steady", "leader-loss"):
        return SimConfig(
            seed=job.seed, nodes=job.nodes, ticks=job.ticks, faults=FaultProfile.reliable()
        )
    raise ValueError(f"unknown scenario {job.scenario!r}; choose from {', '.join(SCENARIOS)}")


def run_job(job: Job) -> Sample:
    world = World(config_for(job), lookup_engine(job.engine))
    crash: _LeaderCrash | None = None
    if job.scenario == "leader-loss":
        crash = _LeaderCrash(world)
        world.scheduler.at(CRASH_TICK * UNITS_PER_TICK, "crash the leader", crash.fire)
    result = world.run()
    records = world.clients.history.records
    writes = [r for r in records if r.input[0] != "read" and math.isfinite(r.ret)]
    sample = Sample(
        job,
        len(result.violations),
        result.stats.messages_sent,
        result.stats.fsyncs,
        result.stats.commits,
        tuple(r.ret - r.call for r in writes),
        tuple(sorted(result.stats.message_kinds.items())),
    )
    if crash is None:
        return sample
    return dataclasses.replace(
        sample, election_ticks=crash.election_ticks, commit_recovery_ticks=crash.commit_ticks
    )


class _LeaderCrash:
    """Crashes the leader when fired, then watches for its successor."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._old = NO_NODE
        self._own_entry = NO_INDEX
        self.at_ticks: float | None = None
        self.election_ticks: float | None = None
        self.commit_ticks: float | None = None

    def fire(self) -> None:
        leader = self._world.current_leader()
        if leader is None:  # mid-election already: try again a little later
            self._world.scheduler.after(PROBE_UNITS, "crash the leader", self.fire)
            return
        self._old = leader.node_id
        self.at_ticks = self._world.now_ticks()
        self._world.crash(leader)
        self._world.scheduler.after(PROBE_UNITS, "look for a new leader", self._probe)

    def _probe(self) -> None:
        world = self._world
        assert self.at_ticks is not None
        elapsed = world.now_ticks() - self.at_ticks
        leader = world.current_leader()
        if leader is not None and leader.node_id != self._old:
            engine = world.engines[leader.node_id]
            if self.election_ticks is None:
                self.election_ticks = elapsed
                self._own_entry = engine.last_index  # it has appended its own entry by now
            if engine.commit_index >= self._own_entry:
                self.commit_ticks = elapsed
                return
        if world.now_ticks() < world.config.ticks:
            world.scheduler.after(PROBE_UNITS, "look for a new leader", self._probe)


def run_jobs(jobs: Sequence[Job], processes: int) -> Iterator[Sample]:
    if processes <= 1:
        yield from map(run_job, jobs)
        return
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        yield from pool.imap(run_job, jobs)


def summarize(samples: Sequence[Sample]) -> Summary:
    first = samples[0].job
    commits = sum(s.commits for s in samples) or 1
    latencies = sorted(latency for s in samples for latency in s.write_latencies)
    elections = [s.election_ticks for s in samples if s.election_ticks is not None]
    recoveries = [s.commit_recovery_ticks for s in samples if s.commit_recovery_ticks is not None]
    kinds: Counter[str] = Counter()
    for sample in samples:
        kinds.update(dict(sample.message_kinds))
    return Summary(
        first.engine,
        first.scenario,
        len(samples),
        sum(s.violations for s in samples),
        sum(s.messages for s in samples) / commits,
        sum(s.fsyncs for s in samples) / commits,
        _quantile(latencies, 0.5),
        _quantile(latencies, 0.99),
        statistics.median(elections) if elections else None,
        statistics.median(recoveries) if recoveries else None,
        max(recoveries) if recoveries else None,
        {kind: count / commits for kind, count in kinds.most_common()},
    )


def _quantile(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    return values[min(len(values) - 1, int(q * len(values)))]


def compare(
    engines: Sequence[str],
    scenarios: Sequence[str],
    *,
    nodes: int,
    seeds: range,
    ticks: int,
    processes: int,
    progress: Callable[[str], None] | None = None,
) -> list[Summary]:
    """Run every (engine, scenario, seed) and summarize per (engine, scenario)."""
    summaries = []
    for scenario in scenarios:
        for engine in engines:
            jobs = [Job(engine, nodes, scenario, seed, ticks) for seed in seeds]
            samples = list(run_jobs(jobs, processes))
            summaries.append(summarize(samples))
            if progress is not None:
                progress(f"{scenario}: {engine} done ({len(samples)} runs)")
    return summaries


def table(summaries: Sequence[Summary]) -> str:
    """A Markdown table of the summaries."""

    def cell(value: float | None, digits: int = 1) -> str:
        if value is None or math.isnan(value):
            return "-"
        return f"{value:.{digits}f}"

    lines = [
        "| scenario | engine | runs | violations | messages/commit | fsyncs/commit "
        "| write p50 (ticks) | write p99 (ticks) | new leader p50 (ticks) "
        "| commits again p50 / max (ticks) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        recovery = "-"
        if s.recovery_p50 is not None:
            recovery = f"{cell(s.recovery_p50)} / {cell(s.recovery_max)}"
        lines.append(
            f"| {s.scenario} | {s.engine} | {s.runs} | {s.violations} "
            f"| {cell(s.messages_per_commit)} | {cell(s.fsyncs_per_commit, 2)} "
            f"| {cell(s.write_p50)} | {cell(s.write_p99)} | {cell(s.election_p50)} | {recovery} |"
        )
    return "\n".join(lines)


# -- the command line ---------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engines", default="raft,paxos", help="comma-separated engine names")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"any of: {', '.join(SCENARIOS)}"
    )
    parser.add_argument("--nodes", type=int, default=3, help="cluster size")
    parser.add_argument("--seeds", default="1-20", help="seed range per scenario, e.g. 1-20")
    parser.add_argument("--ticks", type=int, default=2000, help="ticks per run")
    parser.add_argument("--jobs", type=int, default=1, help="parallel processes")


def run(args: argparse.Namespace) -> int:
    engines = [name.strip() for name in args.engines.split(",") if name.strip()]
    scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    try:
        unknown = sorted(set(engines) - set(ENGINES)) or sorted(set(scenarios) - set(SCENARIOS))
        if unknown:
            choices = ", ".join(sorted(ENGINES) + list(SCENARIOS))
            raise UsageError(f"unknown engine or scenario {unknown[0]!r} (one of: {choices})")
        if args.ticks <= CRASH_TICK * 2 and "leader-loss" in scenarios:
            raise UsageError(f"leader-loss needs --ticks above {CRASH_TICK * 2}")
        if not 1 <= args.nodes <= NODES_MAX or args.jobs < 1:
            raise UsageError(f"--nodes must lie in 1..{NODES_MAX} and --jobs be at least 1")
        seeds = parse_seeds(args.seeds)
    except UsageError as error:
        print(f"synod compare: {error}", file=sys.stderr)
        return 2

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    summaries = compare(
        engines,
        scenarios,
        nodes=args.nodes,
        seeds=seeds,
        ticks=args.ticks,
        processes=args.jobs,
        progress=progress,
    )
    print(table(summaries))
    print()
    print(kinds_table(summaries))
    return 0 if all(s.violations == 0 for s in summaries) else 1


def kinds_table(summaries: Sequence[Summary]) -> str:
    """Messages per committed entry by message type, one line per (scenario, engine)."""
    lines = ["| scenario | engine | messages per committed entry, by type |", "|---|---|---|"]
    for s in summaries:
        kinds = ", ".join(
            f"{kind} {rate:.1f}" for kind, rate in s.messages_per_commit_by_kind.items()
        )
        lines.append(f"| {s.scenario} | {s.engine} | {kinds} |")
    return "\n".join(lines)
