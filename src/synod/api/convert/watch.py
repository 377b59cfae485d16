"""etcd's Watch messages: a create request in, responses out.

Rules (etcd 3.4, reference 2.3):
- An empty ``key`` means the key "\\x00"; ``range_end`` keeps Range's meaning ("\\x00": every
  key from ``key`` on; empty: ``key`` alone).
- ``watch_id`` 0 asks the server to choose one. Filters are NOPUT and NODELETE; etcd ignores
  any other value, and so does this.
- Every response carries a full header. A watch cancelled because its start revision was
  compacted says so with ``compact_revision`` and a header revision of 0, as etcd's does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from synod.api.convert.common import ServerIdentity, event_to_pb, header_to_pb
from synod.api.gen.etcdserverpb import rpc_pb2
from synod.api.watch_events import EventFilter
from synod.kv.mvcc import Event

NO_WATCH_ID = -1
"""The watch id of responses that belong to no watch (a failed create, a progress reply)."""


@dataclass(frozen=True, slots=True)
class WatchSpec:
    """One WatchCreateRequest, read."""

    key: bytes
    range_end: bytes
    start_revision: int
    watch_id: int
    progress_notify: bool
    fragment: bool
    filter: EventFilter

    @property
    def range_is_empty(self) -> bool:
        """etcd refuses a range whose end is not after its start ("\\x00" is not an end)."""
        return self.range_end not in (b"", b"\x00") and self.range_end <= self.key


def watch_spec_from_pb(request: rpc_pb2.WatchCreateRequest) -> WatchSpec:
    no_put = no_delete = False
    for value in request.filters:
        if value == rpc_pb2.WatchCreateRequest.NOPUT:
            no_put = True
        elif value == rpc_pb2.WatchCreateRequest.NODELETE:
            no_delete = True
    return WatchSpec(
        key=request.key or b"\x00",
        range_end=request.range_end,
        start_revision=request.start_revision,
        watch_id=request.watch_id,
        progress_notify=request.progress_notify,
        fragment=request.fragment,
        filter=EventFilter(no_put=no_put, no_delete=no_delete, prev_kv=request.prev_kv),
    )


def created_to_pb(watch_id: int, revision: int, identity: ServerIdentity) -> rpc_pb2.WatchResponse:
    return rpc_pb2.WatchResponse(
        header=header_to_pb(revision, identity), watch_id=watch_id, created=True
    )


def create_failed_to_pb(
    reason: str, revision: int, identity: ServerIdentity
) -> rpc_pb2.WatchResponse:
    return rpc_pb2.WatchResponse(
        header=header_to_pb(revision, identity),
        watch_id=NO_WATCH_ID,
        created=True,
        canceled=True,
        cancel_reason=reason,
    )


def canceled_to_pb(watch_id: int, revision: int, identity: ServerIdentity) -> rpc_pb2.WatchResponse:
    return rpc_pb2.WatchResponse(
        header=header_to_pb(revision, identity), watch_id=watch_id, canceled=True
    )


def compacted_to_pb(
    watch_id: int, compact_revision: int, identity: ServerIdentity
) -> rpc_pb2.WatchResponse:
    return rpc_pb2.WatchResponse(
        header=header_to_pb(0, identity),
        watch_id=watch_id,
        canceled=True,
        compact_revision=compact_revision,
    )


def events_to_pb(
    watch_id: int, revision: int, events: Iterable[Event], identity: ServerIdentity
) -> rpc_pb2.WatchResponse:
    """Events (possibly none: a progress notification) at store revision ``revision``."""
    return rpc_pb2.WatchResponse(
        header=header_to_pb(revision, identity),
        watch_id=watch_id,
        events=[event_to_pb(event) for event in events],
    )
