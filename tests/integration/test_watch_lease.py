"""A real 3-member Synod cluster driven by Debian's etcdctl: watches, leases, locks, elections,
on each engine (the module's cluster runs Raft, then Multi-Paxos).

Long-running etcdctl commands (watch, lock, elect) run as processes whose output is read line
by line with bounded waits. Watches start from a known revision (``--rev``), so no event can
slip past before the watch exists.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from synod.api.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from tests.cluster import LocalCluster, Member, etcdctl_binary, running

pytestmark = pytest.mark.skipif(
    etcdctl_binary() is None, reason="etcdctl is not installed (make setup installs etcd-client)"
)

LINE_SECONDS_MAX = 10.0
EXPIRY_SECONDS_MAX = 20.0
PROCESS_SECONDS_MAX = 30.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, engine: str) -> Iterator[LocalCluster]:
    base = Path(tmp_path_factory.mktemp("watchlease"))
    with running("synod", 3, base, engine=engine) as started:
        yield started


class Background:
    """An etcdctl command left running; its stdout lines arrive on a queue."""

    def __init__(self, cluster: LocalCluster, *args: str, endpoints: str | None = None) -> None:
        binary = etcdctl_binary()
        assert binary is not None
        self.process = subprocess.Popen(
            [binary, f"--endpoints={endpoints or cluster.endpoints}", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "ETCDCTL_API": "3"},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        for line in stdout:
            self.lines.put(line.rstrip("\n"))

    def read(self, count: int, seconds: float = LINE_SECONDS_MAX) -> list[str]:
        """The next ``count`` lines; fails if they do not all come within ``seconds``."""
        deadline = time.monotonic() + seconds
        got: list[str] = []
        while len(got) < count:
            remaining = deadline - time.monotonic()
            try:
                got.append(self.lines.get(timeout=max(remaining, 0.01)))
            except queue.Empty:
                stderr = self.stop()[1]
                raise AssertionError(f"got {got} then nothing; stderr: {stderr}") from None
        return got

    def quiet_for(self, seconds: float) -> bool:
        """True if no line arrives within ``seconds``."""
        try:
            line = self.lines.get(timeout=seconds)
        except queue.Empty:
            return True
        self.lines.put(line)
        return False

    def interrupt(self) -> tuple[int, str]:
        """Ctrl-C (etcdctl releases what it holds), then its exit code and stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.stop()

    def stop(self) -> tuple[int, str]:
        """Wait for the command to end (killing it past the bound); its code and stderr."""
        process = self.process
        try:
            process.wait(timeout=PROCESS_SECONDS_MAX)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=PROCESS_SECONDS_MAX)
        self._reader.join(timeout=PROCESS_SECONDS_MAX)
        if process.stderr is not None and not process.stderr.closed:
            self.stderr = process.stderr.read()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        return process.returncode, self.stderr

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.stop()


@contextlib.contextmanager
def background(
    cluster: LocalCluster, *args: str, endpoints: str | None = None
) -> Iterator[Background]:
    started = Background(cluster, *args, endpoints=endpoints)
    try:
        yield started
    finally:
        started.kill()


def revision(cluster: LocalCluster) -> int:
    answer = json.loads(cluster.etcdctl("get", "any-key", "-w", "json"))
    value: int = answer["header"]["revision"]
    return value


def follower_endpoint(cluster: LocalCluster) -> str:
    statuses = json.loads(cluster.etcdctl("endpoint", "status", "-w", "json"))
    for status in statuses:
        if status["Status"]["header"]["member_id"] != status["Status"]["leader"]:
            endpoint: str = status["Endpoint"]
            return endpoint
    raise AssertionError(f"no follower among {statuses}")


def lease_id(granted: str) -> str:
    """The hex ID in etcdctl's "lease <ID> granted with TTL(<n>s)"."""
    words = granted.split()
    assert words[0] == "lease", granted
    assert words[2] == "granted", granted
    return words[1]


# -- watch -----------------------------------------------------------------------------------


def test_watch_one_key_from_a_follower_sees_its_puts_and_deletes(cluster: LocalCluster) -> None:
    start = revision(cluster) + 1
    with background(
        cluster, "watch", "wk", f"--rev={start}", endpoints=follower_endpoint(cluster)
    ) as watch:
        cluster.etcdctl("put", "wk", "1")
        cluster.etcdctl("put", "wk-other", "x")
        cluster.etcdctl("del", "wk")
        assert watch.read(6) == ["PUT", "wk", "1", "DELETE", "wk", ""]
        cluster.etcdctl("put", "wk", "live")
        assert watch.read(3) == ["PUT", "wk", "live"]


