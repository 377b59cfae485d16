"""A real etcd 3.4 on 127.0.0.1 (a temporary data dir, free ports), to check the protos against.

``running_etcd`` yields the client address and always ends the process, even when start-up
fails. Tests that need it skip, saying why, when no ``etcd`` binary is on PATH (``make setup``
installs Debian's etcd-server).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc

from synod.api.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc

START_SECONDS_MAX = 20.0
STOP_SECONDS_MAX = 10.0
POLL_SECONDS = 0.1


def etcd_binary() -> str | None:
    return shutil.which("etcd")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def running_etcd(data_dir: Path) -> Iterator[str]:
    """Start a one-member etcd; yield its client address ("127.0.0.1:PORT") once it answers."""
    binary = etcd_binary()
    assert binary is not None, "callers skip when etcd is absent"
    client_url = f"http://127.0.0.1:{free_port()}"
    peer_url = f"http://127.0.0.1:{free_port()}"
    command = [
        binary,
        "--name=probe",
        f"--data-dir={data_dir / 'etcd'}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=probe={peer_url}",
        "--logger=zap",
        "--log-outputs=stderr",
        "--log-level=error",
    ]
    log_path = data_dir / "etcd.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            address = client_url.removeprefix("http://")
            _wait_until_serving(address, process, log_path)
            yield address
        finally:
            process.terminate()
            try:
                process.wait(timeout=STOP_SECONDS_MAX)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_SECONDS_MAX)


def _wait_until_serving(address: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_SECONDS_MAX
    with grpc.insecure_channel(address) as channel:
        stub = rpc_pb2_grpc.MaintenanceStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"etcd exited with {process.returncode}: {log_path.read_text()}")
            with contextlib.suppress(grpc.RpcError):
                status = stub.Status(rpc_pb2.StatusRequest(), timeout=1.0)
                if status.leader != 0:
                    return
            time.sleep(POLL_SECONDS)
    raise RuntimeError(f"etcd did not serve within {START_SECONDS_MAX} s: {log_path.read_text()}")
