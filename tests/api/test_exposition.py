"""Histograms with etcd's buckets and the Prometheus text they become."""

from __future__ import annotations

import pytest

from synod.api.exposition import Exposition
from synod.server.metrics import DISK_BUCKETS_S, Histogram, NodeMetrics


def test_disk_buckets_are_etcds() -> None:
    assert len(DISK_BUCKETS_S) == 14
    assert DISK_BUCKETS_S[0] == pytest.approx(0.001)
    assert DISK_BUCKETS_S[-1] == pytest.approx(8.192)


def test_histogram_counts_are_cumulative_with_inf_last() -> None:
    histogram = Histogram((0.1, 1.0, 10.0))
    for value in (0.05, 0.1, 0.5, 5.0, 50.0):
        histogram.observe(value)
    assert histogram.cumulative() == [(0.1, 2), (1.0, 3), (10.0, 4), (float("inf"), 5)]
    assert histogram.count == 5
    assert histogram.total == pytest.approx(55.65)


def test_histogram_rejects_unordered_bounds() -> None:
    with pytest.raises(AssertionError):
        Histogram((1.0, 0.5))


def test_histogram_text_follows_prometheus_rules() -> None:
    metrics = NodeMetrics()
    metrics.wal_fsync_s.observe(0.0015)
    metrics.wal_fsync_s.observe(20.0)
    out = Exposition()
    out.histogram("etcd_disk_wal_fsync_duration_seconds", "help", metrics.wal_fsync_s)
    lines = out.text().decode().splitlines()
    assert lines[:2] == [
        "# HELP etcd_disk_wal_fsync_duration_seconds help",
        "# TYPE etcd_disk_wal_fsync_duration_seconds histogram",
    ]
    assert 'etcd_disk_wal_fsync_duration_seconds_bucket{le="0.001"} 0' in lines
    assert 'etcd_disk_wal_fsync_duration_seconds_bucket{le="0.002"} 1' in lines
    assert 'etcd_disk_wal_fsync_duration_seconds_bucket{le="8.192"} 1' in lines
    assert 'etcd_disk_wal_fsync_duration_seconds_bucket{le="+Inf"} 2' in lines
    assert "etcd_disk_wal_fsync_duration_seconds_count 2" in lines
    assert "etcd_disk_wal_fsync_duration_seconds_sum 20.0015" in lines


def test_labels_are_sorted_and_escaped() -> None:
    out = Exposition()
    out.sample("m", 3, {"b": 'say "hi"', "a": "back\\slash"})
    assert out.text() == b'm{a="back\\\\slash",b="say \\"hi\\""} 3\n'
