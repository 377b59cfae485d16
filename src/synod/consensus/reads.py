"""ReadIndex bookkeeping on the leader: reads wait for a heartbeat round a quorum confirms.

Reads that arrive between two Readies share one round, so a burst of reads costs one
heartbeat broadcast. A round is confirmed once a quorum of voters (the leader included) has
answered a heartbeat carrying that round or a later one; confirming round r confirms every
read of rounds <= r, since the leader was still leader when it sent them all.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from synod.consensus.quorum import majority
from synod.core.ids import NO_INDEX, LogIndex, NodeId


@dataclass(slots=True)
class PendingRead:
    request_id: bytes
    origin: NodeId
    """Where the answer goes: the leader itself, or the follower that forwarded the read."""
    index: LogIndex = NO_INDEX
    read_round: int = 0
    """0 until the read joins a heartbeat round."""


class ReadQueue:
    def __init__(self, reads_max: int) -> None:
        self.reads_max = reads_max
        self._reads: deque[PendingRead] = deque()
        self._round = 0
        self._acks: dict[NodeId, int] = {}

    def __len__(self) -> int:
        return len(self._reads)

    def full(self) -> bool:
        return len(self._reads) >= self.reads_max

    def add(self, read: PendingRead) -> None:
        assert not self.full(), "read queue overflow"
        self._reads.append(read)

    def has_unstarted(self) -> bool:
        return any(read.read_round == 0 for read in self._reads)

    @property
    def current_round(self) -> int:
        """The newest round started, to piggyback on ordinary heartbeats (0: none pending)."""
        return self._round if self._reads else 0

    def start_round(self, commit: LogIndex) -> int | None:
        """Give every read not yet in a round the read point ``commit`` and a new round."""
        waiting = [read for read in self._reads if read.read_round == 0]
        if not waiting:
            return None
        self._round += 1
        for read in waiting:
            read.index = commit
            read.read_round = self._round
        return self._round

    def ack(self, voter: NodeId, read_round: int) -> None:
        if read_round > self._acks.get(voter, 0):
            self._acks[voter] = read_round

    def release(self, voters: frozenset[NodeId], leader: NodeId) -> list[PendingRead]:
        """Reads whose round a quorum has confirmed, in arrival order."""
        self._acks[leader] = self._round
        rounds = sorted((self._acks.get(voter, 0) for voter in voters), reverse=True)
        confirmed = rounds[majority(len(voters)) - 1] if voters else 0
        released: list[PendingRead] = []
        while self._reads and 0 < self._reads[0].read_round <= confirmed:
            released.append(self._reads.popleft())
        return released

    def drain(self) -> list[PendingRead]:
        """Every pending read, emptied: leadership was lost and none can be answered."""
        reads = list(self._reads)
        self._reads.clear()
        self._acks.clear()
        return reads
