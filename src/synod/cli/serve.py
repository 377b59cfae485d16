"""``synod serve``: run one member, configured with etcd's own flags.

A script that starts an etcd member starts a Synod member by changing the program name: the
flags, their defaults and their ``--flag value`` / ``--flag=value`` / ``-flag value`` forms are
etcd's. A configuration that cannot work ends with one line on stderr and exit code 2; SIGTERM
or SIGINT stops the member cleanly (exit code 0), and so does learning that it was removed
from the cluster (etcd's member stops then too).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Sequence

from synod.api.server import ApiServer
from synod.consensus.catalog import ENGINES as CATALOG
from synod.core.errors import ConfigError, SynodError
from synod.server.config import (
    MAX_REQUEST_BYTES_DEFAULT,
    QUOTA_BACKEND_BYTES_DEFAULT,
    NodeConfig,
)
from synod.server.node import Node
from synod.storage.records import WalCorruption

ENGINES = tuple(sorted(CATALOG))
GC_YOUNG_THRESHOLD = 20_000
"""Allocations between young-generation collections (Python's default is 700)."""


def _flag(parser: argparse.ArgumentParser, name: str, **kwargs: object) -> None:
    """An etcd flag, accepted with one dash or two."""
    parser.add_argument(f"--{name}", f"-{name}", **kwargs)  # type: ignore[arg-type]


def configure(parser: argparse.ArgumentParser) -> None:
    _flag(parser, "name", default="default", help="human-readable name of this member")
    _flag(parser, "data-dir", default=None, help="path to the data directory (NAME.etcd)")
    _flag(parser, "listen-client-urls", default="http://localhost:2379")
    _flag(parser, "advertise-client-urls", default="http://localhost:2379")
    _flag(parser, "listen-peer-urls", default="http://localhost:2380")
    _flag(parser, "initial-advertise-peer-urls", default="http://localhost:2380")
    _flag(parser, "initial-cluster", default=None, help="NAME=URL,... (default NAME=peer URL)")
    _flag(parser, "initial-cluster-state", default="new", choices=("new", "existing"))
    _flag(parser, "initial-cluster-token", default="etcd-cluster")
    _flag(parser, "heartbeat-interval", type=int, default=100, help="milliseconds")
    _flag(parser, "election-timeout", type=int, default=1000, help="milliseconds")
    _flag(parser, "snapshot-count", type=int, default=100_000)
    _flag(parser, "max-request-bytes", type=int, default=MAX_REQUEST_BYTES_DEFAULT)
    _flag(parser, "quota-backend-bytes", type=int, default=0, help="0: 2 GiB")
    _flag(parser, "engine", default="raft", choices=ENGINES, help="consensus engine")
    _flag(parser, "log-level", default="info", choices=("debug", "info", "warn", "error"))


def _urls(text: str) -> tuple[str, ...]:
    return tuple(url.strip() for url in text.split(",") if url.strip())


def _initial_cluster(text: str) -> dict[str, tuple[str, ...]]:
    cluster: dict[str, list[str]] = {}
    for item in _urls(text):
        name, separator, url = item.partition("=")
        if not separator or not name or not url:
            raise ConfigError(f"--initial-cluster: {item!r} is not NAME=URL")
        cluster.setdefault(name, []).append(url)
    return {name: tuple(urls) for name, urls in cluster.items()}


def config_from(args: argparse.Namespace) -> NodeConfig:
    initial = args.initial_cluster or f"{args.name}={args.initial_advertise_peer_urls}"
    return NodeConfig(
        name=args.name,
        data_dir=args.data_dir or f"{args.name}.etcd",
        initial_cluster=_initial_cluster(initial),
        advertise_peer_urls=_urls(args.initial_advertise_peer_urls),
        listen_peer_urls=_urls(args.listen_peer_urls),
        advertise_client_urls=_urls(args.advertise_client_urls),
        cluster_token=args.initial_cluster_token,
        new_cluster=args.initial_cluster_state == "new",
        heartbeat_ms=args.heartbeat_interval,
        election_ms=args.election_timeout,
        snapshot_entries=args.snapshot_count,
        max_request_bytes=args.max_request_bytes,
        quota_backend_bytes=args.quota_backend_bytes or QUOTA_BACKEND_BYTES_DEFAULT,
        engine=args.engine,
    )


async def serve(config: NodeConfig, listen_client_urls: tuple[str, ...]) -> None:
    """Run one member until SIGTERM or SIGINT, then stop it cleanly."""
    node = Node(config)
    await node.start()
    # Everything loaded so far (the keyspace index above all) lives as long as the process:
    # keep it out of the collector's sweeps, and collect young objects less often, since a
    # request allocates many short-lived ones and few cycles.
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)
    api = ApiServer(node, listen_client_urls)
    try:
        await api.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        print(
            f"synod: member {config.name} ({node.member_id:x}) serving clients on "
            f"{','.join(listen_client_urls)}, peers on {','.join(config.listen_peer_urls)}",
            file=sys.stderr,
            flush=True,
        )
        signalled = asyncio.create_task(stop.wait())
        removed = asyncio.create_task(node.removed.wait())
        await asyncio.wait((signalled, removed), return_when=asyncio.FIRST_COMPLETED)
        signalled.cancel()
        removed.cancel()
        reason = "removed from the cluster" if node.removed.is_set() else "signal received"
        logging.getLogger("synod").info("stopping: %s", reason)
    finally:
        await api.stop()
        await node.stop()


def _event_loop_policy() -> None:
    try:
        import uvloop  # noqa: PLC0415 - optional
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper().replace("WARN", "WARNING")),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = config_from(args)
        listen = _urls(args.listen_client_urls)
        if not listen:
            raise ConfigError("--listen-client-urls: give at least one URL")
    except ConfigError as error:
        print(f"synod serve: {error}", file=sys.stderr)
        return 2
    _event_loop_policy()
    try:
        asyncio.run(serve(config, listen))
    except WalCorruption as error:
        print(f"synod serve: the log cannot be repaired: {error}", file=sys.stderr)
        return 1
    except (SynodError, OSError) as error:
        print(f"synod serve: {error}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="synod serve")
    configure(parser)
    return run(parser.parse_args(argv))
