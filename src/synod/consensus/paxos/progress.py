"""The leader's view of one acceptor in its ballot.

``match``: every slot up to it holds the leader's value on the acceptor (accepted in this
ballot, or known chosen there). ``next``: the first slot not yet sent. At most ``window``
Accept messages are in flight; a heartbeat interval without progress rewinds ``next`` to
``match + 1`` (messages may be lost). ``snapshot``: index of a snapshot in flight, or 0.
``told``: the highest chosen index sent to it, in an Accept or a Heartbeat; a choice is told
at once only past it (a lost message is made good by the next heartbeat tick, which always
carries the chosen index).
"""

from __future__ import annotations

from dataclasses import dataclass

from synod.core.ids import NO_INDEX, LogIndex


@dataclass(slots=True)
class Progress:
    match: LogIndex
    next: LogIndex
    inflight: int = 0
    snapshot: LogIndex = NO_INDEX
    probing: bool = False
    progressed: bool = False
    """``match`` moved since the last heartbeat interval; if not, lost messages are assumed
    and ``next`` rewinds."""
    active: bool = False
    """Heard from since the last quorum check."""
    told: LogIndex = NO_INDEX

    def window(self, inflight_max: int) -> int:
        return 1 if self.probing else inflight_max

    def rewind(self) -> None:
        self.probing = True
        self.next = LogIndex(self.match + 1)
        self.inflight = 0
        self.snapshot = NO_INDEX

    def chosen_held(self, chosen: LogIndex) -> None:
        """The acceptor knows slots up to ``chosen`` are chosen: it holds those values."""
        if chosen > self.match:
            self.match = chosen
            self.next = LogIndex(max(self.next, chosen + 1))
        if self.snapshot and self.match >= self.snapshot:
            self.snapshot = NO_INDEX

    def acknowledged(self, prev: LogIndex, last: LogIndex) -> bool:
        """Slots ``prev + 1 .. last`` were accepted; True if ``match`` moved."""
        self.inflight = max(0, self.inflight - 1)
        if prev <= self.match < last:
            self.probing = False
            self.match = last
            self.next = LogIndex(max(self.next, last + 1))
            moved = True
        else:
            moved = False
        if self.snapshot and self.match >= self.snapshot:
            self.snapshot = NO_INDEX
        return moved
