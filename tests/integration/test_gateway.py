"""etcd's HTTP side on a real 3-member Synod cluster: etcd3gw, /version, /health, /metrics,
and the same JSON requests answered by a real etcd 3.4 and by Synod, compared."""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import etcd3gw
import grpc
import pytest

from synod.api.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from tests.cluster import LocalCluster, etcd_command, running

HTTP_SECONDS_MAX = 10.0
UNHEALTHY_SECONDS_MAX = 20.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running("synod", 3, Path(tmp_path_factory.mktemp("gateway"))) as started:
        yield started


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    if etcd_command() is None:
        pytest.skip("etcd is not installed (make setup installs etcd-server)")
    with running("etcd", 1, Path(tmp_path_factory.mktemp("gateway-etcd"))) as started:
        yield started


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def http(url: str, body: bytes | None = None, method: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_SECONDS_MAX) as response:
            status: int = response.status
            return status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def client(cluster: LocalCluster, index: int = 0) -> Any:
    member = cluster.members[index]
    return etcd3gw.client(host="127.0.0.1", port=member.client_port, timeout=HTTP_SECONDS_MAX)


# -- etcd3gw, unchanged, against every member ---------------------------------------------------


def test_etcd3gw_put_get_delete_across_members(cluster: LocalCluster) -> None:
    first, second, third = (client(cluster, index) for index in range(3))
    assert first.put("gw/greeting", "hello")
    assert second.get("gw/greeting") == [b"hello"]
    assert third.delete("gw/greeting")
    assert first.get("gw/greeting") == []
    assert not second.delete("gw/greeting")


def test_etcd3gw_prefix_reads_with_metadata(cluster: LocalCluster) -> None:
    gw = client(cluster, 1)
    for index in range(3):
        gw.put(f"gw/dir/{index}", f"v{index}")
    gw.put("gw/dir/0", "again")
    found = gw.get_prefix("gw/dir/")
    assert [value for value, _ in found] == [b"again", b"v1", b"v2"]
    metadata = found[0][1]
    assert metadata["key"] == b"gw/dir/0"
    assert metadata["version"] == "2"
    assert int(metadata["mod_revision"]) > int(metadata["create_revision"])
    assert gw.delete_prefix("gw/dir/")
    assert gw.get_prefix("gw/dir/") == []


def test_etcd3gw_transaction_and_status(cluster: LocalCluster) -> None:
    gw = client(cluster, 2)
    gw.put("gw/txn", "old")
    assert gw.replace("gw/txn", "old", "new")
    assert not gw.replace("gw/txn", "old", "newer")
    assert gw.get("gw/txn") == [b"new"]
    statuses = [client(cluster, index).status() for index in range(3)]
    leaders = {status["leader"] for status in statuses}
    assert len(leaders) == 1
    members = {status["header"]["member_id"] for status in statuses}
    assert leaders <= members
    assert len(members) == 3
    assert all(status["version"] == "3.4.0" for status in statuses)


def test_etcd3gw_lease(cluster: LocalCluster) -> None:
    status, _ = http(f"http://{cluster.members[0].endpoint}/v3/lease/grant", b'{"TTL":30}')
    if status == 501:
        pytest.skip("this build serves no Lease service yet (the gateway answers Unimplemented)")
    gw = client(cluster, 0)
    lease = gw.lease(ttl=30)
    assert gw.put("gw/leased", "x", lease=lease)
    attached = lease.keys()
    assert b"gw/leased" in attached
    assert 0 < lease.ttl() <= 30
    assert lease.refresh() > 0
    assert lease.revoke()
    assert gw.get("gw/leased") == []


# -- the same port still speaks gRPC ------------------------------------------------------------


def test_grpc_and_http_share_the_client_port(cluster: LocalCluster) -> None:
    member = cluster.members[0]
    client(cluster, 0).put("gw/shared", "both")
    with grpc.insecure_channel(member.endpoint) as channel:
        reply = rpc_pb2_grpc.KVStub(channel).Range(
            rpc_pb2.RangeRequest(key=b"gw/shared"), timeout=HTTP_SECONDS_MAX
        )
    assert [kv.value for kv in reply.kvs] == [b"both"]


# -- /version, /health, /metrics ----------------------------------------------------------------


def test_version(cluster: LocalCluster) -> None:
    status, body = http(f"{cluster.members[1].client_url}/version")
    assert status == 200
    assert json.loads(body) == {"etcdserver": "3.4.0", "etcdcluster": "3.4.0"}
    assert http(f"{cluster.members[1].client_url}/version", b"", "POST")[0] == 405


