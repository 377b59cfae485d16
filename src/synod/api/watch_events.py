"""What one watcher is sent: its events filtered, grouped by revision, and cut into responses.

Rules (etcd 3.4, reference 2.3):
- Filters drop PUT events (NOPUT) or DELETE events (NODELETE) before anything is sent; a
  revision whose events were all dropped sends nothing.
- ``prev_kv`` is attached only for watchers that asked for it.
- Events of one revision stay in one response, in sub-revision order. Live events go out one
  response per revision; a replay may put up to ``revisions_max`` revisions in one response.
- A response is split only for a watcher that allowed it (``fragment``), only when it has two
  events or more and its encoded size reaches the limit. Every part but the last is marked
  ``fragment``; each part holds at least one event.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from synod.api.gen.etcdserverpb import rpc_pb2
from synod.kv.mvcc import Event, EventType

REPLAY_REVISIONS_MAX = 1000
"""Revisions one replay response may hold (etcd's watchBatchMaxRevs)."""


@dataclass(frozen=True, slots=True)
class EventFilter:
    no_put: bool = False
    no_delete: bool = False
    prev_kv: bool = False

    def select(self, events: Iterable[Event]) -> list[Event]:
        """The events this watcher is sent, ``prev_kv`` kept only when asked for."""
        chosen: list[Event] = []
        for event in events:
            if event.type is EventType.PUT and self.no_put:
                continue
            if event.type is EventType.DELETE and self.no_delete:
                continue
            if not self.prev_kv and event.prev_kv is not None:
                chosen.append(dataclasses.replace(event, prev_kv=None))
            else:
                chosen.append(event)
        return chosen


def by_revision(events: Sequence[Event]) -> list[list[Event]]:
    """Consecutive events of one revision together; events must come in revision order."""
    groups: list[list[Event]] = []
    for event in events:
        revision = event.kv.mod_revision
        if groups and groups[-1][0].kv.mod_revision == revision:
            groups[-1].append(event)
        else:
            assert not groups or groups[-1][0].kv.mod_revision < revision, "out of order"
            groups.append([event])
    return groups


def batches(groups: Sequence[list[Event]], revisions_max: int) -> list[list[Event]]:
    """Whole revisions, at most ``revisions_max`` of them per batch, in order."""
    assert revisions_max >= 1
    return [
        [event for group in groups[start : start + revisions_max] for event in group]
        for start in range(0, len(groups), revisions_max)
    ]


def _varint_bytes(value: int) -> int:
    size = 1
    while value >= 0x80:
        value >>= 7
        size += 1
    return size


def _event_field_bytes(response: rpc_pb2.WatchResponse) -> list[int]:
    """The encoded size each event adds to its response (tag, length, body)."""
    sizes = []
    for message in response.events:
        body = message.ByteSize()
        sizes.append(1 + _varint_bytes(body) + body)
    return sizes


def fragments(response: rpc_pb2.WatchResponse, limit_bytes: int) -> list[rpc_pb2.WatchResponse]:
    """``response`` cut into parts below ``limit_bytes`` where it can be (see the rules)."""
    if len(response.events) < 2 or response.ByteSize() < limit_bytes:
        return [response]
    sizes = _event_field_bytes(response)
    shell = rpc_pb2.WatchResponse()
    shell.CopyFrom(response)
    del shell.events[:]
    shell.fragment = True
    base_bytes = shell.ByteSize()
    parts: list[rpc_pb2.WatchResponse] = []
    start = 0
    while start < len(sizes):
        end, total = start + 1, base_bytes + sizes[start]
        while end < len(sizes) and total + sizes[end] < limit_bytes:
            total += sizes[end]
            end += 1
        part = rpc_pb2.WatchResponse()
        part.CopyFrom(shell)
        part.events.extend(response.events[start:end])
        part.fragment = end < len(sizes)
        parts.append(part)
        start = end
    assert sum(len(part.events) for part in parts) == len(response.events)
    return parts
