"""``synod``: one entry point, a subcommand per tool.

Each subcommand lives beside the code it drives and exposes ``configure(parser)`` and
``run(args) -> exit code``; this module only wires them together.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from synod import __version__
from synod.check import cli as check_cli
from synod.cli import serve
from synod.sim import cli as sim_cli


def _subcommands() -> list[tuple[str, str, ModuleType]]:
    return [
        ("sim", "run the deterministic simulator from a seed (or sweep many seeds)", sim_cli),
        ("check", "check Jepsen-format histories for linearizability", check_cli),
        ("serve", "run one member of a cluster, configured with etcd's flags", serve),
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
