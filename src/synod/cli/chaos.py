"""``synod chaos``: a Jepsen-style run against a real cluster: faults, workload, checked history.

Exit status: 0 when every check is valid, 1 when any found an anomaly (or is undecided), 2 on
bad arguments or a cluster that could not be started, 130 when interrupted (every process the
run started is stopped first).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shlex
import signal
import sys
import time
from pathlib import Path

from synod.chaos.cluster import ClusterError
from synod.chaos.fabric import NETS
from synod.chaos.nemesis import DEFAULT_KINDS, KINDS
from synod.chaos.report import html_report, text_report
from synod.chaos.runner import (
    TARGETS,
    WORKLOADS,
    ChaosConfig,
    parse_list,
    resolve_network,
    run_chaos,
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=int, default=5, help="members to start (default 5)")
    parser.add_argument("--time", type=float, default=60.0, help="seconds of faults and load")
    parser.add_argument(
        "--nemesis",
        default=None,
        help=f"comma-separated faults out of {','.join(KINDS)}, or none (default: "
        f"{','.join(DEFAULT_KINDS)}; none with --endpoints)",
    )
    parser.add_argument("--workload", default="register", choices=WORKLOADS)
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument(
        "--out", type=Path, default=None, help="directory for history, report, logs"
    )
    parser.add_argument(
        "--target", default="synod", choices=TARGETS, help="which program the members run"
    )
    parser.add_argument(
        "--endpoints",
        default="",
        help="HOST:PORT,... of an existing etcd v3 cluster to attach to (no faults then)",
    )
    parser.add_argument(
        "--net",
        default="auto",
        choices=NETS,
        help="the members' network: netns (root: a namespace per member, iptables cuts, netem "
        "delays), proxy (a loopback fault proxy per member), or auto (netns when it can run)",
    )
    parser.add_argument("--engine", default="raft", help="Synod's consensus engine (--engine)")
    parser.add_argument("--clients", type=int, default=2, help="client workers per member")
    parser.add_argument(
        "--check-budget", type=float, default=60.0, help="seconds the checker may take"
    )
    parser.add_argument(
        "--server-cmd",
        default="",
        help="testing hook: the command that starts a member instead of `synod serve` "
        "(member flags are appended), e.g. a variant with a planted bug",
    )


def config_from(args: argparse.Namespace) -> ChaosConfig:
    endpoints = tuple(e.strip() for e in args.endpoints.split(",") if e.strip())
    nemesis_text = (
        args.nemesis
        if args.nemesis is not None
        else ("none" if endpoints else ",".join(DEFAULT_KINDS))
    )
    seed = args.seed if args.seed is not None else random.randrange(1, 1_000_000)
    out = args.out or Path(f"chaos-{time.strftime('%Y%m%d-%H%M%S')}-{seed}")
    return ChaosConfig(
        out=out,
        nodes=args.nodes,
        time_s=args.time,
        nemesis=parse_list(nemesis_text, KINDS),
        workload=args.workload,
        seed=seed,
        target=args.target,
        endpoints=endpoints,
        engine=args.engine,
        server_command=tuple(shlex.split(args.server_cmd)),
        clients_per_node=args.clients,
        check_budget_s=args.check_budget,
        net=args.net,
    )


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from(args)
        config.validate()
    except ValueError as error:
        print(f"synod chaos: {error}", file=sys.stderr)
        return 2
    # SIGTERM stops the run like Ctrl-C: the members are stopped before the runner exits.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    print(f"synod chaos: seed {config.seed}, output in {config.out}", file=sys.stderr, flush=True)
    try:
        network = resolve_network(config)
        if network[0]:
            print(f"synod chaos: network {network[0]} ({network[1]})", file=sys.stderr, flush=True)
        result = asyncio.run(run_chaos(config, network))
    except ClusterError as error:
        print(f"synod chaos: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("synod chaos: interrupted; every member was stopped", file=sys.stderr)
        return 130
    report = text_report(result)
    (config.out / "report.txt").write_text(report, encoding="utf-8")
    (config.out / "report.html").write_text(html_report(result), encoding="utf-8")
    print(report, end="")
    print(f"report: {config.out / 'report.html'}")
    if result.interrupted:
        return 130
    return 0 if result.valid else 1
