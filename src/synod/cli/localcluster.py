"""Local clusters of real processes on 127.0.0.1: Synod members (``synod serve``) or etcd members.

Both programs take the same flags, which is the point: a ``LocalCluster("etcd", ...)`` and a
``LocalCluster("synod", ...)`` differ only in the program they start. ``synod up``, the
real-cluster benchmark and the integration tests all start their members here.

Rules:
- every wait is bounded (``START_SECONDS_MAX``, ``STOP_SECONDS_MAX``);
- stopping is SIGTERM, a bounded wait, then SIGKILL; ``close`` (also reached through the
  context manager on any error) leaves no member process behind;
- a member's stdout and stderr go to its log file, appended across restarts.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from synod.api.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc

START_SECONDS_MAX = 30.0
STOP_SECONDS_MAX = 15.0
POLL_SECONDS = 0.1
PROBE_SECONDS = 1.0
LOG_TAIL_CHARS = 4000

PROGRAMS = ("synod", "etcd")


def free_port() -> int:
    """A port the kernel just handed out on 127.0.0.1 (free now, not reserved)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def port_in_use(port: int) -> bool:
    """Whether binding ``port`` on 127.0.0.1 fails (someone listens there, or holds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


CONVENTIONAL_CLIENT_PORTS = (2379, 22379, 32379, 42379, 52379, 62379, 12379)
"""etcd's local-cluster client ports, the peer port being one more; the pattern runs out of
16-bit ports after 62379, so a seventh member takes the unused 12379."""


def conventional_ports(index: int) -> tuple[int, int]:
    """etcd's local-cluster ports for member ``index`` (0-based): 2379/2380, 22379/22380, ..."""
    if not 0 <= index < len(CONVENTIONAL_CLIENT_PORTS):
        raise ValueError(f"no conventional ports for member {index + 1}")
    client_port = CONVENTIONAL_CLIENT_PORTS[index]
    return client_port, client_port + 1


def synod_command() -> list[str]:
    return [sys.executable, "-m", "synod.cli.main", "serve"]


def etcd_command() -> list[str] | None:
    binary = shutil.which("etcd")
    return None if binary is None else [binary, "--logger=zap", "--log-outputs=stderr"]


class ClusterError(Exception):
    """A member could not start, did not serve in time, or exited on its own."""


