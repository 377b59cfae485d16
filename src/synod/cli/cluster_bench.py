"""Synod against etcd on this machine, in one run: ``python -m synod.cli.cluster_bench``.

Starts a 3-member etcd cluster and, for each engine of ``--engines`` (Raft alone by default), a
fresh 3-member Synod cluster running it (``localcluster``, free ports, a temporary folder), drives
each with ``synod bench`` (``etcd_bench.measure``, in-process) through the same workloads, one
cluster at a time, and prints a Markdown table with one group of rows per engine: ops/s, p50 and
p99 latency per system, Synod's throughput as a fraction of etcd's, and the CPU time the three
members spent per request (user plus system, from ``/proc/PID/stat``, all their threads; the
client's own CPU is not in it). With more than one engine a second table sets each engine
against the first. CPU per request is the steadier figure on a shared machine: throughput and
latency move with whatever else runs, CPU time much less. With ``--write FILE`` the tables
replace the section between the ``MARKER_BEGIN`` and ``MARKER_END`` lines of FILE (appended,
with its markers, when FILE has none).

Workloads (8-byte keys, 256-byte values, as etcd's published benchmark): sequential puts from 1
client and from 64 clients; then linearizable and serializable ranges from 64 clients over the
keys just written. Connections go to every member, the leader first, so a single client talks
to the leader on both systems. Measurements, not assertions: nothing here fails on a number.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from synod.api.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from synod.cli.etcd_bench import Report, Spec, measure
from synod.cli.localcluster import LocalCluster
from synod.consensus.catalog import ENGINES

MARKER_BEGIN = "<!-- cluster-bench:begin (rewritten by python -m synod.cli.cluster_bench) -->"
MARKER_END = "<!-- cluster-bench:end -->"
STATUS_SECONDS_MAX = 5.0
KEY_SIZE_BYTES = 8
VALUE_SIZE_BYTES = 256
ETCD = "etcd"
"""Key of etcd's measurements; Synod's are keyed by engine name."""


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    operation: str
    clients: int
    conns: int
    total: int
    consistency: str = "l"

    def spec(self, endpoints: tuple[str, ...], procs: int, key_space_size: int) -> Spec:
        return Spec(
            operation=self.operation,
            endpoints=endpoints,
            clients=self.clients,
            conns=self.conns,
            total=self.total,
            key_size=KEY_SIZE_BYTES,
            val_size=VALUE_SIZE_BYTES,
            key_space_size=key_space_size,
            sequential_keys=self.operation == "put",
            consistency=self.consistency,
            procs=min(procs, self.clients),
        )

    def command(self, procs: int, key_space_size: int) -> str:
        spec = self.spec(("ENDPOINTS",), procs, key_space_size)
        keys = "--sequential-keys" if spec.sequential_keys else f"--key-space-size {key_space_size}"
        consistency = f" --consistency {spec.consistency}" if spec.operation == "range" else ""
        return (
            f"synod bench {spec.operation} --endpoints ENDPOINTS --clients {spec.clients}"
            f" --conns {spec.conns} --total {spec.total} --key-size {spec.key_size}"
            f" --val-size {spec.val_size} {keys}{consistency} --procs {spec.procs}"
        )


def workloads(scale: float) -> list[Workload]:
    def total(base: int) -> int:
        return max(100, round(base * scale))

    return [
        Workload("put, 1 client", "put", 1, 1, total(2_000)),
        Workload("put, 64 clients", "put", 64, 8, total(10_000)),
        Workload("range linearizable, 64 clients", "range", 64, 8, total(20_000), "l"),
        Workload("range serializable, 64 clients", "range", 64, 8, total(20_000), "s"),
    ]


def leader_first(cluster: LocalCluster) -> tuple[str, ...]:
    """The cluster's endpoints with the leader's first (as each member reports it)."""
    endpoints = [member.endpoint for member in cluster.members]
    for endpoint in endpoints:
        with grpc.insecure_channel(endpoint) as channel:
            status = rpc_pb2_grpc.MaintenanceStub(channel).Status(
                rpc_pb2.StatusRequest(), timeout=STATUS_SECONDS_MAX
            )
        if status.leader == status.header.member_id:
            endpoints.remove(endpoint)
            return (endpoint, *endpoints)
    return tuple(endpoints)


@dataclass(frozen=True, slots=True)
class Measured:
    report: Report
    member_cpu_us_per_op: float
    """CPU time of the three members during the workload, per request sent."""


def members_cpu_s(cluster: LocalCluster) -> float:
    """User plus system CPU seconds the running members have used so far (every thread)."""
    ticks_per_s = os.sysconf("SC_CLK_TCK")
    total_ticks = 0
    for member in cluster.members:
        if member.process is None:
            continue
        try:
            stat = Path(f"/proc/{member.process.pid}/stat").read_text()
        except OSError:
            continue  # not Linux, or the member is gone
        fields = stat.rsplit(")", 1)[1].split()  # after the command name: field 3 onwards
        total_ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total_ticks / ticks_per_s


def parse_engines(text: str) -> tuple[str, ...]:
    """``--engines``: comma-separated engine names, each once, in the order given."""
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in ENGINES]
    if not names or unknown:
        known = ", ".join(sorted(ENGINES))
        raise argparse.ArgumentTypeError(f"engines must be some of {known}, not {text!r}")
    return names


def run_system(
    system: str, base_dir: Path, cases: Sequence[Workload], procs: int
) -> list[Measured]:
    """Measure ``system`` (etcd, or an engine name for Synod) on a fresh 3-member cluster."""
    results: list[Measured] = []
    program, engine = (ETCD, "raft") if system == ETCD else ("synod", system)
    with LocalCluster(program, 3, base_dir / system, engine=engine) as cluster:
        cluster.start()
        endpoints = leader_first(cluster)
        key_space_size = max(case.total for case in cases if case.operation == "put")
        for case in cases:
            cpu_before_s = members_cpu_s(cluster)
            report = measure(case.spec(endpoints, procs, key_space_size))
            cpu_us = (members_cpu_s(cluster) - cpu_before_s) * 1e6 / max(report.requests, 1)
            results.append(Measured(report, cpu_us))
            print(
                f"{system:5} {case.name:32} {report.ops_per_s:9,.0f} ops/s"
                f"  p50 {report.latency_ms['p50']:7.2f} ms  p99 {report.latency_ms['p99']:7.2f} ms"
                f"  members' CPU {cpu_us:5.0f} us/op  errors {report.errors}",
                file=sys.stderr,
                flush=True,
            )
    return results


def engines_of(results: dict[str, list[Measured]]) -> list[str]:
    return [system for system in results if system != ETCD]


def table(cases: Sequence[Workload], results: dict[str, list[Measured]]) -> list[str]:
    """One row per workload and engine, grouped by engine, each against etcd's run."""
    engines = engines_of(results)
    rows = [
        "| workload | etcd ops/s | etcd p50 ms | etcd p99 ms"
        " | Synod ops/s | Synod p50 ms | Synod p99 ms | Synod / etcd"
        " | etcd CPU µs/op | Synod CPU µs/op | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for engine in engines:
        prefix = f"{engine.capitalize()}: " if len(engines) > 1 else ""
        for case, etcd_run, synod_run in zip(cases, results[ETCD], results[engine], strict=True):
            etcd, synod = etcd_run.report, synod_run.report
            rows.append(
                f"| {prefix}{case.name} | {etcd.ops_per_s:,.0f} | {etcd.latency_ms['p50']:.2f}"
                f" | {etcd.latency_ms['p99']:.2f} | {synod.ops_per_s:,.0f}"
                f" | {synod.latency_ms['p50']:.2f} | {synod.latency_ms['p99']:.2f}"
                f" | {ratio(synod.ops_per_s, etcd.ops_per_s)}"
                f" | {etcd_run.member_cpu_us_per_op:,.0f}"
                f" | {synod_run.member_cpu_us_per_op:,.0f} | {etcd.errors + synod.errors} |"
            )
    return rows


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}" if denominator else "-"


