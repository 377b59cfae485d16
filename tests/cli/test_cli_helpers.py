"""The pure helpers behind synod up, ctl and bench: ports, prefixes, tables, load shares."""

from __future__ import annotations

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


def test_benchmark_table_gives_each_systems_cpu_per_request() -> None:
    case = cluster_bench.Workload("put, 1 client", "put", 1, 1, 100)

    def measured(ops_per_s: float, cpu_us: float) -> cluster_bench.Measured:
        latency = {"p50": 1.0, "p90": 1.5, "p99": 2.0, "max": 3.0}
        report = etcd_bench.Report("put", 100, 0, 1.0, ops_per_s, latency, ())
        return cluster_bench.Measured(report, cpu_us)

    rows = cluster_bench.table(
        [case], {"etcd": [measured(1000.0, 210.4)], "synod": [measured(500.0, 480.6)]}
    )
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    cells = [cell.strip() for cell in rows[2].strip("|").split("|")]
    assert len(cells) == len(header)
    row = dict(zip(header, cells, strict=True))
    assert (row["etcd CPU µs/op"], row["Synod CPU µs/op"]) == ("210", "481")
    assert row["Synod / etcd"] == "0.50"
