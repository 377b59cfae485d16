"""The pure helpers behind synod up, ctl and bench: ports, prefixes, tables, load shares."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from synod.api.gen.etcdserverpb import rpc_pb2
from synod.cli import cluster_bench, ctl, etcd_bench, up
from synod.cli.localcluster import conventional_ports


def test_conventional_ports_follow_etcds_pattern_and_stay_16_bit() -> None:
    ports = [conventional_ports(index) for index in range(7)]
    assert ports[:3] == [(2379, 2380), (22379, 22380), (32379, 32380)]
    assert ports[3] == (42379, 42380)
    assert len({client for client, _ in ports}) == 7
    assert all(0 < peer < 65536 and peer == client + 1 for client, peer in ports)
    with pytest.raises(ValueError, match="member 8"):
        conventional_ports(7)


def test_up_ports_with_a_base_are_consecutive() -> None:
    assert up.ports(3, 40000) == [(40000, 40001), (40002, 40003), (40004, 40005)]
    assert up.ports(3, None) == [conventional_ports(index) for index in range(3)]


@pytest.mark.parametrize(
    ("key", "end"),
    [(b"a", b"b"), (b"dir/", b"dir0"), (b"a\xff", b"b"), (b"\xff\xff", b"\x00"), (b"", b"\x00")],
)
def test_prefix_end(key: bytes, end: bytes) -> None:
    assert ctl.prefix_end(key) == end


def test_table_aligns_columns_without_trailing_spaces() -> None:
    text = ctl.table(("A", "LONGER"), [("wide cell", "x"), ("y", "")])
    lines = text.splitlines()
    assert lines[0] == "A          LONGER"
    assert lines[1] == "---------  ------"
    assert lines[2] == "wide cell  x"
    assert lines[3] == "y"


def test_lease_ids_are_hex_and_errors_say_so() -> None:
    assert ctl.lease_id("694d77aa9e38260f") == 0x694D77AA9E38260F
    with pytest.raises(ctl.CtlError, match="hexadecimal"):
        ctl.lease_id("soon")


def test_keys_have_the_requested_size() -> None:
    assert etcd_bench.key_of(42, 8) == b"00000042"
    assert etcd_bench.key_of(123, 2) == b"23"
    make = etcd_bench.request_maker(
        etcd_bench.Spec("put", ("x",), key_size=8, val_size=3, sequential_keys=True), 10
    )
    assert make(5) == rpc_pb2.PutRequest(key=b"00000015", value=b"vvv").SerializeToString()


def test_shares_split_clients_and_requests_exactly() -> None:
    spec = etcd_bench.Spec("range", ("x",), clients=5, conns=3, total=1001, procs=2)
    shares = spec.shares()
    assert [share.clients for share, _ in shares] == [3, 2]
    assert [share.total for share, _ in shares] == [501, 500]
    assert [first for _, first in shares] == [0, 501]
    assert all(share.procs == 1 and share.conns >= 1 for share, _ in shares)
    assert len({share.seed for share, _ in shares}) == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"clients": 0}, "--clients"),
        ({"procs": 3, "clients": 2}, "--procs"),
        ({"endpoints": ()}, "endpoint"),
    ],
)
def test_bad_specs_are_refused(change: dict[str, object], message: str) -> None:
    fields = {"operation": "put", "endpoints": ("x",), **change}
    with pytest.raises(ValueError, match=message):
        etcd_bench.Spec(**fields).validate()  # type: ignore[arg-type]


def test_summary_percentiles_and_errors() -> None:
    result = etcd_bench.Result(started_s=10.0, finished_s=12.0)
    result.latencies_s.extend(index / 1000 for index in range(1, 101))
    result.errors["UNAVAILABLE: gone"] += 2
    report = etcd_bench.summarize(etcd_bench.Spec("put", ("x",)), result)
    assert (report.requests, report.errors) == (102, 2)
    assert report.ops_per_s == 50.0
    assert report.latency_ms["p50"] == pytest.approx(51.0)
    assert report.latency_ms["p99"] == pytest.approx(100.0)
    assert report.latency_ms["max"] == pytest.approx(100.0)


def test_benchmark_section_replaces_only_the_marked_part(tmp_path: Path) -> None:
    doc = tmp_path / "bench.md"
    doc.write_text("# Title\n\nkept\n")
    cluster_bench.rewrite(doc, f"{cluster_bench.MARKER_BEGIN}\nfirst\n{cluster_bench.MARKER_END}")
    cluster_bench.rewrite(doc, f"{cluster_bench.MARKER_BEGIN}\nsecond\n{cluster_bench.MARKER_END}")
    text = doc.read_text()
    assert text.startswith("# Title\n\nkept\n")
    assert "second" in text
    assert "first" not in text
    assert text.count(cluster_bench.MARKER_BEGIN) == 1


def measured(ops_per_s: float, cpu_us: float) -> cluster_bench.Measured:
    latency = {"p50": 1.0, "p90": 1.5, "p99": 2.0, "max": 3.0}
    report = etcd_bench.Report("put", 100, 0, 1.0, ops_per_s, latency, ())
    return cluster_bench.Measured(report, cpu_us)


def table_rows(rows: list[str]) -> list[dict[str, str]]:
    """A Markdown table's body rows as header -> cell."""
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    body = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]
    return [dict(zip(header, cells, strict=True)) for cells in body]