def test_watch_prefix_with_prev_kv(cluster: LocalCluster) -> None:
    start = revision(cluster) + 1
    with background(cluster, "watch", "pw/", "--prefix", "--prev-kv", f"--rev={start}") as watch:
        cluster.etcdctl("put", "pw/a", "1")
        cluster.etcdctl("put", "pwx", "outside")
        cluster.etcdctl("put", "pw/a", "2")
        cluster.etcdctl("del", "pw/a")
        assert watch.read(3) == ["PUT", "pw/a", "1"]
        assert watch.read(5) == ["PUT", "pw/a", "1", "pw/a", "2"]
        assert watch.read(5) == ["DELETE", "pw/a", "2", "pw/a", ""]


def test_watch_from_an_old_revision_replays_history_in_order(cluster: LocalCluster) -> None:
    first = revision(cluster) + 1
    for value in ("a", "b", "c"):
        cluster.etcdctl("put", "replay", value)
    cluster.etcdctl("del", "replay")
    with background(cluster, "watch", "replay", f"--rev={first + 1}") as watch:
        assert watch.read(9) == [
            *("PUT", "replay", "b"),
            *("PUT", "replay", "c"),
            *("DELETE", "replay", ""),
        ]


def test_watch_on_a_compacted_revision_is_cancelled_as_etcd_does(cluster: LocalCluster) -> None:
    first = revision(cluster) + 1
    for value in ("1", "2", "3"):
        cluster.etcdctl("put", "compacted", value)
    last = revision(cluster)
    assert cluster.etcdctl("compaction", str(last)).strip() == f"compacted revision {last}"
    with background(cluster, "watch", "compacted", f"--rev={first}") as watch:
        code, stderr = watch.stop()
    assert code == 5
    assert stderr.splitlines() == [
        "watch was canceled (etcdserver: mvcc: required revision has been compacted)",
        "Error: watch is canceled by the server",
    ]


def test_a_raw_watch_stream_answers_in_order_and_outlives_the_clients_half_close(
    cluster: LocalCluster,
) -> None:
    def create(watch_id: int = 0) -> rpc_pb2.WatchRequest:
        request = rpc_pb2.WatchCreateRequest(key=b"raw", watch_id=watch_id)
        return rpc_pb2.WatchRequest(create_request=request)

    progress = rpc_pb2.WatchRequest(progress_request=rpc_pb2.WatchProgressRequest())
    requests = [create(), create(7), create(7), progress]  # then the client half-closes
    with grpc.insecure_channel(cluster.members[0].endpoint) as channel:
        stream = rpc_pb2_grpc.WatchStub(channel).Watch(iter(requests), timeout=LINE_SECONDS_MAX)
        answers = [next(stream) for _ in range(4)]
        assert [(a.watch_id, a.created, a.canceled) for a in answers] == [
            (0, True, False),
            (7, True, False),
            (-1, True, True),
            (-1, False, False),
        ]
        cluster.etcdctl("put", "raw", "value")
        events = [next(stream) for _ in range(2)]
        assert {answer.watch_id for answer in events} == {0, 7}
        for answer in events:
            assert [(e.kv.key, e.kv.value) for e in answer.events] == [(b"raw", b"value")]
            assert answer.header.revision == answer.events[0].kv.mod_revision
        stream.cancel()


# -- lease -----------------------------------------------------------------------------------


