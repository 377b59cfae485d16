"""Deliberately broken Raft engines. Each breaks one rule the real engine keeps, and the proof
tools must notice: if the simulator cannot catch these, it cannot be trusted to vouch for
the real engine either.
"""

from __future__ import annotations

from synod.consensus.raft import RaftEngine
from synod.consensus.raft.messages import AppendResponse, RaftMessage, VoteRequest
from synod.consensus.reads import PendingRead
from synod.core.ids import LogIndex


class DoubleVote(RaftEngine):
    """(a) Grants a vote to every candidate with a fresh enough log, even twice in one term."""

    def _can_grant_vote(self, message: VoteRequest) -> bool:
        return self.log.is_up_to_date(message.last_index, message.last_term)


class CommitsPreviousTerm(RaftEngine):
    """(b) Commits an entry of an earlier term by counting its replicas (Raft paper, Fig. 8)."""

    def _commit_candidate_ok(self, index: LogIndex) -> bool:
        return True


class AcksBeforeDurable(RaftEngine):
    """(c) Acknowledges appended entries before the Ready holding them is fsynced."""

    def _is_early(self, message: RaftMessage) -> bool:
        return isinstance(message, AppendResponse) or super()._is_early(message)


class UnconfirmedReadIndex(RaftEngine):
    """(d) Answers ReadIndex at its commit index without a heartbeat round confirming that it
    is still the leader, so a deposed leader that has not noticed serves stale reads."""

    def _leader_read(self, read: PendingRead) -> None:
        self._answer_read(read, self.log.committed)


VARIANTS: dict[str, type[RaftEngine]] = {
    "double-vote": DoubleVote,
    "commits-previous-term": CommitsPreviousTerm,
    "acks-before-durable": AcksBeforeDurable,
    "unconfirmed-read-index": UnconfirmedReadIndex,
}