@dataclass
class Member:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    host: str = "127.0.0.1"
    """The address the member listens on (the chaos runner's network namespaces give each
    member its own)."""

    @property
    def client_url(self) -> str:
        return f"http://{self.host}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{self.host}:{self.peer_port}"

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.client_port}"

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
    ports: Sequence[tuple[int, int]] | None = None
    """(client, peer) per member; free ports when not given."""
    token: str = ""
    """--initial-cluster-token; a fresh one per cluster when empty."""
    names: Sequence[str] | None = None
    """Member names; ``<program>-m<i>`` when not given."""
    engine: str = "raft"
    """``synod serve --engine`` (Synod members only; etcd runs Raft)."""
    members: list[Member] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.program not in PROGRAMS:
            raise ValueError(f"program must be one of {PROGRAMS}, not {self.program!r}")
        if self.program != "synod" and self.engine != "raft":
            raise ValueError(f"{self.program} runs raft only, not {self.engine!r}")
        if not self.token:
            self.token = f"{self.program}-local-{free_port()}"
        names = self.names or [f"{self.program}-m{number}" for number in range(1, self.size + 1)]
        ports = self.ports or [(free_port(), free_port()) for _ in range(self.size)]
        if len(names) != self.size or len(ports) != self.size:
            raise ValueError(f"{self.size} members need {self.size} names and port pairs")
        for name, (client_port, peer_port) in zip(names, ports, strict=True):
            self.members.append(
                Member(
                    name,
                    client_port,
                    peer_port,
                    self.base_dir / name,
                    self.base_dir / f"{name}.log",
                )
            )

    @property
    def endpoints(self) -> str:
        return ",".join(member.endpoint for member in self.members if member.running)

    @property
    def all_endpoints(self) -> str:
        return ",".join(member.endpoint for member in self.members)

    def busy_ports(self) -> list[tuple[Member, int]]:
        """Ports this cluster needs that something else already holds."""
        return [
            (member, port)
            for member in self.members
            for port in (member.client_port, member.peer_port)
            if port_in_use(port)
        ]

    def command(self, member: Member, state: str = "new") -> list[str]:
        program = synod_command() if self.program == "synod" else etcd_command()
        if program is None:
            raise ClusterError("etcd is not installed (make setup installs etcd-server)")
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
            *([f"--engine={self.engine}"] if self.program == "synod" else []),
            *self.extra_flags,
        ]

    def start(self, keep_waiting: Callable[[], bool] = lambda: True) -> LocalCluster:
        """Start every member, then wait until each serves a linearizable read."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        for member in self.members:
            self.start_member(member)
        for member in self.members:
            self.wait_serving(member, keep_waiting=keep_waiting)
        return self

    def new_member(self, name: str) -> Member:
        """A member with fresh ports and data directory, listed from now on (not started: add
        it to the cluster first, then ``start_member(member, "existing")``)."""
        member = Member(
            name, free_port(), free_port(), self.base_dir / name, self.base_dir / f"{name}.log"
        )
        self.members.append(member)
        return member

    def start_member(self, member: Member, state: str = "new") -> None:
        assert not member.running, f"{member.name} is already running"
        with member.log_path.open("ab") as log:
            member.process = subprocess.Popen(
                self.command(member, state),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_serving(
        self,
        member: Member,
        seconds: float = START_SECONDS_MAX,
        keep_waiting: Callable[[], bool] = lambda: True,
    ) -> None:
        """Until a linearizable range through ``member`` succeeds (so a leader exists)."""
        deadline = time.monotonic() + seconds
        with grpc.insecure_channel(member.endpoint) as channel:
            stub = rpc_pb2_grpc.KVStub(channel)
            while time.monotonic() < deadline and keep_waiting():
                process = member.process
                if process is not None and process.poll() is not None:
                    raise ClusterError(f"{member.name} exited: {self.log(member)}")
                with contextlib.suppress(grpc.RpcError):
                    stub.Range(rpc_pb2.RangeRequest(key=b"probe"), timeout=PROBE_SECONDS)
                    return
                time.sleep(POLL_SECONDS)
        if keep_waiting():
            raise ClusterError(f"{member.name} did not serve in {seconds} s: {self.log(member)}")

    def log(self, member: Member) -> str:
        if not member.log_path.exists():
            return ""
        return member.log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:]

    def kill(self, member: Member) -> None:
        """kill -9: no chance to flush or close anything."""
        if member.process is not None and member.running:
            member.process.send_signal(signal.SIGKILL)
            member.process.wait(timeout=STOP_SECONDS_MAX)

    def stop(self, member: Member, seconds: float = STOP_SECONDS_MAX) -> int:
        """SIGTERM, then wait: the member's exit code (TimeoutExpired after a kill)."""
        process = member.process
        assert process is not None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_SECONDS_MAX)
                raise
        return process.returncode

    def stop_all(self, seconds: float = STOP_SECONDS_MAX) -> dict[str, int | None]:
        """SIGTERM to every member at once, one bounded wait, then SIGKILL to any left.

        The exit code per member name; None for a member that had to be killed.
        """
        started = [member for member in self.members if member.process is not None]
        for member in started:
            if member.running:
                assert member.process is not None
                member.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + seconds
        codes: dict[str, int | None] = {}
        for member in started:
            assert member.process is not None
            try:
                codes[member.name] = member.process.wait(
                    timeout=max(0.0, deadline - time.monotonic())
                )
            except subprocess.TimeoutExpired:
                self.kill(member)
                codes[member.name] = None
        return codes

    def close(self) -> None:
        self.stop_all()

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
