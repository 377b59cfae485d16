"""The byte encoding of the keyspace requests that travel through the log (and of read queries).

Layout: one version byte, then a msgpack array ``[tag, field, field, ...]`` whose fields follow
the request dataclass's field order (``_SCHEMAS``). Enums travel as their integer values, a txn
carries its compares as arrays and its ops as nested ``[tag, ...]`` arrays. The bytes are a
function of the request alone (msgpack's smallest encodings, fixed field order), so every
replica logs and hashes the same bytes for the same request.

Rules:
- Decoding never trusts the bytes: wrong version, unknown tag, wrong arity, a field of the wrong
  type, an integer outside int64, an unknown enum value, txns nested deeper than
  ``TXN_DEPTH_MAX``, trailing bytes: each raises ``CommandDecodeError``, nothing else.
- ``decode(encode(request)) == request`` for every request (Hypothesis checks it).
- ``LeaseExpireRequest`` is not a client request: the leader proposes it when its lease clock
  says a lease's deadline passed. It applies like a revoke, but only if the lease still exists.
- ``RangeRequest`` is the read query (``EtcdMachine.read``); a txn may carry ranges too.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from synod.core.errors import SynodError
from synod.kv.mvcc.messages import (
    CompactionRequest,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    EmptyOp,
    LeaseGrantRequest,
    LeaseRevokeRequest,
    PutRequest,
    RangeRequest,
    RequestOp,
    SortOrder,
    SortTarget,
    TxnRequest,
)

FORMAT_VERSION: Final = 1
TXN_DEPTH_MAX: Final = 16
"""Txns nested deeper than this are refused when decoding (etcd bounds nesting by op count)."""
_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1


class CommandDecodeError(SynodError):
    """Bytes that are not a well-formed keyspace request."""


@dataclass(frozen=True, slots=True)
class LeaseExpireRequest:
    """The leader's lease clock ran out for lease ``id``."""

    id: int


KvRequest = (
    RangeRequest
    | PutRequest
    | DeleteRangeRequest
    | TxnRequest
    | CompactionRequest
    | LeaseGrantRequest
    | LeaseRevokeRequest
    | LeaseExpireRequest
)
"""What ``encode``/``decode`` handle at the top level."""


class _Kind(enum.Enum):
    BYTES = "bytes"
    INT = "int"
    BOOL = "bool"
    OPERAND = "int or bytes"
    COMPARES = "compares"
    OPS = "ops"


FieldKind = _Kind | type[enum.IntEnum]

_B, _I, _F = _Kind.BYTES, _Kind.INT, _Kind.BOOL

_SCHEMAS: Final[dict[type[Any], tuple[FieldKind, ...]]] = {
    RangeRequest: (_B, _B, _I, _I, SortOrder, SortTarget, _F, _F, _F, _I, _I, _I, _I),
    PutRequest: (_B, _B, _I, _F, _F, _F),
    DeleteRangeRequest: (_B, _B, _F),
    TxnRequest: (_Kind.COMPARES, _Kind.OPS, _Kind.OPS),
    CompactionRequest: (_I, _F),
    LeaseGrantRequest: (_I, _I),
    LeaseRevokeRequest: (_I,),
    LeaseExpireRequest: (_I,),
    EmptyOp: (),
    Compare: (_B, CompareTarget, CompareResult, _Kind.OPERAND, _B),
}
_TAGS: Final[dict[type[Any], int]] = {
    RangeRequest: 1,
    PutRequest: 2,
    DeleteRangeRequest: 3,
    TxnRequest: 4,
    CompactionRequest: 5,
    LeaseGrantRequest: 6,
    LeaseRevokeRequest: 7,
    LeaseExpireRequest: 8,
    EmptyOp: 9,
}
_BY_TAG: Final = {tag: cls for cls, tag in _TAGS.items()}
_OP_TYPES: Final = (RangeRequest, PutRequest, DeleteRangeRequest, TxnRequest, EmptyOp)
_TOP_TYPES: Final = (
    RangeRequest,
    PutRequest,
    DeleteRangeRequest,
    TxnRequest,
    CompactionRequest,
    LeaseGrantRequest,
    LeaseRevokeRequest,
    LeaseExpireRequest,
)

for _cls, _schema in _SCHEMAS.items():
    assert len(dataclasses.fields(_cls)) == len(_schema), f"schema of {_cls.__name__}"

_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder()


_VERSION_BYTE: Final = bytes([FORMAT_VERSION])
_PUT_TAG: Final = 2


def encode(request: KvRequest) -> bytes:
    """The log bytes of ``request``."""
    if type(request) is PutRequest:  # the common case, spelled out: same bytes, less work
        r = request
        fields = [_PUT_TAG, r.key, r.value, r.lease, r.prev_kv, r.ignore_value, r.ignore_lease]
        return _VERSION_BYTE + _ENCODER.encode(fields)
    assert isinstance(request, _TOP_TYPES), f"not a keyspace request: {request!r}"
    return _VERSION_BYTE + _ENCODER.encode(_tree(request))


