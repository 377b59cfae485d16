"""``make bench``: the simulator's speed, the checker's time over the shared histories, and
the keyspace on LMDB (restart with a million keys, snapshots and copies; ``kvdb_bench``).

Prints a Markdown report meant for docs/benchmarks.md, with the command that produced it.
Benchmarks are measurements, not tests: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Sequence

from synod.check import bench as check_bench
from synod.cli import kvdb_bench
from synod.sim.config import FaultProfile, SimConfig
from synod.sim.world import simulate

SIM_CASES = (
    ("3 nodes, default faults", 3, FaultProfile()),
    ("5 nodes, default faults", 5, FaultProfile()),
    ("5 nodes, no faults", 5, FaultProfile.reliable()),
    ("7 nodes, default faults", 7, FaultProfile()),
)


def bench_simulator(ticks: int, seed: int) -> list[str]:
    rows = [
        "| run | ticks | wall s | ticks/s | messages/s | events/s | commits | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, nodes, faults in SIM_CASES:
        config = SimConfig(seed=seed, nodes=nodes, ticks=ticks, faults=faults)
        started = time.perf_counter()
        result = simulate(config)
        wall_s = time.perf_counter() - started
        stats = result.stats
        verdict = "ok" if result.ok else f"VIOLATION: {result.violations[0]}"
        rows.append(
            f"| {name} | {ticks} | {wall_s:.1f} | {ticks / wall_s:,.0f}"
            f" | {stats.messages_delivered / wall_s:,.0f} | {stats.events / wall_s:,.0f}"
            f" | {stats.commits} | {verdict} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synod.cli.bench", description=__doc__)
    parser.add_argument("--ticks", type=int, default=20_000, help="simulated ticks per run")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--keys", type=int, default=kvdb_bench.KEYS_DEFAULT, help="keys in the LMDB keyspace run"
    )
    args = parser.parse_args(argv)
    print(f"## Simulator speed (seed {args.seed}, single process)\n")
    print(f"Machine: {platform.machine()}, Python {platform.python_version()}.\n")
    print("\n".join(bench_simulator(args.ticks, args.seed)))
    print("\n## Linearizability checker over the shared histories\n")
    print("```")
    sys.stdout.flush()
    code = check_bench.main([])
    print("```")
    print(f"\n## Keyspace on LMDB ({args.keys:,} keys)\n")
    sys.stdout.flush()
    keyspace_code = kvdb_bench.main(["--keys", str(args.keys)])
    return code or keyspace_code


if __name__ == "__main__":
    sys.exit(main())
