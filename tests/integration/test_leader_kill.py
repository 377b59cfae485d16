"""A 3-member Synod cluster loses its leader to kill -9 in the middle of concurrent writes, and
later restarts as a whole; no acknowledged write may be lost.

Writers put unique keys and retry a write (on any member) until it is acknowledged or the
bounded run ends. The test checks that a new leader is elected within a few election timeouts,
that clients carry on after the kill, and that every acknowledged write is then on every member
through linearizable and serializable reads. Measured failover times are printed (``-s``).
The module runs on each engine: the killed member recovers from its data directory.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from synod.api.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from tests.cluster import LocalCluster, Member, running

WRITERS = 4
WRITE_SECONDS_MAX = 20.0
CALL_SECONDS_MAX = 2.0
KILL_AFTER_ACKS = 40
RESTART_AFTER_SECONDS = 3.0
FAILOVER_SECONDS_MAX = 5.0
"""A generous bound: the default election timeout is 1 s (randomized up to 2 s)."""
CATCH_UP_SECONDS_MAX = 15.0
POLL_SECONDS = 0.02


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, engine: str) -> Iterator[LocalCluster]:
    with running("synod", 3, Path(tmp_path_factory.mktemp("kill")), engine=engine) as started:
        yield started


def status(member: Member) -> rpc_pb2.StatusResponse | None:
    if not member.running:
        return None
    with grpc.insecure_channel(member.endpoint) as channel:
        stub = rpc_pb2_grpc.MaintenanceStub(channel)
        try:
            response: rpc_pb2.StatusResponse = stub.Status(
                rpc_pb2.StatusRequest(), timeout=CALL_SECONDS_MAX
            )
        except grpc.RpcError:
            return None
        return response


def leader_of(cluster: LocalCluster, unlike: int = 0) -> tuple[Member, int] | None:
    """The member a running member names as leader (other than ``unlike``), with its id."""
    ids: dict[int, Member] = {}
    named: set[int] = set()
    for member in cluster.members:
        answer = status(member)
        if answer is not None:
            ids[answer.header.member_id] = member
            if answer.leader not in (0, unlike):
                named.add(answer.leader)
    for leader_id in named:
        if leader_id in ids:
            return ids[leader_id], leader_id
    return None


def wait_for_leader(cluster: LocalCluster, unlike: int, seconds: float) -> tuple[Member, int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = leader_of(cluster, unlike)
        if found is not None:
            return found
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"no leader other than {unlike:x} within {seconds} s")


@dataclass
class Writers:
    """Threads that put unique keys ``prefix/<writer>/<n>``, each retried until acknowledged;
    ``acked`` maps every acknowledged key to its value and the monotonic times at which its
    successful attempt started and was acknowledged."""

    cluster: LocalCluster
    prefix: str
    acked: dict[bytes, tuple[bytes, float, float]] = field(default_factory=dict)
    errors: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for number in range(WRITERS):
            thread = threading.Thread(target=self.write, args=(number,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def write(self, number: int) -> None:
        endpoints = [member.endpoint for member in self.cluster.members]
        channels = [grpc.insecure_channel(endpoint) for endpoint in endpoints]
        stubs = [rpc_pb2_grpc.KVStub(channel) for channel in channels]
        deadline = time.monotonic() + WRITE_SECONDS_MAX
        target, sequence = number, 0
        try:
            while not self.stop.is_set() and time.monotonic() < deadline:
                key = f"{self.prefix}/{number}/{sequence:05d}".encode()
                value = f"value-{number}-{sequence}".encode()
                started = time.monotonic()
                try:
                    stubs[target % len(stubs)].Put(
                        rpc_pb2.PutRequest(key=key, value=value), timeout=CALL_SECONDS_MAX
                    )
                except grpc.RpcError:
                    with self.lock:
                        self.errors += 1
                    target += 1  # the same key again, through the next member
                    time.sleep(POLL_SECONDS)
                    continue
                with self.lock:
                    self.acked[key] = (value, started, time.monotonic())
                sequence += 1
        finally:
            for channel in channels:
                channel.close()

    def wait_acks(self, count: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while len(self.acked) < count and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        assert len(self.acked) >= count, f"only {len(self.acked)} writes acknowledged"

    def finish(self) -> dict[bytes, tuple[bytes, float, float]]:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=WRITE_SECONDS_MAX + CALL_SECONDS_MAX)
            assert not thread.is_alive()
        return dict(self.acked)


def read_prefix(member: Member, prefix: str, serializable: bool) -> dict[bytes, bytes]:
    with grpc.insecure_channel(member.endpoint) as channel:
        response = rpc_pb2_grpc.KVStub(channel).Range(
            rpc_pb2.RangeRequest(
                key=f"{prefix}/".encode(),
                range_end=f"{prefix}0".encode(),
                serializable=serializable,
            ),
            timeout=CALL_SECONDS_MAX * 2,
        )
    return {kv.key: kv.value for kv in response.kvs}


def assert_everywhere(cluster: LocalCluster, prefix: str, acked: dict[bytes, bytes]) -> None:
    """Every acknowledged write, with its value, through every member: linearizable at once,
    serializable once the member has caught up (bounded)."""
    for member in cluster.members:
        found = read_prefix(member, prefix, serializable=False)
        missing = [key for key, value in acked.items() if found.get(key) != value]
        assert not missing, f"{member.name} (linearizable) lacks {len(missing)}: {missing[:5]}"
        deadline = time.monotonic() + CATCH_UP_SECONDS_MAX
        while True:
            found = read_prefix(member, prefix, serializable=True)
            missing = [key for key, value in acked.items() if found.get(key) != value]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(POLL_SECONDS * 5)
        assert not missing, f"{member.name} (serializable) lacks {len(missing)}: {missing[:5]}"


def test_kill_9_of_the_leader_during_writes(cluster: LocalCluster) -> None:
    old_leader, old_id = wait_for_leader(cluster, 0, FAILOVER_SECONDS_MAX * 2)
    writers = Writers(cluster, "kill")
    writers.start()
    writers.wait_acks(KILL_AFTER_ACKS, WRITE_SECONDS_MAX / 2)

    killed_at = time.monotonic()
    cluster.kill(old_leader)
    new_leader, new_id = wait_for_leader(cluster, old_id, FAILOVER_SECONDS_MAX * 2)
    failover_seconds = time.monotonic() - killed_at
    time.sleep(max(0.0, RESTART_AFTER_SECONDS - failover_seconds))
    cluster.start_member(old_leader)
    cluster.wait_serving(old_leader)
    acked_before_finish = len(writers.acked)
    writers.wait_acks(acked_before_finish + KILL_AFTER_ACKS, WRITE_SECONDS_MAX / 2)
    acked = writers.finish()

    after_kill = sorted(done for _, started, done in acked.values() if started > killed_at)
    first_ack_seconds = after_kill[0] - killed_at if after_kill else float("inf")
    print(
        f"\nleader {old_id:x} killed; new leader {new_id:x} ({new_leader.name}) seen after "
        f"{failover_seconds:.3f} s; first write begun after the kill acknowledged after "
        f"{first_ack_seconds:.3f} s; {len(acked)} writes acknowledged "
        f"({len(after_kill)} begun after the kill), "
        f"{writers.errors} failed attempts retried"
    )
    assert new_id != old_id
    assert failover_seconds < FAILOVER_SECONDS_MAX
    assert len(after_kill) >= KILL_AFTER_ACKS
    assert_everywhere(cluster, "kill", {key: value for key, (value, _, _) in acked.items()})


def test_restart_of_the_whole_cluster_keeps_every_acknowledged_write(
    cluster: LocalCluster,
) -> None:
    writers = Writers(cluster, "restart")
    writers.start()
    writers.wait_acks(KILL_AFTER_ACKS * 2, WRITE_SECONDS_MAX / 2)
    acked = {key: value for key, (value, _, _) in writers.finish().items()}
    before = {**read_prefix(cluster.members[0], "kill", serializable=False)}

    for member in cluster.members:
        assert cluster.stop(member) == 0, cluster.log(member)
    started_at = time.monotonic()
    for member in cluster.members:
        cluster.start_member(member)
    for member in cluster.members:
        cluster.wait_serving(member)
    _, leader_id = wait_for_leader(cluster, 0, FAILOVER_SECONDS_MAX * 2)
    back_seconds = time.monotonic() - started_at
    print(f"\nwhole cluster back with leader {leader_id:x} after {back_seconds:.3f} s")

    assert_everywhere(cluster, "restart", acked)
    assert_everywhere(cluster, "kill", before)
    with contextlib.closing(grpc.insecure_channel(cluster.members[1].endpoint)) as channel:
        rpc_pb2_grpc.KVStub(channel).Put(
            rpc_pb2.PutRequest(key=b"restart/after", value=b"yes"), timeout=CALL_SECONDS_MAX * 5
        )
    assert_everywhere(cluster, "restart", {**acked, b"restart/after": b"yes"})
