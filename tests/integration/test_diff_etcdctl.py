"""Debian's etcdctl 3.4 prints the same for etcd 3.4 and for Synod: each command runs against
both fresh clusters in the same order, and the outputs are compared after the cluster and
member ids and the raft term are normalized (revisions must be equal).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cluster import (
    ETCDCTL_SECONDS_MAX,
    LocalCluster,
    etcd_command,
    etcdctl_binary,
    running,
)

pytestmark = pytest.mark.skipif(
    etcd_command() is None or etcdctl_binary() is None, reason="etcd or etcdctl is not installed"
)

# Ids and terms as etcdctl prints them: JSON fields, `-w fields` lines, and the simple
# format's header-free outputs (which carry none).
ID_PATTERNS = (
    re.compile(r'("(?:cluster_id|member_id|raft_term)":)\d+'),
    re.compile(r'("(?:ClusterID|MemberID|RaftTerm)" : )\d+'),
)


def normalize(output: str) -> str:
    for pattern in ID_PATTERNS:
        output = pattern.sub(r"\g<1>0", output)
    return output


@dataclass
class Both:
    etcd: LocalCluster
    synod: LocalCluster

    def run(self, *args: str, stdin: str | None = None) -> str:
        """Run etcdctl against both through their first member; assert equal exit codes,
        stdout and stderr, and success; the normalized stdout."""
        outputs = [etcdctl(cluster, args, stdin) for cluster in (self.etcd, self.synod)]
        assert outputs[0] == outputs[1], (
            f"etcdctl {' '.join(args)} differs:\n--- etcd:\n{outputs[0]}\n--- synod:\n{outputs[1]}"
        )
        code, out, err = outputs[0]
        assert code == 0, f"etcdctl {' '.join(args)} failed: {err}"
        return out

    def fails(self, *args: str) -> str:
        """Like ``run`` for a command that must fail on both: the error text etcdctl printed."""
        outputs = [etcdctl(cluster, args, None) for cluster in (self.etcd, self.synod)]
        assert outputs[0] == outputs[1], f"etcdctl {' '.join(args)} differs: {outputs}"
        code, _, err = outputs[0]
        assert code != 0, f"etcdctl {' '.join(args)} succeeded"
        return err


def etcdctl(
    cluster: LocalCluster, args: tuple[str, ...], stdin: str | None
) -> tuple[int, str, str]:
    binary = etcdctl_binary()
    assert binary is not None
    endpoint = cluster.members[0].endpoint
    done = subprocess.run(
        [binary, f"--endpoints={endpoint}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=ETCDCTL_SECONDS_MAX,
        env={**os.environ, "ETCDCTL_API": "3"},
        check=False,
    )
    # The client's JSON log lines name per-run client ids and ports; the error text stays.
    err = "".join(
        line for line in done.stderr.splitlines(keepends=True) if not line.startswith("{")
    )
    return done.returncode, normalize(done.stdout), err


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory, engine: str) -> Iterator[Both]:
    base = Path(tmp_path_factory.mktemp("diffctl"))
    with running("etcd", 3, base) as etcd, running("synod", 3, base, engine=engine) as synod:
        yield Both(etcd, synod)


@pytest.fixture(scope="module")
def filled(both: Both) -> Both:
    for key, value in (("k/c", "3"), ("k/a", "1"), ("k/b", "2"), ("k/a", "11"), ("k0", "x")):
        assert both.run("put", key, value).strip() == "OK"
    both.run("put", "k/b", "22", "--prev-kv")
    both.run("put", "k/d", "4", "--prev-kv", "-w", "json")
    return both


GET_FLAGS = [
    ("k/a",),
    ("k/missing",),
    ("k/", "--prefix"),
    ("k/b", "--from-key"),
    ("k/", "--prefix", "--limit=2"),
    ("k/", "--prefix", "--limit=2", "-w", "json"),
    ("k/", "--prefix", "--rev=3"),
    ("k/a", "--rev=2", "-w", "json"),
    ("k/", "--prefix", "--keys-only"),
    ("k/", "--prefix", "--print-value-only"),
    ("k/", "--prefix", "-w", "json"),
    ("k/", "--prefix", "-w", "fields"),
    ("k/a", "-w", "fields"),
    ("k/a", "k/c"),
    ("k/", "--prefix", "--consistency=s"),
    *(
        ("k/", "--prefix", f"--sort-by={target}", f"--order={order}")
        for target in ("CREATE", "KEY", "MODIFY", "VALUE", "VERSION")
        for order in ("ASCEND", "DESCEND")
    ),
    ("k/", "--prefix", "--order=DESCEND"),
    ("k/", "--prefix", "--sort-by=VALUE", "--limit=1", "-w", "json"),
]


@pytest.mark.parametrize("args", GET_FLAGS, ids=" ".join)
def test_get(filled: Both, args: tuple[str, ...]) -> None:
    filled.run("get", *args)


def test_get_future_revision_fails_alike(filled: Both) -> None:
    assert "future revision" in filled.fails("get", "k/a", "--rev=100000")


def test_del(filled: Both) -> None:
    for key in ("x/a", "x/b", "x/c", "x/d", "y"):
        filled.run("put", key, key)
    assert filled.run("del", "x/a", "--prev-kv").splitlines() == ["1", "x/a", "x/a"]
    assert filled.run("del", "x/a").strip() == "0"
    filled.run("del", "x/", "--prefix", "--prev-kv", "-w", "json")
    filled.run("del", "y", "--from-key", "--prev-kv")
    filled.run("get", "", "--from-key", "-w", "json")


def test_txn(filled: Both) -> None:
    filled.run("put", "t/a", "1")
    script = 'value("t/a") = "1"\n\nput t/b yes\nget t/a\n\nput t/b no\n\n'
    assert filled.run("txn", stdin=script).splitlines()[0] == "SUCCESS"
    script = 'mod("t/a") > "0"\nversion("t/b") = "5"\n\nput t/c 1\n\ndel t/a\nget t/b\n\n'
    assert filled.run("txn", "-w", "json", stdin=script)
    script = 'create("t/z") = "0"\n\nput t/z created\n\n\n'
    assert filled.run("txn", stdin=script).splitlines()[0] == "SUCCESS"
    filled.run("get", "t/", "--prefix", "-w", "json")


def test_compaction(filled: Both) -> None:
    revision = filled.run("get", "k/a", "-w", "json")
    current = int(re.search(r'"revision":(\d+)', revision).group(1))  # type: ignore[union-attr]
    filled.run("compaction", str(current - 2))
    assert "compacted" in filled.fails("compaction", str(current - 3))
    assert "compacted" in filled.fails("get", "k/", "--prefix", f"--rev={current - 3}")
    filled.run("get", "k/", "--prefix", f"--rev={current - 2}")
    filled.run("compaction", "--physical", str(current))