def engines_table(cases: Sequence[Workload], results: dict[str, list[Measured]]) -> list[str]:
    """Each engine after the first against the first: throughput and members' CPU per request."""
    first, *others = engines_of(results)
    header = "| workload |"
    for engine in others:
        pair = f"{engine.capitalize()} / {first.capitalize()}"
        header += f" {pair} ops/s | {pair} CPU µs/op |"
    rows = [header, "|---|" + "---:|---:|" * len(others)]
    for index, case in enumerate(cases):
        base = results[first][index]
        cells = "".join(
            f" {ratio(run.report.ops_per_s, base.report.ops_per_s)}"
            f" | {ratio(run.member_cpu_us_per_op, base.member_cpu_us_per_op)} |"
            for run in (results[engine][index] for engine in others)
        )
        rows.append(f"| {case.name} |{cells}")
    return rows


@dataclass(frozen=True, slots=True)
class Run:
    """How the measurements were made, for the section's text."""

    command: str
    """The ``cluster_bench`` command line that reproduces the tables."""
    procs: int
    load_start: float
    load_end: float


def section(cases: Sequence[Workload], results: dict[str, list[Measured]], run: Run) -> str:
    key_space_size = max(case.total for case in cases if case.operation == "put")
    engines = engines_of(results)
    clusters = ", ".join(["etcd", *(f"Synod {engine.capitalize()}" for engine in engines)])
    comparison = ["", *engines_table(cases, results)] if len(engines) > 1 else []
    lines = [
        MARKER_BEGIN,
        "",
        f"Run on {time.strftime('%Y-%m-%d')}: {os.cpu_count()} cores ({platform.machine()}),"
        f" Python {platform.python_version()}, load average {run.load_start:.1f} when it started"
        f" and {run.load_end:.1f} when it ended; each 3-member cluster ({clusters}) and the"
        " client on this one machine, one cluster at a time.",
        "",
        *table(cases, results),
        *comparison,
        "",
        "CPU µs/op is the user plus system CPU time of the three members (every thread,"
        " from /proc) during the workload, per request; the client's is not counted.",
        "",
        f"The whole run: `{run.command}`. Synod members run `synod serve --engine ENGINE`"
        " with etcd's flags. Each row is one command against the leader-first endpoints of"
        " each cluster:",
        "",
        "```sh",
        *(case.command(run.procs, key_space_size) for case in cases),
        "```",
        "",
        MARKER_END,
    ]
    return "\n".join(lines)


