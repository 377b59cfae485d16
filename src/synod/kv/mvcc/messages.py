"""Requests and responses of etcd's KV service, as frozen slotted dataclasses.

Field names and defaults follow etcd's rpc.proto so the API layer maps them one to one. Each
response carries ``revision``: the header revision etcd would report. Keys and values are bytes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class SortOrder(enum.IntEnum):
    NONE = 0
    ASCEND = 1
    DESCEND = 2


class SortTarget(enum.IntEnum):
    KEY = 0
    VERSION = 1
    CREATE = 2
    MOD = 3
    VALUE = 4


class CompareResult(enum.IntEnum):
    EQUAL = 0
    GREATER = 1
    LESS = 2
    NOT_EQUAL = 3


class CompareTarget(enum.IntEnum):
    VERSION = 0
    CREATE = 1
    MOD = 2
    VALUE = 3
    LEASE = 4


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One version of a key. ``version`` counts puts since creation; ``lease`` 0 means none."""

    key: bytes
    create_revision: int
    mod_revision: int
    version: int
    value: bytes
    lease: int = 0


@dataclass(frozen=True, slots=True)
class RangeRequest:
    key: bytes
    range_end: bytes = b""
    limit: int = 0
    revision: int = 0
    sort_order: SortOrder = SortOrder.NONE
    sort_target: SortTarget = SortTarget.KEY
    serializable: bool = False
    keys_only: bool = False
    count_only: bool = False
    min_mod_revision: int = 0
    max_mod_revision: int = 0
    min_create_revision: int = 0
    max_create_revision: int = 0


@dataclass(frozen=True, slots=True)
class RangeResponse:
    revision: int
    kvs: tuple[KeyValue, ...]
    more: bool
    count: int


@dataclass(frozen=True, slots=True)
class PutRequest:
    key: bytes
    value: bytes = b""
    lease: int = 0
    prev_kv: bool = False
    ignore_value: bool = False
    ignore_lease: bool = False


@dataclass(frozen=True, slots=True)
class PutResponse:
    revision: int
    prev_kv: KeyValue | None = None


@dataclass(frozen=True, slots=True)
class DeleteRangeRequest:
    key: bytes
    range_end: bytes = b""
    prev_kv: bool = False


@dataclass(frozen=True, slots=True)
class DeleteRangeResponse:
    revision: int
    deleted: int
    prev_kvs: tuple[KeyValue, ...] = ()


@dataclass(frozen=True, slots=True)
class Compare:
    """``operand`` is the oneof member: bytes for VALUE, an int for the other targets.

    A member of the wrong kind counts as absent (0 or empty bytes), as in etcd.
    """

    key: bytes
    target: CompareTarget
    result: CompareResult
    operand: int | bytes = 0
    range_end: bytes = b""


@dataclass(frozen=True, slots=True)
class EmptyOp:
    """A RequestOp with no member set (etcd answers it with "key not found")."""


@dataclass(frozen=True, slots=True)
class TxnRequest:
    compare: tuple[Compare, ...] = ()
    success: tuple[RequestOp, ...] = ()
    failure: tuple[RequestOp, ...] = ()


@dataclass(frozen=True, slots=True)
class TxnResponse:
    revision: int
    succeeded: bool
    responses: tuple[ResponseOp, ...]


RequestOp = RangeRequest | PutRequest | DeleteRangeRequest | TxnRequest | EmptyOp
ResponseOp = RangeResponse | PutResponse | DeleteRangeResponse | TxnResponse


@dataclass(frozen=True, slots=True)
class CompactionRequest:
    revision: int
    physical: bool = False


@dataclass(frozen=True, slots=True)
class CompactionResponse:
    revision: int


@dataclass(frozen=True, slots=True)
class HashKvResponse:
    """A digest of the keyspace history up to ``hash_revision`` (see ``MvccStore.hash_kv``)."""

    revision: int
    hash: bytes
    hash_revision: int
    compact_revision: int


@dataclass(frozen=True, slots=True)
class LeaseGrantRequest:
    """``id`` 0 lets the store pick one."""

    ttl_seconds: int
    id: int = 0


@dataclass(frozen=True, slots=True)
class LeaseGrantResponse:
    revision: int
    id: int
    ttl_seconds: int


@dataclass(frozen=True, slots=True)
class LeaseRevokeRequest:
    """Also the command that expires a lease: the shell proposes it when the deadline passes."""

    id: int


@dataclass(frozen=True, slots=True)
class LeaseRevokeResponse:
    revision: int


@dataclass(frozen=True, slots=True)
class LeaseKeepAliveRequest:
    id: int


@dataclass(frozen=True, slots=True)
class LeaseKeepAliveResponse:
    """``ttl_seconds`` is the granted TTL, or 0 when the lease does not exist."""

    revision: int
    id: int
    ttl_seconds: int


@dataclass(frozen=True, slots=True)
class LeaseTimeToLiveRequest:
    id: int
    keys: bool = False


@dataclass(frozen=True, slots=True)
class LeaseTimeToLiveResponse:
    """``ttl_seconds`` -1 when the lease does not exist; else the granted TTL (the remaining
    time needs a clock, so the shell fills it in)."""

    revision: int
    id: int
    ttl_seconds: int
    granted_ttl_seconds: int
    keys: tuple[bytes, ...] = ()


class EventType(enum.IntEnum):
    PUT = 0
    DELETE = 1


@dataclass(frozen=True, slots=True)
class Event:
    """A change as a watcher sees it. A DELETE's ``kv`` holds only the key and the revision of
    the delete; ``prev_kv`` is the version it replaced, when history still holds it."""

    type: EventType
    kv: KeyValue
    prev_kv: KeyValue | None = None