def test_health_on_every_member(cluster: LocalCluster) -> None:
    for member in cluster.members:
        assert http(f"{member.client_url}/health") == (200, b'{"health":"true"}')


SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")

EXPECTED_METRICS = {
    "etcd_server_has_leader": "gauge",
    "etcd_server_leader_changes_seen_total": "counter",
    "etcd_server_proposals_committed_total": "gauge",
    "etcd_server_proposals_applied_total": "gauge",
    "etcd_server_proposals_pending": "gauge",
    "etcd_server_proposals_failed_total": "counter",
    "etcd_mvcc_db_total_size_in_bytes": "gauge",
    "etcd_disk_wal_fsync_duration_seconds": "histogram",
    "etcd_disk_backend_commit_duration_seconds": "histogram",
    "etcd_network_peer_sent_bytes_total": "counter",
    "etcd_network_peer_received_bytes_total": "counter",
    "grpc_server_started_total": "counter",
    "grpc_server_handled_total": "counter",
    "etcd_server_health_success": "counter",
}


def parse_exposition(text: str) -> tuple[dict[str, str], dict[str, list[tuple[str, float]]]]:
    """(family → type, sample name → [(labels, value)]); every sample line must parse."""
    types: dict[str, str] = {}
    samples: dict[str, list[tuple[str, float]]] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
        elif line and not line.startswith("#"):
            match = SAMPLE.match(line)
            assert match is not None, f"not a sample line: {line!r}"
            name, labels, value = match.groups()
            samples.setdefault(name, []).append((labels or "", float(value)))
    return types, samples


def test_metrics_have_etcds_names_and_numbers(cluster: LocalCluster) -> None:
    gw = client(cluster, 0)
    gw.put("gw/metrics", "x")
    assert http(f"{cluster.members[0].client_url}/health")[0] == 200
    texts = {}
    for member in cluster.members:
        status, body = http(f"{member.client_url}/metrics")
        assert status == 200
        texts[member.name] = body.decode()
    for text in texts.values():
        types, samples = parse_exposition(text)
        for name, kind in EXPECTED_METRICS.items():
            assert types.get(name) == kind, name
        assert samples["etcd_server_has_leader"] == [("", 1.0)]
        assert samples["etcd_server_proposals_committed_total"][0][1] >= 1
        assert samples["etcd_mvcc_db_total_size_in_bytes"][0][1] > 0
        assert samples["etcd_network_peer_sent_bytes_total"][0][1] > 0
        buckets = samples["etcd_disk_wal_fsync_duration_seconds_bucket"]
        assert buckets[-1][0] == '{le="+Inf"}'
        counts = [value for _, value in buckets]
        assert counts == sorted(counts)
        assert counts[-1] == samples["etcd_disk_wal_fsync_duration_seconds_count"][0][1] > 0
    leaders = [parse_exposition(text)[1]["etcd_server_is_leader"][0][1] for text in texts.values()]
    assert sorted(leaders) == [0.0, 0.0, 1.0]
    _, first = parse_exposition(texts["m1"])
    assert first["etcd_server_health_success"][0][1] >= 1
    handled = dict(first["grpc_server_handled_total"])
    assert any('grpc_method="Put"' in labels and value >= 1 for labels, value in handled.items())


# -- differential: the same JSON to etcd 3.4 and to Synod ---------------------------------------

REVISION_FIELDS = ("revision", "create_revision", "mod_revision")


