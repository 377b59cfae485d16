"""Which configuration governs each slot: a function of the values in the log before it.

Rule: the configuration governing slot ``s`` is the base configuration (a snapshot's, as of
its index) with every membership value held at a slot below ``s`` applied in slot order. A
change held at slot ``i`` therefore governs from slot ``i + 1`` on (the classic alpha rule
with alpha = 1). A change that does not fit the configuration it would apply to is skipped,
on every node alike (the same values give the same configurations).

Why no bounded window of alpha slots is needed (the safety argument, in full in
docs/paxos.md): a leader proposes, past its chosen prefix, only values of its own log, so it
knows the governing configuration of every slot it proposes; it counts slots as chosen only
as a prefix, each slot with a quorum of the configuration its own log assigns to it; and a
candidate completes phase 1 only with promises from a quorum of every configuration that its
merged promises assign to the slots from its first unchosen one. By induction over ballots,
every committed slot and every membership value before it reappear unchanged in each later
leader's merged log, so each later leader asks a quorum of exactly the configurations that
chose them.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from synod.core.ids import LogIndex
from synod.core.log import Entry, EntryKind, Membership, MembershipChange, MembershipError


class Configurations:
    """The base configuration (governing every slot past ``base_index``) and the changes
    held in the log after it, each with the configuration it yields."""

    def __init__(self, base_index: LogIndex, base: Membership) -> None:
        self.base_index = base_index
        self.base = base
        self._slots: list[LogIndex] = []
        self._configs: list[Membership] = []

    def reset(self, base_index: LogIndex, base: Membership) -> None:
        """A snapshot replaced the log up to ``base_index``."""
        self.base_index, self.base = base_index, base
        self._slots, self._configs = [], []

    def record(self, entries: Iterable[Entry]) -> None:
        """``entries`` were written to the log: every change held at or past the first of
        them is replaced by the membership values among them."""
        written = list(entries)
        if not written:
            return
        cut = bisect.bisect_left(self._slots, written[0].index)
        del self._slots[cut:], self._configs[cut:]
        for entry in written:
            if entry.kind is EntryKind.MEMBERSHIP and entry.index > self.base_index:
                self._add(entry.index, entry.data)

    def _add(self, slot: LogIndex, data: bytes) -> None:
        assert not self._slots or slot > self._slots[-1], "changes are recorded in slot order"
        try:
            updated = self.latest.apply(MembershipChange.decode(data))
        except MembershipError:
            return  # an unfit change is skipped everywhere alike
        self._slots.append(slot)
        self._configs.append(updated)

    @property
    def latest(self) -> Membership:
        """The configuration after every change held (governs the slot after the log)."""
        return self._configs[-1] if self._configs else self.base

    def at(self, slot: LogIndex) -> Membership:
        """The configuration governing ``slot`` (changes held below it applied)."""
        position = bisect.bisect_left(self._slots, slot)
        return self._configs[position - 1] if position else self.base

    def changes_from(self, slot: LogIndex) -> list[LogIndex]:
        """The slots, at or past ``slot``, that hold a change."""
        return self._slots[bisect.bisect_left(self._slots, slot) :]

    def segments(
        self, low: LogIndex, high: LogIndex
    ) -> list[tuple[LogIndex, LogIndex, Membership]]:
        """Slots ``low .. high`` cut into runs governed by one configuration each, in order:
        ``(first, last, configuration)``."""
        runs: list[tuple[LogIndex, LogIndex, Membership]] = []
        start = low
        for slot in self.changes_from(low):
            if slot >= high:
                break
            runs.append((start, slot, self.at(start)))
            start = LogIndex(slot + 1)
        if start <= high:
            runs.append((start, high, self.at(start)))
        return runs

    def governing(self, low: LogIndex, high: LogIndex) -> list[Membership]:
        """Every configuration governing some slot in ``low .. high``."""
        return [config for _, _, config in self.segments(low, high)]

    def fold_to(self, index: LogIndex) -> None:
        """The log was compacted up to ``index``: the changes up to it join the base."""
        if index <= self.base_index:
            return
        self.base = self.at(LogIndex(index + 1))
        self.base_index = index
        cut = bisect.bisect_right(self._slots, index)
        del self._slots[:cut], self._configs[:cut]
