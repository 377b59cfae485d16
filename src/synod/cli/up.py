"""``synod up``: a local cluster of ``synod serve`` processes, in the foreground.

Member i (from 1) is called ``m<i>`` and listens on etcd's conventional local ports: 2379/2380,
22379/22380, 32379/32380, then 42379/42380, 52379/52380, 62379/62380 and 12379/12380 (the
pattern leaves the 16-bit range after 62379). Its data lives in ``<data-dir>/m<i>/`` and its log in
``<data-dir>/m<i>.log``. Starting again on the same folder resumes the cluster: each member
recovers from its own write-ahead log.

Rules:
- a port already in use ends the command with one line on stderr and exit code 1, before any
  member starts;
- the "how to use it" block is printed once every member serves a linearizable read;
- Ctrl-C (SIGINT) or SIGTERM stops every member (SIGTERM, a bounded wait, then SIGKILL) and
  exits 0; a member that exits on its own is reported with its log and the rest keep running;
- nothing is left running when the command returns, whatever the path out.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from synod.cli.localcluster import (
    STOP_SECONDS_MAX,
    ClusterError,
    LocalCluster,
    conventional_ports,
)
from synod.cli.serve import ENGINES

SIZES = (1, 3, 5, 7)
TOKEN = "synod-up"
WATCH_SECONDS = 0.5


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=int, default=3, choices=SIZES, help="cluster size")
    parser.add_argument(
        "--data-dir", type=Path, default=Path("synod-data"), help="one subfolder per member"
    )
    parser.add_argument("--engine", default="raft", choices=ENGINES, help="consensus engine")
    # Tests run clusters on free ports: member i uses base+2i (client) and base+2i+1 (peer).
    parser.add_argument("--base-port", type=int, default=None, help=argparse.SUPPRESS)


def ports(nodes: int, base_port: int | None) -> list[tuple[int, int]]:
    if base_port is None:
        return [conventional_ports(index) for index in range(nodes)]
    return [(base_port + 2 * index, base_port + 2 * index + 1) for index in range(nodes)]


def synod_program() -> str:
    """How the user can run ``synod`` again: the script they started, relative when nearby."""
    script = Path(sys.argv[0])
    if script.name != "synod":
        return "synod"
    with contextlib.suppress(ValueError):
        return str(script.resolve().relative_to(Path.cwd()))
    return "synod" if shutil.which("synod") == str(script) else str(script)


def usage_block(cluster: LocalCluster) -> str:
    endpoints = cluster.all_endpoints
    first = cluster.members[0].endpoint
    synod = synod_program()
    lines = [
        f"synod up: {cluster.size} members serving etcd's v3 API",
        "",
        *(
            f"  {member.name}  client {member.endpoint}  peer {member.peer_url}"
            f"  log {member.log_path}"
            for member in cluster.members
        ),
        "",
        "Try it:",
        f"  etcdctl --endpoints={endpoints} put foo bar",
        f"  etcdctl --endpoints={endpoints} get foo",
        f"  {synod} ctl --endpoints={first} put greeting hello",
        f"  {synod} ctl --endpoints={first} get greeting",
        f"  {synod} ctl --endpoints={first} watch greeting      (Ctrl-C ends it)",
        f"  {synod} ctl --endpoints={endpoints} endpoint status",
        f"  {synod} ctl --endpoints={first} member list",
        "",
        f"Data in {cluster.base_dir}/ (run synod up again on it to resume).",
        "Ctrl-C stops every member.",
    ]
    return "\n".join(lines)


class _Stop(Exception):
    """Raised from the signal handler: SIGINT or SIGTERM arrived."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    del frame
    raise _Stop(signal.Signals(signum).name)


def _install(handler: Callable[[int, FrameType | None], None] | signal.Handlers) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handler)


def _watch(cluster: LocalCluster) -> None:
    """Stay in the foreground; report each member that exits on its own, once."""
    reported: set[str] = set()
    while True:
        for member in cluster.members:
            if member.name not in reported and not member.running:
                reported.add(member.name)
                code = member.process.returncode if member.process is not None else None
                print(
                    f"synod up: {member.name} exited (code {code}); see {member.log_path}",
                    file=sys.stderr,
                    flush=True,
                )
        if len(reported) == cluster.size:
            raise ClusterError("every member has exited")
        time.sleep(WATCH_SECONDS)


def run(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir.resolve()
    cluster = LocalCluster(
        "synod",
        args.nodes,
        data_dir,
        engine=args.engine,
        ports=ports(args.nodes, args.base_port),
        token=TOKEN,
        names=[f"m{number}" for number in range(1, args.nodes + 1)],
    )
    busy = cluster.busy_ports()
    if busy:
        member, port = busy[0]
        print(
            f"synod up: port {port} (for {member.name}) is already in use on 127.0.0.1;"
            " stop what holds it (another synod up or etcd?) and try again",
            file=sys.stderr,
        )
        return 1
    _install(_on_signal)
    try:
        print(f"synod up: starting {cluster.size} members in {data_dir}", flush=True)
        cluster.start()
        print(usage_block(cluster), flush=True)
        _watch(cluster)
    except _Stop as stop:
        print(f"synod up: {stop}: stopping every member", file=sys.stderr, flush=True)
        return _stop(cluster, 0)
    except ClusterError as error:
        print(f"synod up: {error}", file=sys.stderr, flush=True)
        return _stop(cluster, 1)
    finally:
        _install(signal.SIG_IGN)
        cluster.close()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    return 0


def _stop(cluster: LocalCluster, code: int) -> int:
    """Stop every member (a further Ctrl-C is ignored meanwhile, the wait being bounded)."""
    _install(signal.SIG_IGN)
    codes = cluster.stop_all(STOP_SECONDS_MAX)
    killed = [name for name, member_code in codes.items() if member_code is None]
    if killed:
        print(
            f"synod up: killed {', '.join(killed)} after {STOP_SECONDS_MAX:.0f} s",
            file=sys.stderr,
        )
    else:
        print("synod up: stopped", file=sys.stderr, flush=True)
    return code
