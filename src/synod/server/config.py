"""A node's configuration, and member and cluster IDs computed as etcd computes them.

Units are the last word of each name. ``validate`` refuses a configuration that cannot work with
one ``ConfigError`` naming the setting, so ``synod serve`` can print one clear line.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from synod.core.errors import ConfigError
from synod.core.ids import NodeId

MAX_REQUEST_BYTES_DEFAULT = 1536 * 1024
"""etcd's default --max-request-bytes (1.5 MiB)."""
QUOTA_BACKEND_BYTES_DEFAULT = 2 << 30
"""etcd's default --quota-backend-bytes (2 GiB)."""


def member_id(peer_urls: Sequence[str], cluster_token: str) -> NodeId:
    """etcd's member ID: the first 8 bytes of SHA-1 over the sorted peer URLs and the token."""
    digest = hashlib.sha1(("".join(sorted(peer_urls)) + cluster_token).encode()).digest()
    return NodeId(int.from_bytes(digest[:8], "big"))


def cluster_id(member_ids: Sequence[int]) -> int:
    """etcd's cluster ID: the first 8 bytes of SHA-1 over the sorted member IDs."""
    data = b"".join(member.to_bytes(8, "big") for member in sorted(member_ids))
    return int.from_bytes(hashlib.sha1(data).digest()[:8], "big")


@functools.lru_cache(maxsize=256)
def host_port(url: str, setting: str) -> tuple[str, int]:
    """``http://host:port`` -> (host, port); a ``ConfigError`` naming ``setting`` otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.port is None:
        raise ConfigError(f"{setting}: {url!r} is not a URL like http://127.0.0.1:2380")
    if parts.scheme == "https":
        raise ConfigError(f"{setting}: {url!r}: TLS is not supported yet, use http://")
    return parts.hostname, parts.port


@dataclass(frozen=True, slots=True)
class Member:
    """A member as the cluster knows it."""

    node_id: NodeId
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...] = ()
    is_learner: bool = False


@dataclass(frozen=True, slots=True)
class NodeConfig:
    name: str
    data_dir: str
    initial_cluster: Mapping[str, tuple[str, ...]]
    """Member name -> its peer URLs, every founding member (this one included)."""
    advertise_peer_urls: tuple[str, ...]
    listen_peer_urls: tuple[str, ...]
    advertise_client_urls: tuple[str, ...] = ()
    cluster_token: str = "etcd-cluster"
    new_cluster: bool = True
    """``--initial-cluster-state new``; False (``existing``) joins through a snapshot."""
    heartbeat_ms: int = 100
    election_ms: int = 1000
    snapshot_entries: int = 100_000
    max_request_bytes: int = MAX_REQUEST_BYTES_DEFAULT
    quota_backend_bytes: int = QUOTA_BACKEND_BYTES_DEFAULT
    request_timeout_ms: int = 5000
    engine: str = "raft"
    members: tuple[Member, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        self.validate()
        members = tuple(
            Member(member_id(urls, self.cluster_token), name, tuple(urls))
            for name, urls in sorted(self.initial_cluster.items())
        )
        object.__setattr__(self, "members", members)

    def validate(self) -> None:
        if not self.name:
            raise ConfigError("--name must not be empty")
        if not self.data_dir:
            raise ConfigError("--data-dir must not be empty")
        self._validate_urls()
        self._validate_limits()

    def _validate_urls(self) -> None:
        if self.name not in self.initial_cluster:
            raise ConfigError(f"--initial-cluster has no member named {self.name!r}")
        if sorted(self.initial_cluster[self.name]) != sorted(self.advertise_peer_urls):
            raise ConfigError(
                f"--initial-cluster gives {self.name!r} the peer URLs "
                f"{','.join(self.initial_cluster[self.name])}, but "
                f"--initial-advertise-peer-urls says {','.join(self.advertise_peer_urls)}"
            )
        for name, urls in self.initial_cluster.items():
            if not urls:
                raise ConfigError(f"--initial-cluster: member {name!r} has no peer URL")
            for url in urls:
                host_port(url, "--initial-cluster")
        if len(self.listen_peer_urls) != 1:
            raise ConfigError("--listen-peer-urls: give exactly one URL")
        host_port(self.listen_peer_urls[0], "--listen-peer-urls")
        for url in self.advertise_client_urls:
            host_port(url, "--advertise-client-urls")

    def _validate_limits(self) -> None:
        if not 1 <= self.heartbeat_ms <= 60_000:
            raise ConfigError(f"--heartbeat-interval {self.heartbeat_ms} ms is out of range")
        if self.election_ms < 5 * self.heartbeat_ms:
            raise ConfigError(
                f"--election-timeout ({self.election_ms} ms) must be at least 5 times "
                f"--heartbeat-interval ({self.heartbeat_ms} ms)"
            )
        if self.snapshot_entries < 1:
            raise ConfigError("--snapshot-count must be at least 1")
        if self.max_request_bytes < 1024:
            raise ConfigError("--max-request-bytes must be at least 1024")
        if self.quota_backend_bytes < 1 << 20:
            raise ConfigError("--quota-backend-bytes must be at least 1 MiB")
        if not self.cluster_token:
            raise ConfigError("--initial-cluster-token must not be empty")

    @property
    def node_id(self) -> NodeId:
        return member_id(self.advertise_peer_urls, self.cluster_token)

    @property
    def cluster_id(self) -> int:
        return cluster_id([member.node_id for member in self.members])

    @property
    def election_ticks(self) -> int:
        return self.election_ms // self.heartbeat_ms