def test_benchmark_table_gives_each_systems_cpu_per_request() -> None:
    case = cluster_bench.Workload("put, 1 client", "put", 1, 1, 100)
    rows = cluster_bench.table(
        [case], {"etcd": [measured(1000.0, 210.4)], "raft": [measured(500.0, 480.6)]}
    )
    (row,) = table_rows(rows)
    assert row["workload"] == "put, 1 client"
    assert (row["etcd CPU µs/op"], row["Synod CPU µs/op"]) == ("210", "481")
    assert row["Synod / etcd"] == "0.50"


def test_engines_option_parses_known_names_in_order_once() -> None:
    assert cluster_bench.parse_engines("raft") == ("raft",)
    assert cluster_bench.parse_engines(" paxos, raft,paxos ") == ("paxos", "raft")
    for text in ("", "raft,zab", ","):
        with pytest.raises(argparse.ArgumentTypeError, match="engines must be some of"):
            cluster_bench.parse_engines(text)
    with pytest.raises(SystemExit):
        cluster_bench.main(["--engines", "zab"])


def test_benchmark_table_has_a_row_group_per_engine_against_etcd() -> None:
    cases = [
        cluster_bench.Workload("put, 1 client", "put", 1, 1, 100),
        cluster_bench.Workload("put, 64 clients", "put", 64, 8, 100),
    ]
    results = {
        "etcd": [measured(1000.0, 100.0), measured(4000.0, 50.0)],
        "raft": [measured(500.0, 300.0), measured(2000.0, 200.0)],
        "paxos": [measured(250.0, 600.0), measured(3000.0, 100.0)],
    }
    rows = table_rows(cluster_bench.table(cases, results))
    assert [row["workload"] for row in rows] == [
        "Raft: put, 1 client",
        "Raft: put, 64 clients",
        "Paxos: put, 1 client",
        "Paxos: put, 64 clients",
    ]
    assert [row["Synod / etcd"] for row in rows] == ["0.50", "0.50", "0.25", "0.75"]
    assert [row["Synod CPU µs/op"] for row in rows] == ["300", "200", "600", "100"]
    assert {row["etcd ops/s"] for row in rows[::2]} == {"1,000"}
    pairs = table_rows(cluster_bench.engines_table(cases, results))
    assert [(row["Paxos / Raft ops/s"], row["Paxos / Raft CPU µs/op"]) for row in pairs] == [
        ("0.50", "2.00"),
        ("1.50", "0.50"),
    ]


def test_engines_section_replaces_its_marked_part_of_the_comparison_page(tmp_path: Path) -> None:
    case = cluster_bench.Workload("put, 1 client", "put", 1, 1, 100)
    run = cluster_bench.Run("python -m synod.cli.cluster_bench --engines raft,paxos", 1, 0.5, 1.5)
    doc = tmp_path / "raft-vs-paxos.md"
    doc.write_text("# Raft and Multi-Paxos\n\n## In the simulator\n\nkept\n")
    for paxos_ops_per_s in (111.0, 222.0):
        results = {
            "etcd": [measured(1000.0, 100.0)],
            "raft": [measured(500.0, 300.0)],
            "paxos": [measured(paxos_ops_per_s, 400.0)],
        }
        cluster_bench.rewrite(doc, cluster_bench.section([case], results, run), "On real processes")
    text = doc.read_text()
    assert text.startswith("# Raft and Multi-Paxos\n\n## In the simulator\n\nkept\n")
    assert text.count("## On real processes") == 1
    assert text.count(cluster_bench.MARKER_BEGIN) == text.count(cluster_bench.MARKER_END) == 1
    assert "| Paxos: put, 1 client |" in text
    assert "| 222 |" in text
    assert "| 111 |" not in text
    assert "load average 0.5 when it started and 1.5 when it ended" in text
    assert "`python -m synod.cli.cluster_bench --engines raft,paxos`" in text
