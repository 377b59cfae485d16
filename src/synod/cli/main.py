"""``synod``: one entry point, a subcommand per tool.

Each subcommand lives beside the code it drives and exposes ``configure(parser)`` and
``run(args) -> exit code``; this module only wires them together.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import NoReturn

from synod import __version__
from synod.check import cli as check_cli
from synod.cli import chaos, ctl, etcd_bench, serve, up
from synod.sim import cli as sim_cli
from synod.sim import compare


def _subcommands() -> list[tuple[str, str, ModuleType]]:
    return [
        ("sim", "run the deterministic simulator from a seed (or sweep many seeds)", sim_cli),
        ("compare", "measure Raft and Multi-Paxos side by side in the simulator", compare),
        ("check", "check Jepsen-format histories for linearizability", check_cli),
        ("serve", "run one member of a cluster, configured with etcd's flags", serve),
        ("up", "run a local cluster of members in the foreground (Ctrl-C stops it)", up),
        ("ctl", "a small etcd v3 client: get, put, del, watch, lease, member, endpoint", ctl),
        (
            "bench",
            "drive any etcd v3 endpoint with put or range load, like etcd's benchmark",
            etcd_bench,
        ),
        (
            "chaos",
            "run a workload against a real cluster under faults and check its history",
            chaos,
        ),
    ]


class _Parser(argparse.ArgumentParser):
    """Bad arguments end with one line on stderr (and exit code 2), not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="synod",
        description="Synod: replicated key-value store with pluggable consensus and proof tools.",
    )
    parser.add_argument("--version", action="version", version=f"synod {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, summary, module in _subcommands():
        sub = commands.add_parser(name, help=summary, description=summary)
        module.configure(sub)
        run: Callable[[argparse.Namespace], int] = module.run
        sub.set_defaults(handler=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
