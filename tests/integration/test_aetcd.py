"""aetcd (an asyncio etcd client) sees the same from etcd 3.4 and from Synod.

aetcd cannot share a process with Synod's generated protobuf modules, so ``tests/aetcd_probe.py``
drives each cluster from a child process and prints what it saw; the outputs must be equal.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import LocalCluster, etcd_command, running

pytestmark = pytest.mark.skipif(etcd_command() is None, reason="etcd is not installed")

PROBE_SECONDS_MAX = 60.0
ROOT = Path(__file__).resolve().parents[2]


def probe(cluster: LocalCluster, part: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.aetcd_probe", cluster.members[0].endpoint, part],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=PROBE_SECONDS_MAX,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen: dict[str, object] = json.loads(done.stdout)
    return seen


@pytest.fixture(scope="module")
def clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCluster, ...]]:
    base = Path(tmp_path_factory.mktemp("aetcd"))
    with running("etcd", 3, base) as etcd, running("synod", 3, base) as synod:
        yield etcd, synod


def test_kv_put_get_delete_txn(clusters: tuple[LocalCluster, ...]) -> None:
    etcd, synod = clusters
    from_etcd, from_synod = probe(etcd, "kv"), probe(synod, "kv")
    for step in from_etcd:
        assert from_etcd[step] == from_synod[step], step
    assert from_etcd == from_synod
    assert from_etcd["get"]["value"] == "11"  # type: ignore[index]
    assert from_etcd["get_missing"] is None
    assert from_etcd["empty_key"]["error"] == "InvalidArgumentError"  # type: ignore[index]
    assert from_etcd["get_after"] == {"count": 0, "kvs": [], "more": False}


def test_lease_grant_attach_revoke(clusters: tuple[LocalCluster, ...]) -> None:
    etcd, synod = clusters
    from_etcd, from_synod = probe(etcd, "lease"), probe(synod, "lease")
    assert from_etcd == {"lease": {"ttl": 60, "has_lease": True, "gone": True}}
    assert from_synod == from_etcd