def test_lease_grant_list_timetolive_keepalive_revoke(cluster: LocalCluster) -> None:
    lease = lease_id(cluster.etcdctl("lease", "grant", "60"))
    assert lease in cluster.etcdctl("lease", "list").split()
    cluster.etcdctl("put", "leased/a", "1", f"--lease={lease}")
    cluster.etcdctl("put", "leased/b", "2", f"--lease={lease}")
    for member in cluster.members:
        told = cluster.etcdctl("lease", "timetolive", lease, "--keys", endpoints=member.endpoint)
        assert told.startswith(f"lease {lease} granted with TTL(60s), remaining(")
        assert "leased/a" in told
        assert "leased/b" in told
    kept = cluster.etcdctl(
        "lease", "keep-alive", "--once", lease, endpoints=follower_endpoint(cluster)
    )
    assert kept.strip() == f"lease {lease} keepalived with TTL(60)"
    assert cluster.etcdctl("lease", "revoke", lease).strip() == f"lease {lease} revoked"
    assert cluster.etcdctl("get", "leased/", "--prefix") == ""
    assert lease not in cluster.etcdctl("lease", "list").split()
    gone = cluster.etcdctl("lease", "timetolive", lease).strip()
    assert gone == f"lease {lease} already expired"
    again = cluster.etcdctl("lease", "revoke", lease, check=False)
    assert "revoked" not in again


def test_a_raw_keep_alive_stream_answers_each_request(cluster: LocalCluster) -> None:
    with grpc.insecure_channel(follower_endpoint(cluster)) as channel:
        stub = rpc_pb2_grpc.LeaseStub(channel)
        granted = stub.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=30), timeout=LINE_SECONDS_MAX)
        unknown = granted.ID + 1000
        requests = [rpc_pb2.LeaseKeepAliveRequest(ID=i) for i in (granted.ID, unknown, granted.ID)]
        answers = list(stub.LeaseKeepAlive(iter(requests), timeout=LINE_SECONDS_MAX))
        assert [(a.ID, a.TTL) for a in answers] == [
            (granted.ID, 30),
            (unknown, 0),
            (granted.ID, 30),
        ]
        stub.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=granted.ID), timeout=LINE_SECONDS_MAX)


def test_a_short_ttl_is_raised_to_the_minimum(cluster: LocalCluster) -> None:
    granted = cluster.etcdctl("lease", "grant", "1").strip()
    assert granted.endswith("granted with TTL(2s)")
    cluster.etcdctl("lease", "revoke", lease_id(granted))


def test_a_lease_not_kept_alive_expires_and_deletes_its_keys(cluster: LocalCluster) -> None:
    start = revision(cluster) + 1
    lease = lease_id(cluster.etcdctl("lease", "grant", "3"))
    cluster.etcdctl("put", "expiring", "soon", f"--lease={lease}")
    with background(cluster, "watch", "expiring", f"--rev={start}") as watch:
        assert watch.read(3) == ["PUT", "expiring", "soon"]
        assert watch.read(3, seconds=EXPIRY_SECONDS_MAX) == ["DELETE", "expiring", ""]
    assert cluster.etcdctl("get", "expiring") == ""
    assert cluster.etcdctl("lease", "timetolive", lease).strip() == f"lease {lease} already expired"
    kept = cluster.etcdctl("lease", "keep-alive", "--once", lease, check=False)
    assert "keepalived" not in kept


# -- lock and elect ----------------------------------------------------------------------------


def test_lock_excludes_a_second_holder_until_the_first_unlocks(cluster: LocalCluster) -> None:
    with background(cluster, "lock", "mutex") as first:
        (first_key,) = first.read(1)
        assert first_key.startswith("mutex/")
        with background(cluster, "lock", "mutex") as second:
            assert second.quiet_for(2.0)
            assert first.interrupt()[0] == 0
            (second_key,) = second.read(1)
            assert second_key.startswith("mutex/")
            assert second_key != first_key
            second.interrupt()
    assert cluster.etcdctl("get", "mutex/", "--prefix") == ""