def rewrite(path: Path, text: str, heading: str = "Synod against etcd") -> None:
    """Replace the marked section of ``path`` with ``text`` (append it under ``heading`` when
    unmarked)."""
    old = path.read_text() if path.exists() else ""
    begin, end = old.find(MARKER_BEGIN), old.find(MARKER_END)
    if begin >= 0 and end > begin:
        new = old[:begin] + text + old[end + len(MARKER_END) :]
    else:
        new = old.rstrip("\n") + f"\n\n## {heading}\n\n" + text + "\n"
    path.write_text(new)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synod.cli.cluster_bench", description=__doc__)
    parser.add_argument("--write", type=Path, default=None, help="Markdown file to update")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every --total")
    parser.add_argument("--procs", type=int, default=1, help="client processes per workload")
    parser.add_argument(
        "--engines",
        type=parse_engines,
        default=("raft",),
        help=f"Synod engines to measure, comma-separated ({', '.join(sorted(ENGINES))})",
    )
    args = parser.parse_args(argv)
    cases = workloads(args.scale)
    results: dict[str, list[Measured]] = {}
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="synod-cluster-bench-") as folder:
        for system in (ETCD, *args.engines):
            results[system] = run_system(system, Path(folder), cases, args.procs)
    command = (
        f"python -m synod.cli.cluster_bench --engines {','.join(args.engines)}"
        f" --scale {args.scale:g} --procs {args.procs}"
    )
    text = section(cases, results, Run(command, args.procs, load_start, os.getloadavg()[0]))
    print(text)
    if args.write is not None:
        heading = "Synod against etcd" if len(args.engines) == 1 else "Synod's engines against etcd"
        rewrite(args.write, text, heading)
        print(f"updated {args.write}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
