"""etcd's MVCC keyspace: revisions, history, Range, Put, DeleteRange, Txn, Compact, leases;
served from memory, persisted through a ``Backend``, and carried whole in snapshots.

Rules: pure and deterministic. Import only ``synod.core``, this package and the standard
library's pure parts; no clock, randomness or I/O. The same requests in the same order give the
same responses, the same history and the same ``hash_kv`` bytes on every replica. Requests are
checked explicitly and refused with typed errors carrying etcd's texts (``errors``); assertions
state the store's own invariants only.

Modules, bottom up: ``revision`` (main/sub revisions), ``keyrange`` (etcd's key-range rules),
``index`` (key -> generations of revisions), ``keyspace`` (history of values), ``reads`` (Range),
``txn`` (txn checks and compares), ``writer`` (one write transaction), ``lessor`` (lease IDs and
TTLs, no clock), ``watch`` (history replay), ``encoding`` (records as bytes, etcd's bucket
layout), ``backend`` (the persistence seam, ``MemoryBackend``), ``journal`` (changes pending a
flush), ``state`` (the whole store as records and back), ``snapshot`` (the checksummed snapshot
format), ``store`` (the requests, flush, open, snapshot and restore).
"""

from synod.kv.mvcc.backend import Backend, Batch, MemoryBackend
from synod.kv.mvcc.encoding import StateCorrupt
from synod.kv.mvcc.errors import (
    Compacted,
    DuplicateKey,
    FutureRevision,
    KeyNotFound,
    KeyNotProvided,
    LeaseExists,
    LeaseNotFound,
    LeaseProvided,
    LeaseTtlTooLarge,
    MvccError,
    TooManyOperations,
    ValueProvided,
)
from synod.kv.mvcc.keyrange import FROM_KEY, prefix_end
from synod.kv.mvcc.lessor import LEASE_TTL_SECONDS_MAX
from synod.kv.mvcc.messages import (
    CompactionRequest,
    CompactionResponse,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    DeleteRangeResponse,
    EmptyOp,
    Event,
    EventType,
    HashKvResponse,
    KeyValue,
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseKeepAliveRequest,
    LeaseKeepAliveResponse,
    LeaseRevokeRequest,
    LeaseRevokeResponse,
    LeaseTimeToLiveRequest,
    LeaseTimeToLiveResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    RequestOp,
    ResponseOp,
    SortOrder,
    SortTarget,
    TxnRequest,
    TxnResponse,
)
from synod.kv.mvcc.snapshot import (
    SnapshotChecksumMismatch,
    SnapshotNotRecognized,
    SnapshotTruncated,
    SnapshotVersionUnsupported,
)
from synod.kv.mvcc.store import TXN_OPS_MAX_DEFAULT, AppliedIndexRegressed, MvccLimits, MvccStore

__all__ = [
    "FROM_KEY",
    "LEASE_TTL_SECONDS_MAX",
    "TXN_OPS_MAX_DEFAULT",
    "AppliedIndexRegressed",
    "Backend",
    "Batch",
    "Compacted",
    "CompactionRequest",
    "CompactionResponse",
    "Compare",
    "CompareResult",
    "CompareTarget",
    "DeleteRangeRequest",
    "DeleteRangeResponse",
    "DuplicateKey",
    "EmptyOp",
    "Event",
    "EventType",
    "FutureRevision",
    "HashKvResponse",
    "KeyNotFound",
    "KeyNotProvided",
    "KeyValue",
    "LeaseExists",
    "LeaseGrantRequest",
    "LeaseGrantResponse",
    "LeaseKeepAliveRequest",
    "LeaseKeepAliveResponse",
    "LeaseNotFound",
    "LeaseProvided",
    "LeaseRevokeRequest",
    "LeaseRevokeResponse",
    "LeaseTimeToLiveRequest",
    "LeaseTimeToLiveResponse",
    "LeaseTtlTooLarge",
    "MemoryBackend",
    "MvccError",
    "MvccLimits",
    "MvccStore",
    "PutRequest",
    "PutResponse",
    "RangeRequest",
    "RangeResponse",
    "RequestOp",
    "ResponseOp",
    "SnapshotChecksumMismatch",
    "SnapshotNotRecognized",
    "SnapshotTruncated",
    "SnapshotVersionUnsupported",
    "SortOrder",
    "SortTarget",
    "StateCorrupt",
    "TooManyOperations",
    "TxnRequest",
    "TxnResponse",
    "ValueProvided",
    "prefix_end",
]
