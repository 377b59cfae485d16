"""Real local clusters for integration tests: Synod members (``synod serve``) or etcd members,
started as processes on 127.0.0.1 with free ports and temporary data directories.

Both programs take the same flags, which is the point: ``LocalCluster("etcd", ...)`` and
``LocalCluster("synod", ...)`` differ only in the program they start. Every wait is bounded;
``close`` (also on a failing test, through the context manager) kills what is still running.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from synod.api.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc

START_SECONDS_MAX = 30.0
STOP_SECONDS_MAX = 15.0
POLL_SECONDS = 0.1
ETCDCTL_SECONDS_MAX = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def synod_command() -> list[str]:
    return [sys.executable, "-m", "synod.cli.main", "serve"]


def etcd_command() -> list[str] | None:
    binary = shutil.which("etcd")
    return None if binary is None else [binary, "--logger=zap", "--log-outputs=stderr"]


def etcdctl_binary() -> str | None:
    return shutil.which("etcdctl")


@dataclass
class Member:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class LocalCluster:
    program: str
    """"synod" or "etcd"."""
    size: int
    base_dir: Path
    extra_flags: Sequence[str] = ()
    members: list[Member] = field(default_factory=list)

    def __post_init__(self) -> None:
        token = f"{self.program}-test-{os.getpid()}-{free_port()}"
        self.token = token
        for number in range(1, self.size + 1):
            name = f"m{number}"
            self.members.append(
                Member(
                    name,
                    free_port(),
                    free_port(),
                    self.base_dir / f"{self.program}-{name}",
                    self.base_dir / f"{self.program}-{name}.log",
                )
            )

    @property
    def endpoints(self) -> str:
        return ",".join(member.endpoint for member in self.members if member.running)

    def command(self, member: Member, state: str = "new") -> list[str]:
        program = synod_command() if self.program == "synod" else etcd_command()
        assert program is not None, "callers skip when etcd is absent"
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        return [
            *program,
            f"--name={member.name}",
            f"--data-dir={member.data_dir}",
            f"--listen-client-urls={member.client_url}",
            f"--advertise-client-urls={member.client_url}",
            f"--listen-peer-urls={member.peer_url}",
            f"--initial-advertise-peer-urls={member.peer_url}",
            f"--initial-cluster={initial}",
            f"--initial-cluster-token={self.token}",
            f"--initial-cluster-state={state}",
            *self.extra_flags,
        ]

    def start(self) -> LocalCluster:
        for member in self.members:
            self.start_member(member)
        for member in self.members:
            self.wait_serving(member)
        return self

    def start_member(self, member: Member, state: str = "new") -> None:
        assert not member.running, f"{member.name} is already running"
        with member.log_path.open("ab") as log:
            member.process = subprocess.Popen(
                self.command(member, state), stdout=log, stderr=subprocess.STDOUT
            )

    def new_member(self, name: str) -> Member:
        """A member with fresh ports and data directory, listed from now on (not started:
        add it to the cluster first, then ``start_member(member, "existing")``)."""
        member = Member(
            name,
            free_port(),
            free_port(),
            self.base_dir / f"{self.program}-{name}",
            self.base_dir / f"{self.program}-{name}.log",
        )
        self.members.append(member)
        return member

    def wait_serving(self, member: Member, seconds: float = START_SECONDS_MAX) -> None:
        """Until a linearizable range through ``member`` succeeds (so a leader exists)."""
        deadline = time.monotonic() + seconds
        with grpc.insecure_channel(member.endpoint) as channel:
            stub = rpc_pb2_grpc.KVStub(channel)
            while time.monotonic() < deadline:
                process = member.process
                if process is not None and process.poll() is not None:
                    raise RuntimeError(f"{member.name} exited: {self.log(member)}")
                with contextlib.suppress(grpc.RpcError):
                    stub.Range(rpc_pb2.RangeRequest(key=b"probe"), timeout=1.0)
                    return
                time.sleep(POLL_SECONDS)
        raise RuntimeError(f"{member.name} did not serve in {seconds} s: {self.log(member)}")

    def log(self, member: Member) -> str:
        return member.log_path.read_text(errors="replace")[-4000:]

    def kill(self, member: Member) -> None:
        """kill -9: no chance to flush or close anything."""
        if member.process is not None and member.running:
            member.process.send_signal(signal.SIGKILL)
            member.process.wait(timeout=STOP_SECONDS_MAX)

    def stop(self, member: Member) -> int:
        """SIGTERM, then wait: the member's exit code."""
        process = member.process
        assert process is not None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_SECONDS_MAX)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_SECONDS_MAX)
                raise
        return process.returncode

    def close(self) -> None:
        for member in self.members:
            if member.running:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.stop(member)
            self.kill(member)

    def etcdctl(
        self,
        *args: str,
        endpoints: str | None = None,
        check: bool = True,
        stdin: str | None = None,
    ) -> str:
        """Run Debian's etcdctl (API v3) against the cluster; its stdout."""
        binary = etcdctl_binary()
        assert binary is not None, "callers skip when etcdctl is absent"
        command = [binary, f"--endpoints={endpoints or self.endpoints}", *args]
        done = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=ETCDCTL_SECONDS_MAX,
            env={**os.environ, "ETCDCTL_API": "3"},
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed: {done.stderr}{done.stdout}")
        return done.stdout

    def etcdctl_result(self, *args: str, endpoints: str | None = None) -> str:
        """Run etcdctl whatever its exit code: its stdout and stderr together."""
        binary = etcdctl_binary()
        assert binary is not None, "callers skip when etcdctl is absent"
        command = [binary, f"--endpoints={endpoints or self.endpoints}", *args]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=ETCDCTL_SECONDS_MAX,
            env={**os.environ, "ETCDCTL_API": "3"},
            check=False,
        )
        return done.stdout + done.stderr

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def running(program: str, size: int, base_dir: Path, *flags: str) -> Iterator[LocalCluster]:
    with LocalCluster(program, size, base_dir, flags) as cluster:
        cluster.start()
        yield cluster
