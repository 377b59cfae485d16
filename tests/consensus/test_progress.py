from synod.consensus.raft.progress import Inflights, Progress, ProgressState
from synod.core.ids import LogIndex


def new_progress(next_index: int = 5, inflight: int = 2) -> Progress:
    return Progress(LogIndex(next_index), Inflights(inflight))


def test_probe_pauses_after_one_message_until_answered() -> None:
    progress = new_progress()
    assert not progress.paused()
    progress.sent_entries(LogIndex(7))
    assert progress.paused()
    assert progress.next == 5  # probing does not advance optimistically
    assert progress.maybe_update(LogIndex(7))
    assert not progress.paused()


def test_replicate_streams_within_the_inflight_window() -> None:
    progress = new_progress()
    progress.match = LogIndex(4)
    progress.become_replicate()
    progress.sent_entries(LogIndex(6))
    progress.sent_entries(LogIndex(8))
    assert progress.next == 9
    assert progress.paused()
    progress.inflights.free_up_to(LogIndex(6))
    assert not progress.paused()


def test_stale_rejections_are_ignored() -> None:
    progress = new_progress()
    progress.match = LogIndex(4)
    progress.become_replicate()
    assert not progress.maybe_decrease_to(LogIndex(3), LogIndex(0))
    assert progress.maybe_decrease_to(LogIndex(8), LogIndex(0))
    assert progress.next == 5


def test_probe_backs_off_to_the_hint_but_never_below_match() -> None:
    progress = new_progress(next_index=10)
    progress.match = LogIndex(2)
    assert progress.maybe_decrease_to(LogIndex(9), LogIndex(4))
    assert progress.next == 5
    assert not progress.maybe_decrease_to(LogIndex(9), LogIndex(1))  # no longer what we sent
    assert progress.maybe_decrease_to(LogIndex(4), LogIndex(0))
    assert progress.next == 3


def test_snapshot_state_waits_then_probes_after_the_snapshot() -> None:
    progress = new_progress(next_index=3)
    progress.become_snapshot(LogIndex(20))
    assert progress.paused()
    assert progress.state is ProgressState.SNAPSHOT
    progress.become_probe()
    assert progress.next == 21