def test_lock_commands_never_overlap(cluster: LocalCluster, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    script = (
        f'echo "in $ETCD_LOCK_KEY" >> {journal}; sleep 0.5; echo "out $ETCD_LOCK_KEY" >> {journal}'
    )
    holders = [Background(cluster, "lock", "overlap", "--", "sh", "-c", script) for _ in range(3)]
    try:
        codes = [holder.stop()[0] for holder in holders]
    finally:
        for holder in holders:
            holder.kill()
    assert codes == [0, 0, 0]
    lines = journal.read_text().split("\n")[:-1]
    assert len(lines) == 6
    for index in range(0, 6, 2):
        entered, left = lines[index].split(), lines[index + 1].split()
        assert entered[0] == "in"
        assert left == ["out", entered[1]]
    assert len({line.split()[1] for line in lines}) == 3


def test_a_killed_holders_lock_is_freed_when_its_lease_expires(cluster: LocalCluster) -> None:
    with background(cluster, "lock", "--ttl=3", "abandoned") as first:
        first.read(1)
        with background(cluster, "lock", "abandoned") as second:
            assert second.quiet_for(1.0)
            first.process.kill()
            (key,) = second.read(1, seconds=EXPIRY_SECONDS_MAX)
            assert key.startswith("abandoned/")
            second.interrupt()


def test_elect_prints_the_leaders_proposal_and_passes_it_on(cluster: LocalCluster) -> None:
    with background(cluster, "elect", "office", "alice") as alice:
        alice_key, proposal = alice.read(2)
        assert alice_key.startswith("office/")
        assert proposal == "alice"
        with (
            background(cluster, "elect", "-l", "office") as observer,
            background(cluster, "elect", "office", "bob") as bob,
        ):
            assert observer.read(2) == [alice_key, "alice"]
            assert bob.quiet_for(1.5)
            assert alice.interrupt()[0] == 0
            bob_key, bob_proposal = bob.read(2)
            assert bob_proposal == "bob"
            assert bob_key != alice_key
            assert observer.read(2) == [bob_key, "bob"]
            bob.interrupt()


# -- losing the leader (a cluster of its own: two members are killed) -------------------------


def test_a_watch_that_asked_for_a_leader_ends_when_quorum_is_lost(
    tmp_path: Path, engine: str
) -> None:
    metadata = (("hasleader", "true"),)
    create = rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=b"k"))
    with running("synod", 3, tmp_path, engine=engine) as small:
        survivor = leader_member(small)  # a leader left alone must step down: the harder case
        others = [member for member in small.members if member is not survivor]
        with grpc.insecure_channel(survivor.endpoint) as channel:
            stub = rpc_pb2_grpc.WatchStub(channel)
            stream = stub.Watch(iter([create]), metadata=metadata, timeout=PROCESS_SECONDS_MAX)
            assert next(stream).created
            for member in others:
                small.kill(member)
            with pytest.raises(grpc.RpcError) as ended:
                next(stream)
            assert ended.value.code() is grpc.StatusCode.UNAVAILABLE
            assert ended.value.details() == "etcdserver: no leader"
            refused = stub.Watch(iter([create]), metadata=metadata, timeout=LINE_SECONDS_MAX)
            with pytest.raises(grpc.RpcError) as at_once:
                next(refused)
            assert at_once.value.details() == "etcdserver: no leader"


def leader_member(cluster: LocalCluster) -> Member:
    for member in cluster.members:
        with grpc.insecure_channel(member.endpoint) as channel:
            status = rpc_pb2_grpc.MaintenanceStub(channel).Status(
                rpc_pb2.StatusRequest(), timeout=LINE_SECONDS_MAX
            )
        if status.header.member_id == status.leader:
            return member
    raise AssertionError("no member says it leads")


def test_a_large_replay_is_fragmented_only_when_the_watch_allows_it(tmp_path: Path) -> None:
    value = b"x" * 18_000
    puts = 40  # about 720 KB of events: above the 20000 + 512 KiB fragment limit
    with (
        running("synod", 1, tmp_path, "--max-request-bytes=20000") as single,
        grpc.insecure_channel(single.members[0].endpoint) as channel,
    ):
        kv = rpc_pb2_grpc.KVStub(channel)
        first = 0
        for number in range(puts):
            put = kv.Put(rpc_pb2.PutRequest(key=b"big/%02d" % number, value=value), timeout=10)
            first = first or put.header.revision
        watch = rpc_pb2_grpc.WatchStub(channel)
        for fragment in (False, True):
            request = rpc_pb2.WatchCreateRequest(
                key=b"big/", range_end=b"big0", start_revision=first, fragment=fragment
            )
            stream = watch.Watch(
                iter([rpc_pb2.WatchRequest(create_request=request)]), timeout=LINE_SECONDS_MAX
            )
            assert next(stream).created
            parts = [next(stream)]
            while parts[-1].fragment and len(parts) < puts:
                parts.append(next(stream))
            stream.cancel()
            assert sum(len(part.events) for part in parts) == puts
            if fragment:
                assert len(parts) >= 2
                assert all(part.ByteSize() < 20_000 + 512 * 1024 for part in parts)
            else:
                assert len(parts) == 1
