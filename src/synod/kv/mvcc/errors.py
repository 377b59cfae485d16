"""Typed errors with etcd's exact texts: clients match etcd errors by message, so the words matter.

``code`` is the gRPC status name the API layer will answer with.
"""

from __future__ import annotations

from typing import ClassVar

from synod.core.errors import SynodError


class MvccError(SynodError):
    """A request the keyspace refuses; every replica refuses it the same way."""

    message: ClassVar[str] = "etcdserver: mvcc error"
    code: ClassVar[str] = "UNKNOWN"

    def __init__(self) -> None:
        super().__init__(self.message)


class KeyNotProvided(MvccError):
    message = "etcdserver: key is not provided"
    code = "INVALID_ARGUMENT"


class KeyNotFound(MvccError):
    message = "etcdserver: key not found"
    code = "INVALID_ARGUMENT"


class ValueProvided(MvccError):
    message = "etcdserver: value is provided"
    code = "INVALID_ARGUMENT"


class LeaseProvided(MvccError):
    message = "etcdserver: lease is provided"
    code = "INVALID_ARGUMENT"


class TooManyOperations(MvccError):
    message = "etcdserver: too many operations in txn request"
    code = "INVALID_ARGUMENT"


class DuplicateKey(MvccError):
    message = "etcdserver: duplicate key given in txn request"
    code = "INVALID_ARGUMENT"


class Compacted(MvccError):
    message = "etcdserver: mvcc: required revision has been compacted"
    code = "OUT_OF_RANGE"


class FutureRevision(MvccError):
    message = "etcdserver: mvcc: required revision is a future revision"
    code = "OUT_OF_RANGE"


class LeaseNotFound(MvccError):
    message = "etcdserver: requested lease not found"
    code = "NOT_FOUND"


class LeaseExists(MvccError):
    message = "etcdserver: lease already exists"
    code = "FAILED_PRECONDITION"


class LeaseTtlTooLarge(MvccError):
    message = "etcdserver: too large lease TTL"
    code = "OUT_OF_RANGE"
