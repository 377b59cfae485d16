"""A real Synod cluster driven by etcdctl: the Cluster and Maintenance commands.

One module-scoped 3-member cluster per engine; the tests run in order and later ones build on
earlier ones (a learner is added, joins through a snapshot, is promoted, then removed).

The Multi-Paxos engine runs a fixed membership for now: the tests that add, remove or promote
members are strict expected failures on it (they flip to failures of their own the day it
gains membership changes, so that the marker goes), and one test checks that the Cluster API
refuses those changes there with a clear error and changes nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from synod.api.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from tests.cluster import LocalCluster, Member, etcdctl_binary, running

pytestmark = pytest.mark.skipif(
    etcdctl_binary() is None, reason="etcdctl is not installed (make setup installs etcd-client)"
)

WAIT_SECONDS_MAX = 20.0
POLL_SECONDS = 0.2
FLAGS = ("--heartbeat-interval=50", "--election-timeout=500")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, engine: str) -> Iterator[LocalCluster]:
    base = Path(tmp_path_factory.mktemp("cm"))
    with running("synod", 3, base, *FLAGS, engine=engine) as started:
        yield started


def founders(cluster: LocalCluster) -> str:
    return ",".join(member.endpoint for member in cluster.members[:3] if member.running)


def until(what: str, probe: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS_MAX
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"gave up waiting: {what}")


def member_list(cluster: LocalCluster) -> dict[str, Any]:
    listed: dict[str, Any] = json.loads(
        cluster.etcdctl("member", "list", "-w", "json", endpoints=founders(cluster))
    )
    return listed


def statuses(cluster: LocalCluster, endpoints: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(
        cluster.etcdctl("endpoint", "status", "-w", "json", endpoints=endpoints)
    )
    return rows


def member_by_name(cluster: LocalCluster, name: str) -> dict[str, Any]:
    members: list[dict[str, Any]] = member_list(cluster)["members"]
    found = [m for m in members if m.get("name") == name]
    assert len(found) == 1, found
    return found[0]


def test_member_list_shows_every_founder_with_its_urls(cluster: LocalCluster) -> None:
    # Each member publishes its client URLs through the log once it runs (as etcd does).
    deadline = time.monotonic() + 15
    listed = member_list(cluster)
    while not all(m.get("clientURLs") for m in listed["members"]) and time.monotonic() < deadline:
        time.sleep(0.2)
        listed = member_list(cluster)
    members = sorted(listed["members"], key=lambda member: member["name"])
    assert [member["name"] for member in members] == ["m1", "m2", "m3"]
    for member, ours in zip(members, cluster.members, strict=True):
        assert member["peerURLs"] == [ours.peer_url]
        assert member["clientURLs"] == [ours.client_url]
        assert member.get("isLearner", False) is False
    assert [member["ID"] for member in listed["members"]] == sorted(m["ID"] for m in members)
    cluster_ids = {
        row["Status"]["header"]["cluster_id"] for row in statuses(cluster, cluster.endpoints)
    }
    assert cluster_ids == {listed["header"]["cluster_id"]}


def test_endpoint_status_health_and_hashkv_agree(cluster: LocalCluster) -> None:
    for index in range(5):
        cluster.etcdctl("put", f"maint/k{index}", f"v{index}")
    rows = statuses(cluster, cluster.endpoints)
    assert len(rows) == 3
    leaders = {row["Status"]["leader"] for row in rows}
    assert len(leaders) == 1
    assert leaders <= {row["Status"]["header"]["member_id"] for row in rows}
    health = cluster.etcdctl_result("endpoint", "health")
    assert health.count("is healthy") == 3

    def hashes_agree() -> bool:
        answers = json.loads(cluster.etcdctl("endpoint", "hashkv", "-w", "json"))
        assert len(answers) == 3
        return len({answer["HashKV"]["hash"] for answer in answers}) == 1

    until("every member reports the same hashkv", hashes_agree)


def test_hash_hashkv_revisions_alarm_and_defrag(cluster: LocalCluster) -> None:
    first = cluster.members[0]
    cluster.etcdctl("put", "hashed", "1", endpoints=first.endpoint)
    cluster.etcdctl("put", "hashed", "2", endpoints=first.endpoint)
    with grpc.insecure_channel(first.endpoint) as channel:
        stub = rpc_pb2_grpc.MaintenanceStub(channel)
        current = stub.HashKV(rpc_pb2.HashKVRequest(), timeout=5)
        revision = current.header.revision
        older = stub.HashKV(rpc_pb2.HashKVRequest(revision=revision - 1), timeout=5)
        assert older.hash != current.hash
        assert stub.HashKV(rpc_pb2.HashKVRequest(revision=revision), timeout=5).hash == current.hash
        with pytest.raises(grpc.RpcError) as future:
            stub.HashKV(rpc_pb2.HashKVRequest(revision=revision + 100), timeout=5)
        assert future.value.details() == "etcdserver: mvcc: required revision is a future revision"
        cluster.etcdctl("compaction", str(revision - 1), endpoints=first.endpoint)
        with pytest.raises(grpc.RpcError) as compacted:
            stub.HashKV(rpc_pb2.HashKVRequest(revision=revision - 1), timeout=5)
        assert compacted.value.code() is grpc.StatusCode.OUT_OF_RANGE
        assert compacted.value.details() == "etcdserver: mvcc: required revision has been compacted"
        assert stub.HashKV(rpc_pb2.HashKVRequest(), timeout=5).compact_revision == revision - 1
        whole = stub.Hash(rpc_pb2.HashRequest(), timeout=5)
        assert whole.header.revision == revision
        assert 0 <= whole.hash < 1 << 32
        assert list(stub.Alarm(rpc_pb2.AlarmRequest(), timeout=5).alarms) == []
    assert cluster.etcdctl("alarm", "list").strip() == ""
    out = cluster.etcdctl("defrag", endpoints=first.endpoint)
    assert f"Finished defragmenting etcd member[{first.endpoint}]" in out


def test_snapshot_save_writes_a_verified_file(cluster: LocalCluster, tmp_path: Path) -> None:
    target = tmp_path / "backup.db"
    out = cluster.etcdctl("snapshot", "save", str(target), endpoints=cluster.members[0].endpoint)
    assert f"Snapshot saved at {target}" in out
    size = target.stat().st_size
    assert size > 32
    assert size % 512 == 32


def test_move_leader_hands_leadership_to_the_target(cluster: LocalCluster) -> None:
    rows = statuses(cluster, cluster.endpoints)
    leader = rows[0]["Status"]["leader"]
    target = next(
        row["Status"]["header"]["member_id"]
        for row in rows
        if row["Status"]["header"]["member_id"] != leader
    )
    out = cluster.etcdctl("move-leader", f"{target:x}")
    assert f"Leadership transferred from {leader:x} to {target:x}" in out
    until(
        "every member names the new leader",
        lambda: (
            {row["Status"]["leader"] for row in statuses(cluster, cluster.endpoints)} == {target}
        ),
    )


def test_member_errors_carry_etcds_texts(cluster: LocalCluster) -> None:
    voter = member_by_name(cluster, "m1")["ID"]
    refused = cluster.etcdctl_result("member", "promote", f"{voter:x}", endpoints=founders(cluster))
    assert "etcdserver: can only promote a learner member" in refused
    missing = cluster.etcdctl_result("member", "remove", "1234abcd", endpoints=founders(cluster))
    assert "etcdserver: member not found" in missing
    taken = cluster.members[0].peer_url
    clash = cluster.etcdctl_result("member", "add", "x", f"--peer-urls={taken}")
    assert "etcdserver: Peer URLs already exists" in clash
    with grpc.insecure_channel(cluster.members[0].endpoint) as channel:
        stub = rpc_pb2_grpc.ClusterStub(channel)
        for urls in (["not a url"], [], ["http://127.0.0.1:2380/path"]):
            with pytest.raises(grpc.RpcError) as raised:
                stub.MemberAdd(rpc_pb2.MemberAddRequest(peerURLs=urls), timeout=5)
            assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert raised.value.details() == "etcdserver: given member URLs are invalid"


def test_a_learner_that_never_started_is_not_promoted(cluster: LocalCluster) -> None:
    endpoints = founders(cluster)
    out = cluster.etcdctl(
        "member", "add", "ghost", "--peer-urls=http://127.0.0.1:9", "--learner", endpoints=endpoints
    )
    ghost = int(out.split()[1], 16)  # "Member <hex id> added to cluster <hex id>"
    refused = cluster.etcdctl_result("member", "promote", f"{ghost:x}", endpoints=endpoints)
    assert "can only promote a learner member which is in sync with leader" in refused
    second = cluster.etcdctl_result(
        "member", "add", "x", "--peer-urls=http://127.0.0.1:10", "--learner", endpoints=endpoints
    )
    assert "etcdserver: too many learner members in cluster" in second
    cluster.etcdctl("member", "remove", f"{ghost:x}", endpoints=endpoints)
    assert ghost not in {member["ID"] for member in member_list(cluster)["members"]}


def test_member_update_changes_peer_urls_everywhere(cluster: LocalCluster) -> None:
    endpoints = founders(cluster)
    second = cluster.members[1]
    target = member_by_name(cluster, "m2")["ID"]
    extra = "http://127.0.0.1:11"
    urls = f"{second.peer_url},{extra}"
    out = cluster.etcdctl(
        "member", "update", f"{target:x}", f"--peer-urls={urls}", endpoints=endpoints
    )
    # etcdctl prints the ID with %16x: an ID below 2**60 comes out padded with spaces.
    assert f"Member {target:16x} updated in cluster" in out

    def everyone_agrees() -> bool:
        for member in cluster.members[:3]:
            listed = json.loads(
                cluster.etcdctl("member", "list", "-w", "json", endpoints=member.endpoint)
            )
            row = next(m for m in listed["members"] if m["ID"] == target)
            if row["peerURLs"] != [second.peer_url, extra]:
                return False
        return True

    until("every member lists the new peer URLs", everyone_agrees)
    cluster.etcdctl(
        "member", "update", f"{target:x}", f"--peer-urls={second.peer_url}", endpoints=endpoints
    )
    assert member_by_name(cluster, "m2")["peerURLs"] == [second.peer_url]
    missing = cluster.etcdctl_result(
        "member", "update", "1234abcd", f"--peer-urls={extra}", endpoints=endpoints
    )
    assert "etcdserver: member not found" in missing


def test_learner_joins_through_a_snapshot_and_is_promoted(cluster: LocalCluster) -> None:
    cluster.etcdctl("put", "before-join", "present")
    newcomer = cluster.new_member("m4")
    out = cluster.etcdctl(
        "member",
        "add",
        "m4",
        f"--peer-urls={newcomer.peer_url}",
        "--learner",
        endpoints=founders(cluster),
    )
    assert 'ETCD_INITIAL_CLUSTER_STATE="existing"' in out
    added = member_by_name_or_unstarted(cluster, newcomer)
    assert added.get("isLearner") is True
    cluster.start_member(newcomer, "existing")

    def serves_old_key() -> bool:
        got = cluster.etcdctl(
            "get", "before-join", "--consistency=s", endpoints=newcomer.endpoint, check=False
        )
        return got.split() == ["before-join", "present"]

    until("the learner serves a key written before it joined", serves_old_key)
    until("the learner publishes its name", lambda: has_name(cluster, "m4"))

    def promoted() -> bool:
        out = cluster.etcdctl_result(
            "member", "promote", f"{added['ID']:x}", endpoints=founders(cluster)
        )
        return "promoted in cluster" in out

    until("the learner is promoted", promoted)
    assert member_by_name(cluster, "m4").get("isLearner", False) is False
    cluster.etcdctl("put", "after-promote", "yes", endpoints=newcomer.endpoint)
    got = cluster.etcdctl("get", "after-promote", endpoints=cluster.members[0].endpoint)
    assert got.split() == ["after-promote", "yes"]


def test_removed_member_stops(cluster: LocalCluster) -> None:
    newcomer = cluster.members[3]
    removed = member_by_name(cluster, "m4")["ID"]
    out = cluster.etcdctl("member", "remove", f"{removed:x}", endpoints=founders(cluster))
    assert f"Member {removed:16x} removed from cluster" in out  # etcdctl's %16x, as above
    assert "m4" not in {m.get("name") for m in member_list(cluster)["members"]}
    until("the removed member exits", lambda: not newcomer.running)
    assert cluster.etcdctl("put", "after-remove", "ok", endpoints=founders(cluster)).strip() == "OK"


def member_by_name_or_unstarted(cluster: LocalCluster, member: Member) -> dict[str, Any]:
    members: list[dict[str, Any]] = member_list(cluster)["members"]
    found = [m for m in members if m["peerURLs"] == [member.peer_url]]
    assert len(found) == 1, found
    assert "name" not in found[0]  # not started yet: etcd shows it as "unstarted"
    return found[0]


def has_name(cluster: LocalCluster, name: str) -> bool:
    return name in {m.get("name") for m in member_list(cluster)["members"]}


def test_voter_joins_serves_linearizable_reads_and_is_removed(cluster: LocalCluster) -> None:
    cluster.etcdctl("put", "before-voter", "here", endpoints=founders(cluster))
    newcomer = cluster.new_member("m5")
    cluster.etcdctl(
        "member", "add", "m5", f"--peer-urls={newcomer.peer_url}", endpoints=founders(cluster)
    )
    cluster.start_member(newcomer, "existing")
    cluster.wait_serving(newcomer)  # a linearizable range through the newcomer
    got = cluster.etcdctl("get", "before-voter", endpoints=newcomer.endpoint)
    assert got.split() == ["before-voter", "here"]
    until("the voter publishes its name", lambda: has_name(cluster, "m5"))
    assert member_by_name(cluster, "m5").get("isLearner", False) is False
    removed = member_by_name(cluster, "m5")["ID"]
    cluster.etcdctl("member", "remove", f"{removed:x}", endpoints=founders(cluster))
    until("the removed voter exits", lambda: not newcomer.running)


def test_adding_a_voter_while_a_voter_is_down_is_refused(cluster: LocalCluster) -> None:
    down = cluster.members[2]
    assert cluster.stop(down) == 0
    try:
        first = cluster.members[0]

        def refused() -> bool:
            out = cluster.etcdctl_result(
                "member", "add", "m6", "--peer-urls=http://127.0.0.1:1", endpoints=first.endpoint
            )
            assert "added to cluster" not in out
            return "etcdserver: unhealthy cluster" in out

        until("adding a voter is refused as unhealthy", refused)
    finally:
        cluster.start_member(down)
        cluster.wait_serving(down)
    assert len(member_list(cluster)["members"]) == 3
