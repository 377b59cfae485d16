"""etcd's MVCC keyspace, in memory: revisions, history, Range, Put, DeleteRange, Txn, Compact,
leases.

Rules: pure and deterministic. Import only ``synod.core``, this package and the standard
library's pure parts; no clock, randomness or I/O. The same requests in the same order give the
same responses, the same history and the same ``hash_kv`` bytes on every replica. Requests are
checked explicitly and refused with typed errors carrying etcd's texts (``errors``); assertions
state the store's own invariants only.

Modules, bottom up: ``revision`` (main/sub revisions), ``keyrange`` (etcd's key-range rules),
``index`` (key -> generations of revisions), ``keyspace`` (history of values), ``reads`` (Range),
``txn`` (txn checks and compares), ``writer`` (one write transaction), ``lessor`` (lease IDs and
TTLs, no clock), ``store`` (the requests).
"""

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
from synod.kv.mvcc.store import TXN_OPS_MAX_DEFAULT, MvccLimits, MvccStore

__all__ = [
    "FROM_KEY",
    "LEASE_TTL_SECONDS_MAX",
    "TXN_OPS_MAX_DEFAULT",
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
    "MvccError",
    "MvccLimits",
    "MvccStore",
    "PutRequest",
    "PutResponse",
    "RangeRequest",
    "RangeResponse",
    "RequestOp",
    "ResponseOp",
    "SortOrder",
    "SortTarget",
    "TooManyOperations",
    "TxnRequest",
    "TxnResponse",
    "ValueProvided",
    "prefix_end",
]
