"""Response headers, keys and watch events between protobuf and ``synod.kv.mvcc``.

Rules:
- A response header carries the node's ``ServerIdentity`` (cluster, member, raft term) and the
  revision the response was served from. Responses nested in a TxnResponse carry only the
  revision, as in etcd: pass ``identity=None`` for those.
- Enum values outside etcd's protos are refused with ``UnknownEnumValue`` rather than guessed.
- Conversions copy every field; nothing is dropped on the way in either direction.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeVar

from synod.api.errors import UnknownEnumValue
from synod.api.gen.etcdserverpb import rpc_pb2
from synod.api.gen.mvccpb import kv_pb2
from synod.kv import mvcc

UINT64_MAX = (1 << 64) - 1

E = TypeVar("E", bound=enum.IntEnum)


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    """What every full response header says about the node that answered."""

    cluster_id: int
    member_id: int
    raft_term: int

    def __post_init__(self) -> None:
        for name in ("cluster_id", "member_id", "raft_term"):
            value = getattr(self, name)
            if not 0 <= value <= UINT64_MAX:
                raise ValueError(f"{name} must fit in a uint64, not {value}")


def header_to_pb(revision: int, identity: ServerIdentity | None) -> rpc_pb2.ResponseHeader:
    if identity is None:
        return rpc_pb2.ResponseHeader(revision=revision)
    return rpc_pb2.ResponseHeader(
        cluster_id=identity.cluster_id,
        member_id=identity.member_id,
        revision=revision,
        raft_term=identity.raft_term,
    )


def identity_from_pb(header: rpc_pb2.ResponseHeader) -> ServerIdentity:
    return ServerIdentity(header.cluster_id, header.member_id, header.raft_term)


def enum_from_pb(kind: type[E], value: int, field: str) -> E:
    """The IntEnum member for a wire value; values etcd's protos do not define are refused."""
    try:
        return kind(value)
    except ValueError:
        raise UnknownEnumValue(field, value) from None


def key_value_to_pb(kv: mvcc.KeyValue) -> kv_pb2.KeyValue:
    return kv_pb2.KeyValue(
        key=kv.key,
        create_revision=kv.create_revision,
        mod_revision=kv.mod_revision,
        version=kv.version,
        value=kv.value,
        lease=kv.lease,
    )


def key_value_from_pb(kv: kv_pb2.KeyValue) -> mvcc.KeyValue:
    return mvcc.KeyValue(
        key=kv.key,
        create_revision=kv.create_revision,
        mod_revision=kv.mod_revision,
        version=kv.version,
        value=kv.value,
        lease=kv.lease,
    )


def event_to_pb(event: mvcc.Event) -> kv_pb2.Event:
    message = kv_pb2.Event(
        type=kv_pb2.Event.EventType.ValueType(event.type), kv=key_value_to_pb(event.kv)
    )
    if event.prev_kv is not None:
        message.prev_kv.CopyFrom(key_value_to_pb(event.prev_kv))
    return message


def event_from_pb(event: kv_pb2.Event) -> mvcc.Event:
    prev_kv = key_value_from_pb(event.prev_kv) if event.HasField("prev_kv") else None
    return mvcc.Event(
        type=enum_from_pb(mvcc.EventType, event.type, "Event.type"),
        kv=key_value_from_pb(event.kv),
        prev_kv=prev_kv,
    )