def normalized(value: Any, base: int) -> Any:
    """Revision fields made relative to ``base``; ids and terms dropped from headers."""
    if isinstance(value, list):
        return [normalized(item, base) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in ("cluster_id", "member_id", "raft_term"):
            continue
        if key in REVISION_FIELDS and isinstance(item, str):
            out[key] = int(item) - base
        else:
            out[key] = normalized(item, base)
    return out


def prefix_end(prefix: str) -> str:
    return b64(prefix[:-1] + chr(ord(prefix[-1]) + 1))


DIFF_REQUESTS: list[tuple[str, dict[str, Any] | bytes]] = [
    ("kv/put", {"key": b64("diff/a"), "value": b64("1")}),
    ("kv/put", {"key": b64("diff/b"), "value": b64("2"), "prev_kv": True}),
    ("kv/put", {"key": b64("diff/a"), "value": b64("3"), "prev_kv": True}),
    ("kv/range", {"key": b64("diff/"), "range_end": prefix_end("diff/")}),
    ("kv/range", {"key": b64("diff/"), "rangeEnd": prefix_end("diff/"), "count_only": True}),
    ("kv/range", {"key": b64("diff/"), "range_end": prefix_end("diff/"), "limit": "1"}),
    ("kv/range", {"key": b64("diff/"), "range_end": prefix_end("diff/"), "sort_order": "DESCEND"}),
    ("kv/range", {"key": b64("diff/a"), "keys_only": True}),
    ("kv/range", {"key": b64("diff/a"), "revision": "99999999"}),
    ("kv/range", {"key": ""}),
    ("kv/range", {"key": b64("diff/missing")}),
    (
        "kv/txn",
        {
            "compare": [{"target": "CREATE", "key": b64("diff/a"), "createRevision": "0"}],
            "success": [{"requestPut": {"key": b64("diff/a"), "value": b64("x")}}],
            "failure": [{"request_range": {"key": b64("diff/a")}}],
        },
    ),
    (
        "kv/txn",
        {
            "compare": [{"target": "VALUE", "key": b64("diff/a"), "value": b64("3")}],
            "success": [
                {"request_put": {"key": b64("diff/c"), "value": b64("4")}},
                {"request_delete_range": {"key": b64("diff/b"), "prev_kv": True}},
            ],
        },
    ),
    ("kv/deleterange", {"key": b64("diff/"), "range_end": prefix_end("diff/"), "prev_kv": True}),
    ("kv/deleterange", {"key": b64("diff/none")}),
    ("kv/compaction", {"revision": "99999999"}),
    ("kv/put", {"key": b64("diff/l"), "value": b64("v"), "lease": "12345"}),
    ("kv/put", {"key": b64("diff/i"), "ignore_value": True}),
    ("kv/range", b'{"key": "Zm9v", "sort_order": "SIDEWAYS"}'),
    ("kv/range", b'{"key": "Zm9v", "limit": 2.5}'),
    ("kv/range", b"[1]"),
    ("kv/range", b'{"key": "Zm9v"}{"key": "YQ=="}'),
]


def run_differential(endpoint: str) -> list[tuple[int, Any]]:
    answers: list[tuple[int, Any]] = []
    base = 0
    for route, body in DIFF_REQUESTS:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        status, raw = http(f"http://{endpoint}/v3/{route}", data)
        answer = json.loads(raw)
        if isinstance(body, bytes) and status != 200:
            answer = {"code": answer["code"]}  # parser texts are Go's; the code must match
        if not base:
            base = int(answer["header"]["revision"])
        answers.append((status, normalized(answer, base)))
    return answers


def test_same_json_answers_as_etcd(cluster: LocalCluster, etcd: LocalCluster) -> None:
    theirs = run_differential(etcd.members[0].endpoint)
    ours = run_differential(cluster.members[1].endpoint)
    for (route, body), expected, got in zip(DIFF_REQUESTS, theirs, ours, strict=True):
        assert got == expected, f"{route} {body!r}"


def test_same_plain_http_answers_as_etcd(cluster: LocalCluster, etcd: LocalCluster) -> None:
    cases: list[tuple[str, bytes | None, str | None]] = [
        ("/health", None, None),
        ("/health", b"", "POST"),
        ("/v3/kv/nothing", b"{}", None),
        ("/v3/kv/range", None, "GET"),
        ("/v3alpha/kv/range", b"{}", None),
        ("/nowhere", None, None),
    ]
    for path, body, method in cases:
        expected = http(f"{etcd.members[0].client_url}{path}", body, method)
        got = http(f"{cluster.members[0].client_url}{path}", body, method)
        assert got == expected, path
    for path, body in (("/v3/kv/range", b"{bad"), ("/v3/maintenance/status", b"{}")):
        expected_status, expected_body = http(f"{etcd.members[0].client_url}{path}", body)
        got_status, got_body = http(f"{cluster.members[0].client_url}{path}", body)
        assert got_status == expected_status
        assert set(json.loads(got_body)) == set(json.loads(expected_body))


# -- last, as it breaks the cluster: no quorum, no health -----------------------------------------


def test_health_is_false_without_a_quorum(cluster: LocalCluster) -> None:
    survivor = cluster.members[0]
    for member in cluster.members[1:]:
        cluster.kill(member)
    deadline = time.monotonic() + UNHEALTHY_SECONDS_MAX
    answer = http(f"{survivor.client_url}/health")
    while answer[0] == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
        answer = http(f"{survivor.client_url}/health")
    assert answer == (503, b'{"health":"false"}\n')
    _, samples = parse_exposition(http(f"{survivor.client_url}/metrics")[1].decode())
    assert samples["etcd_server_health_failures"][0][1] >= 1
