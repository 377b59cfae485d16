"""``synod sim``: run one seed (with a readable summary) or sweep a range of seeds.

Exit status: 0 when every run is clean, 1 when any run found a violation (the violation, the
seed and the exact command that replays it are printed), 2 for bad flags.
"""

from __future__ import annotations

import argparse
import sys
import time

from synod.consensus.catalog import ENGINES
from synod.sim.config import DISK_KINDS, UNITS_PER_TICK
from synod.sim.engines import lookup_engine
from synod.sim.result import SimResult
from synod.sim.sweep import Outcome, RunSpec, specs_for, sweep
from synod.sim.world import simulate

NODES_MAX = 9
JOBS_MAX = 256


class UsageError(ValueError):
    """A flag that cannot work; reported as one line, exit status 2."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", default="raft", help=f"one of: {', '.join(sorted(ENGINES))}")
    parser.add_argument("--nodes", type=int, default=5, help="cluster size (3, 5 or 7 usually)")
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, default=None, help="run one seed (default 42)")
    seeds.add_argument("--seeds", default=None, help="sweep a range of seeds, e.g. 1-1000")
    parser.add_argument("--ticks", type=int, default=4000, help="engine ticks to simulate")
    parser.add_argument("--jobs", type=int, default=1, help="parallel processes for a sweep")
    parser.add_argument(
        "--swarm",
        action="store_true",
        help="random fault kinds and intensities derived from the seed (always on in sweeps)",
    )
    parser.add_argument(
        "--disk",
        choices=DISK_KINDS,
        default="memory",
        help="each node's durable storage: in memory, or the real WAL on a simulated disk",
    )
    parser.add_argument("--no-check", action="store_true", help="skip the linearizability check")
    parser.add_argument("--verbose", action="store_true", help="print the event log (one seed)")


def run(args: argparse.Namespace) -> int:
    try:
        seeds = _validate(args)
    except UsageError as error:
        print(f"synod sim: error: {error}", file=sys.stderr)
        return 2
    template = RunSpec(
        engine=args.engine,
        nodes=args.nodes,
        seed=seeds.start,
        ticks=args.ticks,
        swarm=args.swarm or args.seeds is not None,
        check=not args.no_check,
        disk=args.disk,
    )
    if args.seeds is None:
        return _run_one(template, verbose=args.verbose)
    return _run_sweep(specs_for(template, seeds), args.jobs)


def parse_seeds(text: str) -> range:
    """``"17"`` or ``"1-1000"`` (inclusive) as a range of seeds."""
    low_text, dash, high_text = text.partition("-")
    try:
        low = int(low_text)
        high = int(high_text) if dash else low
    except ValueError:
        raise UsageError(f"--seeds must look like 1-1000 (got {text!r})") from None
    if low < 0 or high < low:
        raise UsageError(f"--seeds range {text!r} must be non-negative and increasing")
    return range(low, high + 1)


def _validate(args: argparse.Namespace) -> range:
    if args.engine not in ENGINES:
        raise UsageError(f"--engine must be one of: {', '.join(sorted(ENGINES))}")
    if not 1 <= args.nodes <= NODES_MAX:
        raise UsageError(f"--nodes must be between 1 and {NODES_MAX} (3, 5 or 7 usually)")
    if args.ticks <= 0:
        raise UsageError(f"--ticks must be > 0 (got {args.ticks})")
    if not 1 <= args.jobs <= JOBS_MAX:
        raise UsageError(f"--jobs must be between 1 and {JOBS_MAX}")
    if args.seeds is not None and args.verbose:
        raise UsageError("--verbose needs a single --seed, not a --seeds sweep")
    if args.seeds is not None:
        return parse_seeds(args.seeds)
    seed = 42 if args.seed is None else args.seed
    if seed < 0:
        raise UsageError(f"--seed must be non-negative (got {seed})")
    return range(seed, seed + 1)


def _run_one(spec: RunSpec, *, verbose: bool) -> int:
    config = spec.config()
    log = print if verbose else None
    result = simulate(config, lookup_engine(spec.engine), log=log)
    for line in summary_lines(spec, result):
        print(line)
    if result.ok:
        print("PASS")
        return 0
    print(f"FAIL seed {spec.seed}: {result.violations[0]}")
    for violation in result.violations[1:]:
        print(f"  also: {violation}")
    print(f"replay: {spec.replay_command()}")
    return 1


def summary_lines(spec: RunSpec, result: SimResult) -> list[str]:
    stats = result.stats
    wall = max(stats.wall_time_s, 1e-9)
    faults = ", ".join(f"{kind} {count}" for kind, count in sorted(stats.faults.items()))
    profile = "swarm" if spec.swarm else "default"
    engine = spec.config().engine_config
    knobs = (
        f"prevote {'on' if engine.pre_vote else 'off'}, "
        f"checkquorum {'on' if engine.check_quorum else 'off'}, "
        f"message bytes max {engine.message_bytes_max}, inflight max {engine.inflight_messages_max}"
    )
    return [
        f"synod sim: {spec.engine}, {spec.nodes} nodes, seed {spec.seed}, "
        f"{stats.ticks} ticks ({profile} faults, {spec.disk} disk)",
        f"  engine: {knobs}",
        f"  elections {stats.elections} (leader changes {stats.leader_changes}), "
        f"commits {stats.commits}, compactions {stats.compactions}, "
        f"snapshots installed {stats.snapshots_installed}",
        f"  messages: sent {stats.messages_sent}, delivered {stats.messages_delivered}, "
        f"dropped {stats.messages_dropped}, duplicated {stats.messages_duplicated}",
        f"  faults: {faults or 'none'}; crashes {stats.crashes}, restarts {stats.restarts}"
        f", nodes added {stats.nodes_added}, corrupt nodes refused {stats.corrupt_nodes}"
        f", repaired {stats.repaired_nodes}",
        f"  clients: ok {stats.operations_ok}, failed {stats.operations_failed}, "
        f"unknown {stats.operations_unknown}; {stats.operations_checked} operations checked: "
        f"{stats.verdict}",
        f"  keyspace: {stats.keyspace_hashes_compared} hashes compared across nodes, "
        f"{stats.acked_puts_checked} acknowledged puts read back, "
        f"{stats.lease_expiries_proposed} lease expiries proposed",
        f"  speed: {stats.wall_time_s:.2f} s wall, {stats.ticks / wall:,.0f} ticks/s, "
        f"{stats.messages_sent / wall:,.0f} messages/s, {stats.events / wall:,.0f} events/s "
        f"({UNITS_PER_TICK} units per tick); trace {result.trace_hash[:16]}",
    ]


def _run_sweep(specs: list[RunSpec], jobs: int) -> int:
    started = time.perf_counter()
    failures: list[Outcome] = []
    for count, outcome in enumerate(sweep(specs, jobs), start=1):
        print(_progress_line(outcome, count, len(specs)), flush=True)
        if not outcome.ok:
            failures.append(outcome)
    elapsed = time.perf_counter() - started
    first = specs[0]
    print(
        f"sweep: {first.engine}, {first.nodes} nodes, {first.ticks} ticks{_disk_note(first)}, "
        f"seeds "
        f"{specs[0].seed}-{specs[-1].seed}: {len(specs) - len(failures)} passed, "
        f"{len(failures)} failed in {elapsed:.1f} s ({len(specs) / elapsed:.2f} seeds/s)"
    )
    for outcome in failures:
        print(f"FAIL seed {outcome.spec.seed}: {outcome.violations[0]}")
        print(f"  replay: {outcome.spec.replay_command()}")
    return 1 if failures else 0


def _disk_note(spec: RunSpec) -> str:
    return "" if spec.disk == "memory" else f", {spec.disk} disk"


def _progress_line(outcome: Outcome, count: int, total: int) -> str:
    status = "ok  " if outcome.ok else "FAIL"
    return (
        f"[{count}/{total}] seed {outcome.spec.seed} {status} elections {outcome.elections} "
        f"commits {outcome.commits} ops {outcome.operations_checked} {outcome.verdict} "
        f"{outcome.wall_time_s:.2f}s"
    )
