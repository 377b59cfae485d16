"""The leader's view of one acceptor in its ballot.

``match``: every slot up to it holds the leader's value on the acceptor (accepted in this
ballot, or known chosen there). ``next``: the first slot not yet sent. At most
``inflight_messages_max`` Accepts are in flight (one while probing), each remembered by its
last slot: an acknowledgement frees those it covers, so one that arrives twice, or after a
later one, frees nothing twice. A heartbeat interval without progress rewinds ``next`` to
``match + 1`` (messages may be lost). ``snapshot``: index of a snapshot in flight, or 0.
``told``: the highest chosen index sent to it, in an Accept or a Heartbeat; a choice is told
at once only past it (a lost message is made good by the next heartbeat tick, which always
carries the chosen index).

``match`` also rises to the ``run`` an answer reports (``held_run``: the acceptor holds the
leader's values through it, see ``acceptor.py``), so answers that arrive out of order all
count, not only one that starts at or below ``match``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from synod.core.ids import NO_INDEX, LogIndex


@dataclass(slots=True)
class Progress:
    match: LogIndex
    next: LogIndex
    inflight: deque[LogIndex] = field(default_factory=deque)
    snapshot: LogIndex = NO_INDEX
    probing: bool = False
    progressed: bool = False
    """``match`` moved since the last heartbeat interval; if not, lost messages are assumed
    and ``next`` rewinds."""
    active: bool = False
    """Heard from since the last quorum check."""
    told: LogIndex = NO_INDEX

    def can_send(self, inflight_max: int) -> bool:
        return len(self.inflight) < (1 if self.probing else inflight_max)

    def sent(self, last: LogIndex) -> None:
        self.inflight.append(last)

    def held_run(self, run: LogIndex) -> bool:
        """The acceptor reported holding our values through ``run``; True if ``match`` moved.
        It does not end probing: only the acknowledgement of the slots right after ``match``
        does (``acknowledged``). A rewind forgets the Accepts in flight, which under
        reordering are mostly delayed, not lost, and the answers to them, arriving late, would
        each open a fresh window while the old one is still on its way: a message storm."""
        if run <= self.match:
            return False
        self.match = run
        self.next = LogIndex(max(self.next, run + 1))
        self._free(run)
        if self.snapshot and self.match >= self.snapshot:
            self.snapshot = NO_INDEX
        return True

    def rewind(self) -> None:
        self.probing = True
        self.next = LogIndex(self.match + 1)
        self.inflight.clear()
        self.snapshot = NO_INDEX

    def chosen_held(self, chosen: LogIndex) -> None:
        """The acceptor knows slots up to ``chosen`` are chosen: it holds those values."""
        if chosen > self.match:
            self.match = chosen
            self.next = LogIndex(max(self.next, chosen + 1))
        self._free(chosen)
        if self.snapshot and self.match >= self.snapshot:
            self.snapshot = NO_INDEX

    def acknowledged(self, prev: LogIndex, last: LogIndex) -> bool:
        """Slots ``prev + 1 .. last`` were accepted; True if ``match`` moved."""
        self._free(last)
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

    def _free(self, held: LogIndex) -> None:
        """Accepts ending at or below ``held`` need no answer any more: the acceptor holds it."""
        while self.inflight and self.inflight[0] <= held:
            self.inflight.popleft()