def decode(data: bytes) -> KvRequest:
    """The request ``data`` encodes; raises ``CommandDecodeError`` on anything malformed."""
    if not data or data[0] != FORMAT_VERSION:
        raise CommandDecodeError(f"unknown command format {data[:1]!r}")
    try:
        tree = _DECODER.decode(data[1:])
    except (msgspec.DecodeError, ValueError) as error:  # ValueError: bad UTF-8 in a str
        raise CommandDecodeError(f"command is not msgpack: {error}") from error
    put = _fast_put(tree)
    if put is not None:
        return put
    request = _node(tree, 0)
    if not isinstance(request, _TOP_TYPES):
        raise CommandDecodeError(f"{type(request).__name__} is not a top-level request")
    return request


def _fast_put(tree: object) -> PutRequest | None:
    """A well-formed put, checked field by field as ``_build`` would; None for anything else
    (which then takes the general path, and its error if malformed)."""
    if type(tree) is not list or len(tree) != 7 or tree[0] != _PUT_TAG or type(tree[0]) is not int:
        return None
    _, key, value, lease, prev_kv, ignore_value, ignore_lease = tree
    well_formed = (
        type(key) is bytes
        and type(value) is bytes
        and type(lease) is int
        and _INT64_MIN <= lease <= _INT64_MAX
        and type(prev_kv) is bool
        and type(ignore_value) is bool
        and type(ignore_lease) is bool
    )
    return (
        PutRequest(key, value, lease, prev_kv, ignore_value, ignore_lease) if well_formed else None
    )


# -- encoding -----------------------------------------------------------------------------------


def _tree(request: object) -> list[Any]:
    cls = type(request)
    return [_TAGS[cls], *_fields_tree(request)]


def _fields_tree(value: object) -> list[Any]:
    schema = _SCHEMAS[type(value)]
    names = [f.name for f in dataclasses.fields(type(value))]  # type: ignore[arg-type]
    return [
        _value_tree(kind, getattr(value, name)) for kind, name in zip(schema, names, strict=True)
    ]


def _value_tree(kind: FieldKind, value: Any) -> Any:
    if kind is _Kind.OPS:
        return [_tree(op) for op in value]
    if kind is _Kind.COMPARES:
        return [_fields_tree(compare) for compare in value]
    if isinstance(kind, type):
        return int(value)
    return value


# -- decoding -----------------------------------------------------------------------------------


def _node(tree: object, depth: int) -> object:
    """A tagged ``[tag, fields...]`` array as its request."""
    if not isinstance(tree, list) or not tree:
        raise CommandDecodeError("a request must be a non-empty array")
    tag = tree[0]
    cls = _BY_TAG.get(tag) if type(tag) is int else None
    if cls is None:
        raise CommandDecodeError(f"unknown request tag {tag!r}")
    return _build(cls, tree[1:], depth)


def _build(cls: type[Any], fields: list[Any], depth: int) -> object:
    schema = _SCHEMAS[cls]
    if len(fields) != len(schema):
        raise CommandDecodeError(
            f"{cls.__name__} needs {len(schema)} fields, the command has {len(fields)}"
        )
    if cls is TxnRequest and depth >= TXN_DEPTH_MAX:
        raise CommandDecodeError(f"txns nested deeper than {TXN_DEPTH_MAX}")
    values = [_field(kind, value, cls, depth) for kind, value in zip(schema, fields, strict=True)]
    return cls(*values)


def _field(kind: FieldKind, value: Any, owner: type[Any], depth: int) -> Any:
    where = owner.__name__
    if isinstance(kind, type):
        number = _int(value, where)
        try:
            return kind(number)
        except ValueError:
            raise CommandDecodeError(f"{where}: {number} is not a {kind.__name__}") from None
    match kind:
        case _Kind.BYTES:
            if type(value) is not bytes:
                raise CommandDecodeError(f"{where}: expected bytes, got {type(value).__name__}")
            return value
        case _Kind.INT:
            return _int(value, where)
        case _Kind.BOOL:
            if type(value) is not bool:
                raise CommandDecodeError(f"{where}: expected a bool, got {type(value).__name__}")
            return value
        case _Kind.OPERAND:
            return value if type(value) is bytes else _int(value, where)
        case _Kind.COMPARES:
            return tuple(
                _build(Compare, _array(item, where), depth) for item in _array(value, where)
            )
        case _Kind.OPS:
            return tuple(_op(item, depth + 1) for item in _array(value, where))


def _op(tree: object, depth: int) -> RequestOp:
    op = _node(tree, depth)
    if not isinstance(op, _OP_TYPES):
        raise CommandDecodeError(f"{type(op).__name__} cannot be a txn op")
    return op


def _array(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise CommandDecodeError(f"{where}: expected an array, got {type(value).__name__}")
    return value


def _int(value: object, where: str) -> int:
    if type(value) is not int:
        raise CommandDecodeError(f"{where}: expected an integer, got {type(value).__name__}")
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise CommandDecodeError(f"{where}: {value} is outside int64")
    return value
