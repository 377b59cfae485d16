"""A real 3-member Synod cluster driven by Debian's etcdctl: the KV commands, on each engine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import LocalCluster, etcdctl_binary, running

pytestmark = pytest.mark.skipif(
    etcdctl_binary() is None, reason="etcdctl is not installed (make setup installs etcd-client)"
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, engine: str) -> Iterator[LocalCluster]:
    with running("synod", 3, Path(tmp_path_factory.mktemp("kv")), engine=engine) as started:
        yield started


def test_put_then_get_through_every_member(cluster: LocalCluster) -> None:
    assert cluster.etcdctl("put", "greeting", "hello").strip() == "OK"
    for member in cluster.members:
        out = cluster.etcdctl("get", "greeting", endpoints=member.endpoint)
        assert out.split() == ["greeting", "hello"]
        serializable = cluster.etcdctl(
            "get", "greeting", "--consistency=s", endpoints=member.endpoint
        )
        assert serializable.split() in (["greeting", "hello"], [])


def test_revisions_versions_and_prefix_reads(cluster: LocalCluster) -> None:
    for index in range(5):
        cluster.etcdctl("put", f"dir/k{index}", f"v{index}")
    cluster.etcdctl("put", "dir/k0", "again")
    listed = json.loads(cluster.etcdctl("get", "dir/", "--prefix", "-w", "json"))
    assert listed["count"] == 5
    first = next(kv for kv in listed["kvs"] if kv["key"] == "ZGlyL2sw")  # base64 of dir/k0
    assert first["version"] == 2
    assert first["mod_revision"] == listed["header"]["revision"]
    keys = cluster.etcdctl("get", "dir/", "--prefix", "--keys-only", "--limit=2").split()
    assert keys == ["dir/k0", "dir/k1"]


def test_delete_and_txn(cluster: LocalCluster) -> None:
    cluster.etcdctl("put", "t/a", "1")
    assert cluster.etcdctl("del", "t/a").strip() == "1"
    assert cluster.etcdctl("del", "t/a").strip() == "0"
    cluster.etcdctl("put", "t/b", "x")
    script = 'value("t/b") = "x"\n\nput t/b y\n\nput t/b z\n\n'
    done = cluster.etcdctl("txn", stdin=script)
    assert done.splitlines()[0] == "SUCCESS"
    assert cluster.etcdctl("get", "t/b", "--print-value-only").strip() == "y"


def test_endpoint_status_names_one_leader(cluster: LocalCluster) -> None:
    statuses = json.loads(cluster.etcdctl("endpoint", "status", "-w", "json"))
    assert len(statuses) == 3
    leaders = {status["Status"]["leader"] for status in statuses}
    members = {status["Status"]["header"]["member_id"] for status in statuses}
    assert len(leaders) == 1
    assert leaders <= members
    assert all(status["Status"]["raftTerm"] >= 2 for status in statuses)
