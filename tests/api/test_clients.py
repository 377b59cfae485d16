"""The etcd clients the API must serve unchanged install beside Synod's protobuf code and talk
to a real etcd 3.4 in this environment (so their versions fit grpcio and protobuf here).

aetcd registers its own copies of etcd's protos (mvccpb.KeyValue...) in protobuf's default
pool, as does synod.api.gen: the two cannot be imported into one process, so aetcd always runs
in a subprocess of its own.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.etcd_process import etcd_binary, running_etcd

needs_etcd = pytest.mark.skipif(
    etcd_binary() is None,
    reason="no etcd binary on PATH: `make setup` installs Debian's etcd-server (etcd 3.4)",
)
SUBPROCESS_SECONDS_MAX = 60

AETCD_SCRIPT = """
import asyncio, sys
import aetcd

async def main(host, port):
    async with aetcd.Client(host=host, port=int(port)) as client:
        await client.put(b"from-aetcd", b"1")
        got = await client.get(b"from-aetcd")
        lease = await client.lease(60)
        print(got.value.decode(), got.mod_revision, lease.ttl)

asyncio.run(main(*sys.argv[1:]))
"""


def run_python(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *arguments],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_SECONDS_MAX,
        check=False,
    )


def test_aetcd_and_synods_protos_cannot_share_a_process() -> None:
    both = run_python("-c", "import aetcd; import synod.api.gen.etcdserverpb.rpc_pb2")
    assert both.returncode != 0
    assert "duplicate symbol" in both.stderr
    alone = run_python("-c", "import aetcd")
    assert alone.returncode == 0, alone.stderr


@needs_etcd
def test_aetcd_talks_to_etcd(tmp_path: Path) -> None:
    with running_etcd(tmp_path) as address:
        host, port = address.split(":")
        result = run_python("-c", AETCD_SCRIPT, host, port)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "2", "60"]


@needs_etcd
def test_etcd3gw_talks_to_etcds_gateway(tmp_path: Path) -> None:
    import etcd3gw  # noqa: PLC0415 (only this test needs it)

    with running_etcd(tmp_path) as address:
        host, port = address.split(":")
        client = etcd3gw.client(host=host, port=int(port), timeout=10)
        assert client.put("from-etcd3gw", "1")
        assert client.get("from-etcd3gw") == [b"1"]
        lease = client.lease(ttl=60)
        assert lease.ttl() > 0
