"""Watch streams and the hub that feeds them, over an in-memory keyspace (no network).

Each test drives the keyspace directly, tells the hub a batch applied (as ``Node.on_apply``
does), and reads what the stream queued for the client, in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from synod.api.convert import ServerIdentity
from synod.api.errors import NoLeader
from synod.api.gen.etcdserverpb import rpc_pb2
from synod.api.gen.mvccpb import kv_pb2
from synod.api.watch_service import (
    DUPLICATE_ID,
    RANGE_EMPTY,
    WatchHub,
    WatchLimits,
    WatchStream,
)
from synod.core.errors import ConfigError
from synod.kv.mvcc import (
    CompactionRequest,
    DeleteRangeRequest,
    Event,
    LeaseGrantRequest,
    LeaseRevokeRequest,
    MvccStore,
    PutRequest,
)

IDENTITY = ServerIdentity(cluster_id=7, member_id=8, raft_term=2)
PUT = kv_pb2.Event.PUT
DELETE = kv_pb2.Event.DELETE


class CountingStore(MvccStore):
    """A keyspace that counts history reads."""

    history_reads = 0

    def history(self, key: bytes, range_end: bytes, start_revision: int) -> list[Event]:
        self.history_reads += 1
        return super().history(key, range_end, start_revision)


@dataclass
class Harness:
    store: CountingStore = field(default_factory=CountingStore)
    hub: WatchHub = field(init=False)

    def __post_init__(self) -> None:
        self.hub = WatchHub(lambda: self.store)

    def stream(self, limits: WatchLimits | None = None) -> WatchStream:
        stream = WatchStream(lambda: self.store, lambda: IDENTITY, limits or WatchLimits())
        self.hub.streams.add(stream)
        return stream

    def put(self, key: bytes, value: bytes = b"v", lease: int = 0) -> None:
        self.store.put(PutRequest(key, value, lease))
        self.hub.on_apply()

    def delete(self, key: bytes) -> None:
        self.store.delete_range(DeleteRangeRequest(key))
        self.hub.on_apply()


def create(
    stream: WatchStream,
    key: bytes,
    range_end: bytes = b"",
    start_revision: int = 0,
    watch_id: int = 0,
    *,
    prev_kv: bool = False,
    progress_notify: bool = False,
) -> None:
    stream.on_request(
        rpc_pb2.WatchRequest(
            create_request=rpc_pb2.WatchCreateRequest(
                key=key,
                range_end=range_end,
                start_revision=start_revision,
                watch_id=watch_id,
                prev_kv=prev_kv,
                progress_notify=progress_notify,
            )
        )
    )


def summary(responses: list[rpc_pb2.WatchResponse]) -> list[tuple[int, list[tuple[int, bytes]]]]:
    """(watch id, [(event type, key)]) per response."""
    return [
        (response.watch_id, [(event.type, event.kv.key) for event in response.events])
        for response in responses
    ]


def test_the_created_response_comes_first_and_ids_count_from_zero() -> None:
    harness = Harness()
    stream = harness.stream()
    create(stream, b"a")
    create(stream, b"b", watch_id=7)
    create(stream, b"c")
    create(stream, b"d", watch_id=1)
    responses = stream.take()
    assert [(r.watch_id, r.created, r.canceled) for r in responses] == [
        (0, True, False),
        (7, True, False),
        (1, True, False),
        (-1, True, True),
    ]
    assert responses[3].cancel_reason == DUPLICATE_ID
    assert responses[0].header.revision == harness.store.revision
    assert responses[0].header.member_id == IDENTITY.member_id
    create(stream, b"e")
    assert stream.take()[0].watch_id == 2


def test_an_empty_range_is_refused_and_the_stream_goes_on() -> None:
    harness = Harness()
    stream = harness.stream()
    create(stream, b"b", range_end=b"a")
    refused = stream.take()
    assert [(r.watch_id, r.created, r.canceled, r.cancel_reason) for r in refused] == [
        (-1, True, True, RANGE_EMPTY)
    ]
    create(stream, b"b", range_end=b"\x00")
    assert stream.take()[0].watch_id == 0


def test_live_events_one_response_per_revision_on_the_watched_range_only() -> None:
    harness = Harness()
    stream = harness.stream()
    create(stream, b"p/", range_end=b"p0")
    create(stream, b"k")
    stream.take()
    harness.put(b"p/a")
    harness.put(b"k")
    harness.put(b"other")
    harness.delete(b"p/a")
    assert summary(stream.take()) == [
        (0, [(PUT, b"p/a")]),
        (1, [(PUT, b"k")]),
        (0, [(DELETE, b"p/a")]),
    ]


def test_one_revision_with_many_changes_is_one_response() -> None:
    harness = Harness()
    stream = harness.stream()
    harness.store.lease_grant(LeaseGrantRequest(10, 5))
    harness.put(b"x/1", lease=5)
    harness.put(b"x/2", lease=5)
    create(stream, b"x/", range_end=b"x0")
    stream.take()
    harness.store.lease_revoke(LeaseRevokeRequest(5))
    harness.hub.on_apply()
    responses = stream.take()
    assert summary(responses) == [(0, [(DELETE, b"x/1"), (DELETE, b"x/2")])]
    assert responses[0].header.revision == harness.store.revision


def test_replay_then_live_with_prev_kv() -> None:
    harness = Harness()
    harness.put(b"a", b"1")
    first = harness.store.revision
    harness.put(b"a", b"2")
    harness.delete(b"a")
    stream = harness.stream()
    create(stream, b"a", start_revision=first, prev_kv=True)
    created, replay = stream.take()
    assert created.created
    assert [(e.type, e.kv.value, e.prev_kv.value) for e in replay.events] == [
        (PUT, b"1", b""),
        (PUT, b"2", b"1"),
        (DELETE, b"", b"2"),
    ]
    assert not replay.events[0].HasField("prev_kv")
    harness.put(b"a", b"3")
    (live,) = stream.take()
    assert [(e.type, e.kv.value) for e in live.events] == [(PUT, b"3")]


def test_filters_apply_to_replay_and_live_events() -> None:
    harness = Harness()
    harness.put(b"f")
    harness.delete(b"f")
    stream = harness.stream()
    create(stream, b"f", start_revision=1)
    stream.on_request(
        rpc_pb2.WatchRequest(
            create_request=rpc_pb2.WatchCreateRequest(
                key=b"f", start_revision=1, filters=[rpc_pb2.WatchCreateRequest.NOPUT]
            )
        )
    )
    responses = stream.take()
    events = {r.watch_id: [e.type for e in r.events] for r in responses if not r.created}
    assert events == {0: [PUT, DELETE], 1: [DELETE]}
    harness.put(b"f")
    assert summary(stream.take()) == [(0, [(PUT, b"f")])]


def test_a_compacted_start_is_created_then_cancelled_with_the_compact_revision() -> None:
    harness = Harness()
    for value in (b"1", b"2", b"3"):
        harness.put(b"c", value)
    compact_at = harness.store.revision - 1
    harness.store.compact(CompactionRequest(compact_at))
    stream = harness.stream()
    create(stream, b"c", start_revision=compact_at - 1)
    create(stream, b"c", start_revision=compact_at)
    created, cancelled, *rest = stream.take()
    assert (created.watch_id, created.created) == (0, True)
    assert (cancelled.watch_id, cancelled.canceled, cancelled.compact_revision) == (
        0,
        True,
        compact_at,
    )
    assert cancelled.header.revision == 0
    assert not cancelled.cancel_reason
    assert [r.watch_id for r in rest] == [1, 1]  # the watch at the compact revision lives
    harness.put(b"c")
    assert [r.watch_id for r in stream.take()] == [1]


def test_cancel_answers_known_ids_only_and_stops_events() -> None:
    harness = Harness()
    stream = harness.stream()
    create(stream, b"a")
    stream.take()
    stream.on_request(rpc_pb2.WatchRequest(cancel_request=rpc_pb2.WatchCancelRequest(watch_id=9)))
    assert stream.take() == []
    stream.on_request(rpc_pb2.WatchRequest(cancel_request=rpc_pb2.WatchCancelRequest(watch_id=0)))
    (cancelled,) = stream.take()
    assert (cancelled.watch_id, cancelled.canceled) == (0, True)
    assert cancelled.header.revision == harness.store.revision
    harness.put(b"a")
    assert stream.take() == []


def test_progress_request_and_progress_notifications() -> None:
    harness = Harness()
    stream = harness.stream()
    create(stream, b"quiet", progress_notify=True)
    create(stream, b"busy", progress_notify=True)
    create(stream, b"silent")
    stream.take()
    stream.on_request(rpc_pb2.WatchRequest(progress_request=rpc_pb2.WatchProgressRequest()))
    (progress,) = stream.take()
    assert (progress.watch_id, progress.header.revision) == (-1, harness.store.revision)
    stream.on_progress_tick()
    assert [(r.watch_id, len(r.events)) for r in stream.take()] == [(0, 0), (1, 0)]
    harness.put(b"busy")
    stream.take()
    stream.on_progress_tick()
    notified = stream.take()
    assert [r.watch_id for r in notified] == [0]
    assert notified[0].header.revision == harness.store.revision


def test_a_future_start_revision_waits_for_it() -> None:
    harness = Harness()
    stream = harness.stream()
    create(stream, b"a", start_revision=harness.store.revision + 2)
    stream.take()
    harness.put(b"a", b"early")
    assert stream.take() == []
    harness.put(b"a", b"due")
    (response,) = stream.take()
    assert [e.kv.value for e in response.events] == [b"due"]


def test_a_watcher_behind_a_full_queue_catches_up_in_order() -> None:
    harness = Harness()
    stream = harness.stream(WatchLimits(responses_queued_max=2))
    create(stream, b"q")
    for number in range(6):
        harness.put(b"q", b"%d" % number)
    seen: list[bytes] = []
    for _ in range(10):
        taken = stream.take()
        if not taken:
            break
        seen += [event.kv.value for response in taken for event in response.events]
    assert seen == [b"%d" % number for number in range(6)]
    harness.put(b"q", b"live")
    assert [e.kv.value for r in stream.take() for e in r.events] == [b"live"]


def test_history_is_read_once_per_batch_for_many_watchers_of_one_range() -> None:
    harness = Harness()
    streams = [harness.stream() for _ in range(20)]
    for stream in streams:
        create(stream, b"shared/", range_end=b"shared0")
        stream.take()
    before = harness.store.history_reads
    harness.put(b"shared/x")
    assert harness.store.history_reads == before + 1
    assert all(summary(stream.take()) == [(0, [(PUT, b"shared/x")])] for stream in streams)


def test_a_compaction_in_the_same_batch_cancels_watchers_that_missed_history() -> None:
    harness = Harness()
    stream = harness.stream()
    create(stream, b"z")
    stream.take()
    harness.store.put(PutRequest(b"z"))
    harness.store.put(PutRequest(b"z"))
    harness.store.compact(CompactionRequest(harness.store.revision))
    harness.hub.on_apply()
    (cancelled,) = stream.take()
    assert (cancelled.canceled, cancelled.compact_revision) == (True, harness.store.revision)


def test_unknown_requests_and_filter_values_are_ignored_as_etcd_does() -> None:
    harness = Harness()
    stream = harness.stream()
    stream.on_request(rpc_pb2.WatchRequest())
    assert stream.take() == []
    unknown_filter = rpc_pb2.WatchCreateRequest.FilterType.ValueType(9)
    request = rpc_pb2.WatchCreateRequest(key=b"u", filters=[unknown_filter])
    stream.on_request(rpc_pb2.WatchRequest(create_request=request))
    assert stream.take()[0].created
    harness.put(b"u")
    assert summary(stream.take()) == [(0, [(PUT, b"u")])]


def test_a_failed_stream_raises_its_error_to_the_sender() -> None:
    stream = Harness().stream()
    create(stream, b"a")
    stream.fail(NoLeader())
    with pytest.raises(NoLeader):
        stream.take()


@pytest.mark.parametrize(
    "limits",
    [
        {"progress_notify_interval_s": 0.0},
        {"fragment_threshold_bytes": 0},
        {"responses_queued_max": 0},
    ],
)
def test_limits_must_be_positive(limits: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        WatchLimits(**limits)  # type: ignore[arg-type]


class BrokenStore(MvccStore):
    def history(self, key: bytes, range_end: bytes, start_revision: int) -> list[Event]:
        raise RuntimeError("history is unreadable")


def test_a_fault_in_the_fan_out_is_logged_not_raised_into_the_apply_step(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = BrokenStore()
    hub = WatchHub(lambda: store)
    stream = WatchStream(lambda: store, lambda: IDENTITY, WatchLimits())
    hub.streams.add(stream)
    create(stream, b"a")
    store.put(PutRequest(b"a"))
    hub.on_apply()
    assert "watch fan-out failed" in caplog.text
