"""``/metrics``: a node's figures in Prometheus' text format under etcd's metric names.

Rules:
- Only names for which Synod has the data are written; each with ``# HELP`` and ``# TYPE``
  and the type etcd gives it (``etcd_server_proposals_committed_total`` is a gauge in etcd).
- Peer byte counters are totals over all peers (etcd labels them per peer; Synod's transport
  counts them together), so they carry no ``To``/``From`` label.
- ``RpcCounters`` counts gRPC calls by service, method, kind and final code, for the gRPC
  server and the JSON gateway alike (etcd's gateway calls go through its gRPC server too).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from synod.server.metrics import Histogram
from synod.server.node import Node

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(slots=True)
class RpcCounters:
    started: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """(grpc_type, grpc_service, grpc_method) → calls started."""
    handled: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    """(grpc_type, grpc_service, grpc_method, grpc_code) → calls finished."""

    def on_start(self, kind: str, service: str, method: str) -> None:
        self.started[(kind, service, method)] += 1

    def on_end(self, kind: str, service: str, method: str, code: str) -> None:
        self.handled[(kind, service, method, code)] += 1


@dataclass(slots=True)
class HealthCounts:
    """Answers of ``/health`` since start (etcd_server_health_success / _failures)."""

    success: int = 0
    failures: int = 0


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _labels(pairs: dict[str, str]) -> str:
    if not pairs:
        return ""
    escaped = (
        f'{name}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for name, value in sorted(pairs.items())
    )
    return "{" + ",".join(escaped) + "}"


class Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]

    def sample(self, name: str, value: float, labels: dict[str, str] | None = None) -> None:
        self.lines.append(f"{name}{_labels(labels or {})} {_number(value)}")

    def metric(self, name: str, kind: str, help_text: str, value: float) -> None:
        self.family(name, kind, help_text)
        self.sample(name, value)

    def histogram(self, name: str, help_text: str, histogram: Histogram) -> None:
        self.family(name, "histogram", help_text)
        for bound, count in histogram.cumulative():
            self.sample(f"{name}_bucket", count, {"le": _number(bound)})
        self.sample(f"{name}_sum", histogram.total)
        self.sample(f"{name}_count", histogram.count)

    def text(self) -> bytes:
        return ("\n".join(self.lines) + "\n").encode()


def _server(out: Exposition, node: Node) -> None:
    status = node.status()
    metrics = node.metrics
    out.metric("etcd_server_has_leader", "gauge", "Whether a leader exists.", status.leader != 0)
    out.metric("etcd_server_is_leader", "gauge", "Whether this member is leader.", node.is_leader)
    out.metric("etcd_server_is_learner", "gauge", "Whether this member is a learner.", 0)
    out.metric(
        "etcd_server_leader_changes_seen_total",
        "counter",
        "The number of leader changes seen.",
        metrics.leader_changes_seen,
    )
    out.metric(
        "etcd_server_proposals_committed_total",
        "gauge",
        "The total number of consensus proposals committed.",
        status.commit_index,
    )
    out.metric(
        "etcd_server_proposals_applied_total",
        "gauge",
        "The total number of consensus proposals applied.",
        status.applied_index,
    )
    out.metric(
        "etcd_server_proposals_pending",
        "gauge",
        "The current number of pending proposals to commit.",
        metrics.proposals_pending,
    )
    out.metric(
        "etcd_server_proposals_failed_total",
        "counter",
        "The total number of failed proposals seen.",
        metrics.proposals_failed,
    )
    out.metric(
        "etcd_server_quota_backend_bytes",
        "gauge",
        "Current backend storage quota size in bytes.",
        node.config.quota_backend_bytes,
    )
    out.family("etcd_server_id", "gauge", "Server or member ID in hexadecimal format.")
    out.sample("etcd_server_id", 1, {"server_id": f"{node.member_id:x}"})


def _storage(out: Exposition, node: Node) -> None:
    status = node.status()
    out.metric(
        "etcd_mvcc_db_total_size_in_bytes",
        "gauge",
        "Total size of the underlying database physically allocated in bytes.",
        status.db_size_bytes,
    )
    out.metric(
        "etcd_debugging_mvcc_current_revision",
        "gauge",
        "The current revision of store.",
        status.revision,
    )
    out.histogram(
        "etcd_disk_wal_fsync_duration_seconds",
        "The latency distributions of fsync called by WAL.",
        node.metrics.wal_fsync_s,
    )
    out.histogram(
        "etcd_disk_backend_commit_duration_seconds",
        "The latency distributions of commit called by backend.",
        node.metrics.backend_commit_s,
    )


def _network(out: Exposition, node: Node) -> None:
    transport = node.transport.metrics
    out.metric(
        "etcd_network_peer_sent_bytes_total",
        "counter",
        "The total number of bytes sent to peers.",
        transport.bytes_sent,
    )
    out.metric(
        "etcd_network_peer_received_bytes_total",
        "counter",
        "The total number of bytes received from peers.",
        transport.bytes_received,
    )


def _rpcs(out: Exposition, rpcs: RpcCounters) -> None:
    out.family(
        "grpc_server_started_total", "counter", "Total number of RPCs started on the server."
    )
    for (kind, service, method), count in sorted(rpcs.started.items()):
        labels = {"grpc_type": kind, "grpc_service": service, "grpc_method": method}
        out.sample("grpc_server_started_total", count, labels)
    out.family(
        "grpc_server_handled_total",
        "counter",
        "Total number of RPCs completed on the server, regardless of success or failure.",
    )
    for (kind, service, method, code), count in sorted(rpcs.handled.items()):
        labels = {
            "grpc_type": kind,
            "grpc_service": service,
            "grpc_method": method,
            "grpc_code": code,
        }
        out.sample("grpc_server_handled_total", count, labels)


def render(node: Node, rpcs: RpcCounters, health: HealthCounts | None = None) -> bytes:
    out = Exposition()
    _server(out, node)
    if health is not None:
        out.metric(
            "etcd_server_health_success",
            "counter",
            "The total number of successful health checks",
            health.success,
        )
        out.metric(
            "etcd_server_health_failures",
            "counter",
            "The total number of failed health checks",
            health.failures,
        )
    _storage(out, node)
    _network(out, node)
    _rpcs(out, rpcs)
    return out.text()
