"""``synod serve`` as a user meets it: bad configurations, limits, and peers of another cluster
or running another engine."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import grpc
import pytest

from synod.api.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from tests.cluster import LocalCluster, free_port, running, synod_command

SERVE_SECONDS_MAX = 20


def serve(*flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*synod_command(), *flags],
        capture_output=True,
        text=True,
        timeout=SERVE_SECONDS_MAX,
        check=False,
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--initial-cluster=other=http://127.0.0.1:1"], "--initial-cluster has no member named"),
        (["--listen-peer-urls=localhost:2380"], "is not a URL like"),
        (["--heartbeat-interval=100", "--election-timeout=200"], "at least 5 times"),
        (["--initial-cluster-state=maybe"], "invalid choice"),
        (["--snapshot-count=0"], "--snapshot-count must be at least 1"),
        (["--engine=zab"], "invalid choice"),
    ],
)
def test_a_bad_configuration_is_one_line_and_exit_2(
    flags: list[str], message: str, tmp_path: Path
) -> None:
    done = serve(f"--data-dir={tmp_path / 'data'}", *flags)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert message in lines[-1]
    assert not (tmp_path / "data").exists(), "nothing is written for a refused configuration"


def test_sigterm_stops_a_member_cleanly_and_it_recovers(tmp_path: Path) -> None:
    with LocalCluster("synod", 1, tmp_path) as cluster:
        cluster.start()
        member = cluster.members[0]
        _put(member.endpoint)
        assert cluster.stop(member) == 0
        assert "stopped" in cluster.log(member)
        cluster.start_member(member)
        cluster.wait_serving(member)
        assert _get(member.endpoint) == b"yes"


def test_a_request_over_max_request_bytes_gets_etcds_error(tmp_path: Path) -> None:
    with running("synod", 1, tmp_path, "--max-request-bytes=4096") as cluster:
        endpoint = cluster.members[0].endpoint
        with grpc.insecure_channel(endpoint) as channel:
            stub = rpc_pb2_grpc.KVStub(channel)
            with pytest.raises(grpc.RpcError) as refused:
                stub.Put(rpc_pb2.PutRequest(key=b"big", value=b"x" * 8192), timeout=10)
            assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert refused.value.details() == "etcdserver: request is too large"
            stub.Put(rpc_pb2.PutRequest(key=b"small", value=b"x" * 1024), timeout=10)


def test_a_member_of_another_cluster_is_refused_on_both_sides(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    with running("synod", 1, tmp_path / "a") as cluster:
        ours = cluster.members[0]
        stranger_peer = free_port()
        # A member that believes it shares a cluster with ours, under another token.
        flags = [
            "--name=stranger",
            f"--data-dir={tmp_path / 'stranger'}",
            f"--listen-client-urls=http://127.0.0.1:{free_port()}",
            f"--advertise-client-urls=http://127.0.0.1:{free_port()}",
            f"--listen-peer-urls=http://127.0.0.1:{stranger_peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{stranger_peer}",
            f"--initial-cluster=stranger=http://127.0.0.1:{stranger_peer},"
            f"{ours.name}={ours.peer_url}",
            "--initial-cluster-token=another-cluster",
        ]
        log_path = tmp_path / "stranger.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen([*synod_command(), *flags], stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + SERVE_SECONDS_MAX
            while time.monotonic() < deadline:
                if "cluster token" in log_path.read_text() and "refused" in cluster.log(ours):
                    break
                time.sleep(0.2)
            assert "wrong cluster token" in log_path.read_text()  # told by ours, logged there
            assert "wrong cluster token" in cluster.log(ours)
            _put(ours.endpoint)  # ours keeps serving
            assert _get(ours.endpoint) == b"yes"
        finally:
            process.kill()
            process.wait(timeout=SERVE_SECONDS_MAX)


def test_a_member_running_another_engine_is_refused_on_both_sides(tmp_path: Path) -> None:
    """Same cluster token and member list, another consensus engine: the handshake refuses
    it, each side logs why, and the member already serving goes on serving."""
    with running("synod", 1, tmp_path / "a", engine="paxos") as cluster:
        ours = cluster.members[0]
        raft_peer = free_port()
        flags = [
            "--name=raft-member",
            f"--data-dir={tmp_path / 'raft-member'}",
            f"--listen-client-urls=http://127.0.0.1:{free_port()}",
            f"--advertise-client-urls=http://127.0.0.1:{free_port()}",
            f"--listen-peer-urls=http://127.0.0.1:{raft_peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{raft_peer}",
            f"--initial-cluster=raft-member=http://127.0.0.1:{raft_peer},"
            f"{ours.name}={ours.peer_url}",
            f"--initial-cluster-token={cluster.token}",
            "--engine=raft",
        ]
        log_path = tmp_path / "raft-member.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen([*synod_command(), *flags], stdout=log, stderr=log)
        try:
            mismatch = "the dialer runs raft, this node runs paxos"
            deadline = time.monotonic() + SERVE_SECONDS_MAX
            while time.monotonic() < deadline:
                if mismatch in log_path.read_text() and mismatch in cluster.log(ours):
                    break
                time.sleep(0.2)
            assert mismatch in cluster.log(ours)  # refused by ours (the acceptor)
            assert mismatch in log_path.read_text()  # and told to the dialer, which logs it
            _put(ours.endpoint)  # ours keeps serving
            assert _get(ours.endpoint) == b"yes"
        finally:
            process.kill()
            process.wait(timeout=SERVE_SECONDS_MAX)


def _put(endpoint: str) -> None:
    with grpc.insecure_channel(endpoint) as channel:
        rpc_pb2_grpc.KVStub(channel).Put(rpc_pb2.PutRequest(key=b"kept", value=b"yes"), timeout=10)


def _get(endpoint: str) -> bytes | None:
    with grpc.insecure_channel(endpoint) as channel:
        reply = rpc_pb2_grpc.KVStub(channel).Range(rpc_pb2.RangeRequest(key=b"kept"), timeout=10)
        return reply.kvs[0].value if reply.kvs else None
