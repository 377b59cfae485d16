"""The pure parts of watching: filters, grouping by revision, replay batches, fragments."""

from __future__ import annotations

import pytest

from synod.api.convert import event_to_pb, header_to_pb
from synod.api.gen.etcdserverpb import rpc_pb2
from synod.api.watch_events import EventFilter, batches, by_revision, fragments
from synod.kv.mvcc import Event, EventType, KeyValue


def put(key: bytes, revision: int, value: bytes = b"v", prev: KeyValue | None = None) -> Event:
    return Event(EventType.PUT, KeyValue(key, revision, revision, 1, value), prev)


def delete(key: bytes, revision: int, prev: KeyValue | None = None) -> Event:
    return Event(EventType.DELETE, KeyValue(key, 0, revision, 0, b""), prev)


OLD = KeyValue(b"a", 2, 2, 1, b"old")
EVENTS = [put(b"a", 3, prev=OLD), delete(b"a", 4, prev=OLD), put(b"b", 5)]


@pytest.mark.parametrize(
    ("event_filter", "kept"),
    [
        (EventFilter(), [EventType.PUT, EventType.DELETE, EventType.PUT]),
        (EventFilter(no_put=True), [EventType.DELETE]),
        (EventFilter(no_delete=True), [EventType.PUT, EventType.PUT]),
        (EventFilter(no_put=True, no_delete=True), []),
    ],
)
def test_filters_drop_the_named_event_types(
    event_filter: EventFilter, kept: list[EventType]
) -> None:
    assert [event.type for event in event_filter.select(EVENTS)] == kept


def test_prev_kv_is_kept_only_when_asked_for() -> None:
    assert all(event.prev_kv is None for event in EventFilter().select(EVENTS))
    with_prev = EventFilter(prev_kv=True).select(EVENTS)
    assert [event.prev_kv for event in with_prev] == [OLD, OLD, None]


def test_events_group_by_revision_in_order() -> None:
    events = [put(b"a", 3), put(b"b", 3), delete(b"c", 4), put(b"a", 6), put(b"z", 6)]
    groups = by_revision(events)
    assert [[event.kv.key for event in group] for group in groups] == [
        [b"a", b"b"],
        [b"c"],
        [b"a", b"z"],
    ]


def test_out_of_order_events_are_a_bug() -> None:
    with pytest.raises(AssertionError):
        by_revision([put(b"a", 5), put(b"a", 4)])


def test_batches_keep_revisions_whole() -> None:
    groups = by_revision([put(b"a", 2), put(b"b", 2), put(b"a", 3), put(b"a", 4), put(b"b", 4)])
    cut = batches(groups, 2)
    assert [[event.kv.mod_revision for event in batch] for batch in cut] == [[2, 2, 3], [4, 4]]
    assert batches(groups, 1000) == [[event for group in groups for event in group]]
    assert batches([], 3) == []


def response_of(count: int, value_bytes: int) -> rpc_pb2.WatchResponse:
    return rpc_pb2.WatchResponse(
        header=header_to_pb(9, None),
        watch_id=4,
        events=[event_to_pb(put(b"k%d" % n, 2 + n, b"x" * value_bytes)) for n in range(count)],
    )


def test_a_small_response_or_a_single_event_is_never_split() -> None:
    small = response_of(3, 10)
    assert fragments(small, small.ByteSize() + 1) == [small]
    single = response_of(1, 5000)
    assert fragments(single, 100) == [single]


def test_a_large_response_is_split_below_the_limit_and_marked() -> None:
    response = response_of(10, 1000)
    limit = 3500
    parts = fragments(response, limit)
    assert len(parts) > 1
    assert [part.fragment for part in parts] == [True] * (len(parts) - 1) + [False]
    rejoined = [event for part in parts for event in part.events]
    assert rejoined == list(response.events)
    for part in parts:
        assert part.events
        assert part.watch_id == 4
        assert part.header.revision == 9
        assert part.ByteSize() < limit


def test_an_event_larger_than_the_limit_travels_alone() -> None:
    response = response_of(3, 5000)
    parts = fragments(response, 1000)
    assert [len(part.events) for part in parts] == [1, 1, 1]
    assert [part.fragment for part in parts] == [True, True, False]
