"""The configuration history a node needs: the current one, and which one held at an index.

Changes take effect when their entry is applied (as in etcd-io/raft); one change at a time,
so any two consecutive configurations differ by one server and their majorities overlap.
"""

from __future__ import annotations

from synod.core.ids import LogIndex
from synod.core.log import Membership, MembershipChange, MembershipError


class MembershipHistory:
    def __init__(self, index: LogIndex, membership: Membership) -> None:
        self._history: list[tuple[LogIndex, Membership]] = [(index, membership)]

    @property
    def current(self) -> Membership:
        return self._history[-1][1]

    @property
    def applied_index(self) -> LogIndex:
        """The index of the newest configuration recorded (a change, or a snapshot's)."""
        return self._history[-1][0]

    def apply(self, index: LogIndex, encoded_change: bytes) -> bool:
        """Apply a committed change; False (and no change) if it does not fit.

        Every node applies the same entries from the same configuration, so skipping an
        unfit change is deterministic across the cluster."""
        assert index > self._history[-1][0], "membership entries apply in log order"
        try:
            updated = self.current.apply(MembershipChange.decode(encoded_change))
        except MembershipError:
            return False
        self._history.append((index, updated))
        return True

    def at(self, index: LogIndex) -> Membership:
        """The configuration in force once the entry at ``index`` is applied."""
        for applied_at, membership in reversed(self._history):
            if applied_at <= index:
                return membership
        raise MembershipError(f"no configuration recorded at or before index {index}")

    def reset(self, index: LogIndex, membership: Membership) -> None:
        self._history = [(index, membership)]

    def forget_before(self, index: LogIndex) -> None:
        """Drop configurations superseded before ``index`` (the log was compacted there)."""
        while len(self._history) > 1 and self._history[1][0] <= index:
            self._history.pop(0)
