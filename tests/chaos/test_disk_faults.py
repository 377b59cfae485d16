"""A member whose write-ahead log was damaged while it was down (bits flipped in the middle of
its log) must either start and serve what its peers hold, or refuse to start with a clear
error; it must never crash with a traceback or serve corrupt data.

Regression: the log repair lowered the commit index below what the keyspace had already
applied, and start-up stopped on an assertion instead of saying what happened.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import grpc
import pytest

from synod.api.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from tests.cluster import running

KEYS = 300
EXIT_SECONDS_MAX = 20.0


def flip_middle_bit(data_dir: Path) -> None:
    segment = sorted(data_dir.rglob("wal-*.log"))[-1]
    data = bytearray(segment.read_bytes())
    written = len(data.rstrip(b"\0"))
    data[written // 2] ^= 0x10
    segment.write_bytes(bytes(data))


def test_member_with_a_damaged_log_refuses_clearly_or_serves_correct_data(
    tmp_path: Path,
) -> None:
    with running("synod", 3, tmp_path) as cluster:
        with grpc.insecure_channel(cluster.endpoints.split(",")[0]) as channel:
            stub = rpc_pb2_grpc.KVStub(channel)
            for index in range(KEYS):
                stub.Put(rpc_pb2.PutRequest(key=b"k%03d" % index, value=b"v%d" % index), timeout=5)
        victim = cluster.members[2]
        time.sleep(1.0)  # every member has applied everything
        cluster.kill(victim)
        flip_middle_bit(victim.data_dir)
        log_start = victim.log_path.stat().st_size
        cluster.start_member(victim)
        assert victim.process is not None
        try:
            code: int | None = victim.process.wait(timeout=EXIT_SECONDS_MAX)
        except subprocess.TimeoutExpired:
            code = None
        output = victim.log_path.read_text(errors="replace")[log_start:]
        assert "Traceback" not in output, output
        if code is not None:
            assert code == 1, output
            assert "add it back with an empty data directory" in output, output
            assert "wal-" in output, output  # names the damaged file and offset
            assert " at offset " in output, output
            return
        cluster.wait_serving(victim)
        with grpc.insecure_channel(victim.endpoint) as channel:
            stub = rpc_pb2_grpc.KVStub(channel)
            reply = stub.Range(
                rpc_pb2.RangeRequest(key=b"k", range_end=b"l", serializable=True), timeout=5
            )
        assert {kv.key: kv.value for kv in reply.kvs} == {
            b"k%03d" % index: b"v%d" % index for index in range(KEYS)
        }
        pytest.fail("expected the damaged member to refuse to start (documents which path ran)")
