"""Real local clusters for integration tests: Synod members (``synod serve``) or etcd members,
started as processes on 127.0.0.1 with free ports and temporary data directories.

The process handling lives in ``synod.cli.localcluster`` (``synod up`` and the real-cluster
benchmark use it too); this module adds Debian's etcdctl and the test-facing names. Members are
called m1, m2, ... and keep their data under ``<base_dir>/<program>/`` (``synod-paxos`` for
Synod running Multi-Paxos), so an etcd and a Synod cluster can share one temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

from synod.cli import localcluster
from synod.cli.localcluster import (
    START_SECONDS_MAX,
    STOP_SECONDS_MAX,
    Member,
    etcd_command,
    free_port,
    synod_command,
)

__all__ = [
    "ENGINES",
    "START_SECONDS_MAX",
    "STOP_SECONDS_MAX",
    "LocalCluster",
    "Member",
    "etcd_command",
    "etcdctl_binary",
    "free_port",
    "running",
    "synod_command",
]

ETCDCTL_SECONDS_MAX = 30.0


def etcdctl_binary() -> str | None:
    return shutil.which("etcdctl")


ENGINES = ("raft", "paxos")
"""The engines ``synod serve --engine`` runs; integration tests parametrize over them."""


class LocalCluster(localcluster.LocalCluster):
    def __init__(
        self,
        program: str,
        size: int,
        base_dir: Path,
        extra_flags: Sequence[str] = (),
        engine: str = "raft",
    ) -> None:
        names = [f"m{number}" for number in range(1, size + 1)]
        folder = program if program == "etcd" or engine == "raft" else f"{program}-{engine}"
        super().__init__(program, size, base_dir / folder, extra_flags, names=names, engine=engine)

    def etcdctl(
        self,
        *args: str,
        endpoints: str | None = None,
        check: bool = True,
        stdin: str | None = None,
    ) -> str:
        """Run Debian's etcdctl (API v3) against the cluster; its stdout."""
        done = self._run_etcdctl(args, endpoints, stdin)
        if check and done.returncode != 0:
            command = " ".join(done.args)
            raise AssertionError(f"{command} failed: {done.stderr}{done.stdout}")
        return done.stdout

    def etcdctl_result(self, *args: str, endpoints: str | None = None) -> str:
        """Run etcdctl whatever its exit code: its stdout and stderr together."""
        done = self._run_etcdctl(args, endpoints, None)
        return done.stdout + done.stderr

    def _run_etcdctl(
        self, args: Sequence[str], endpoints: str | None, stdin: str | None
    ) -> subprocess.CompletedProcess[str]:
        binary = etcdctl_binary()
        assert binary is not None, "callers skip when etcdctl is absent"
        return subprocess.run(
            [binary, f"--endpoints={endpoints or self.endpoints}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=ETCDCTL_SECONDS_MAX,
            env={**os.environ, "ETCDCTL_API": "3"},
            check=False,
        )

    def __enter__(self) -> LocalCluster:
        return self


@contextlib.contextmanager
def running(
    program: str, size: int, base_dir: Path, *flags: str, engine: str = "raft"
) -> Iterator[LocalCluster]:
    with LocalCluster(program, size, base_dir, flags, engine) as cluster:
        cluster.start()
        yield cluster
