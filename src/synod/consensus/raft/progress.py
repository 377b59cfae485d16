"""What a leader knows about each follower's log, and how it paces replication to it.

States (as in etcd-io/raft):

- PROBE: the leader does not know where the follower's log matches. It sends one
  AppendEntries and waits for the answer (or a heartbeat response) before sending another.
- REPLICATE: the logs match up to ``match``; the leader streams entries optimistically,
  advancing ``next`` as it sends, bounded by ``Inflights``.
- SNAPSHOT: the follower needs entries the leader compacted away; a snapshot is on its way
  and nothing else is sent until the follower reports having it.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from synod.core.ids import NO_INDEX, LogIndex


class ProgressState(enum.Enum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


class Inflights:
    """AppendEntries sent but not yet acknowledged, bounded in count."""

    def __init__(self, messages_max: int) -> None:
        assert messages_max >= 1
        self.messages_max = messages_max
        self._last_indexes: deque[LogIndex] = deque()

    def __len__(self) -> int:
        return len(self._last_indexes)

    def full(self) -> bool:
        return len(self._last_indexes) >= self.messages_max

    def add(self, last_index: LogIndex) -> None:
        assert not self.full(), "inflight window overflow"
        assert not self._last_indexes or self._last_indexes[-1] <= last_index
        self._last_indexes.append(last_index)

    def free_up_to(self, index: LogIndex) -> None:
        """Forget every message whose entries end at or before ``index``."""
        while self._last_indexes and self._last_indexes[0] <= index:
            self._last_indexes.popleft()

    def reset(self) -> None:
        self._last_indexes.clear()


@dataclass(slots=True)
class Progress:
    next: LogIndex
    inflights: Inflights
    match: LogIndex = NO_INDEX
    state: ProgressState = ProgressState.PROBE
    probe_sent: bool = False
    """In PROBE: an AppendEntries is out and unanswered, so sending pauses."""
    pending_snapshot: LogIndex = NO_INDEX
    snapshot_timeouts: int = 0
    """Election timeouts seen while in SNAPSHOT: after two, the snapshot counts as lost."""
    commit_sent: LogIndex = NO_INDEX
    """The commit index the last AppendEntries to this follower carried."""
    recently_active: bool = False
    """Heard from since the last CheckQuorum round."""
    is_learner: bool = False
    epoch: int = 0
    """How many times the follower was found to have lost entries it acknowledged (a repair of
    its damaged storage). Messages carry it and answers echo it; an answer from an older
    epoch is stale and ignored, for it may acknowledge entries the follower no longer has."""

    def __post_init__(self) -> None:
        assert self.match < self.next, "next must lie beyond match"

    def paused(self) -> bool:
        match self.state:
            case ProgressState.PROBE:
                return self.probe_sent
            case ProgressState.REPLICATE:
                return self.inflights.full()
            case ProgressState.SNAPSHOT:
                return True

    def become_probe(self) -> None:
        if self.state is ProgressState.SNAPSHOT:
            self.next = LogIndex(max(self.match + 1, self.pending_snapshot + 1))
        else:
            self.next = LogIndex(self.match + 1)
        self._reset(ProgressState.PROBE)

    def become_replicate(self) -> None:
        self.next = LogIndex(self.match + 1)
        self._reset(ProgressState.REPLICATE)

    def become_snapshot(self, snapshot_index: LogIndex) -> None:
        self._reset(ProgressState.SNAPSHOT)
        self.pending_snapshot = snapshot_index

    def _reset(self, state: ProgressState) -> None:
        self.state = state
        self.probe_sent = False
        self.pending_snapshot = NO_INDEX
        self.snapshot_timeouts = 0
        self.inflights.reset()

    def sent_entries(self, last_index: LogIndex | None) -> None:
        """Record an AppendEntries that carried entries up to ``last_index`` (None: empty)."""
        if self.state is ProgressState.REPLICATE:
            if last_index is not None:
                assert last_index >= self.next - 1
                self.next = LogIndex(last_index + 1)
                self.inflights.add(last_index)
        elif self.state is ProgressState.PROBE:
            self.probe_sent = True

    def maybe_update(self, index: LogIndex) -> bool:
        """The follower's log matches up to ``index``; False if that is old news."""
        updated = index > self.match
        if updated:
            self.match = index
            self.probe_sent = False
        self.next = LogIndex(max(self.next, index + 1))
        return updated

    def forget_beyond(self, last_index: LogIndex) -> None:
        """The follower's log ends at ``last_index``, below ``match``: it lost entries it had
        acknowledged (its damaged storage was repaired). Probe again from what it holds, in a
        new epoch: answers to anything sent before speak of the log it lost."""
        assert last_index < self.match
        self.epoch += 1
        self.match = last_index
        self.state = ProgressState.PROBE
        self.become_probe()

    def maybe_decrease_to(self, rejected: LogIndex, match_hint: LogIndex) -> bool:
        """The follower rejected ``prev_index=rejected``; back ``next`` off. False if stale."""
        if self.state is ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = LogIndex(self.match + 1)
            return True
        if self.next - 1 != rejected:
            return False
        self.next = LogIndex(max(min(rejected, match_hint + 1), self.match + 1))
        self.probe_sent = False
        return True
