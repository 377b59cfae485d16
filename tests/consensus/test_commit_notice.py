"""CommitNotice: a leader's new commit index for a follower it replicates to, answered only
when refused (an empty AppendEntries would be answered every time, telling the leader nothing
new)."""

import random

from synod.consensus.raft import RaftEngine
from synod.consensus.raft.engine import replace_vote
from synod.consensus.raft.messages import AppendEntries, AppendResponse, CommitNotice, VoteRequest
from synod.consensus.storage import MemoryStorage
from synod.core.config import EngineConfig
from synod.core.engine import Ready
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import Entry, Membership

VOTERS = Membership(frozenset({NodeId(1), NodeId(2), NodeId(3)}))
LEADER, FOLLOWER = NodeId(1), NodeId(2)


def _carry_out(engine: RaftEngine, storage: MemoryStorage) -> Ready:
    ready = engine.ready()
    assert ready is not None
    storage.save(ready.hard_state, ready.entries, ready.snapshot)
    engine.advance(ready)
    return ready


def _follower_with_entries() -> tuple[RaftEngine, MemoryStorage]:
    """Node 2 holding entries 2 and 3 of term 2 from leader 1, commit 1."""
    storage = MemoryStorage(VOTERS)
    engine = RaftEngine(FOLLOWER, storage, EngineConfig(), random.Random(1))
    entries = (Entry(LogIndex(2), Term(2)), Entry(LogIndex(3), Term(2)))
    engine.step(
        AppendEntries(LEADER, FOLLOWER, Term(2), LogIndex(1), Term(1), entries, LogIndex(1))
    )
    _carry_out(engine, storage)
    return engine, storage


def test_a_matching_notice_commits_and_is_not_answered() -> None:
    engine, storage = _follower_with_entries()
    engine.step(CommitNotice(LEADER, FOLLOWER, Term(2), LogIndex(3), Term(2), LogIndex(3)))
    ready = _carry_out(engine, storage)
    assert engine.commit_index == 3
    assert [entry.index for entry in ready.committed_entries] == [2, 3]
    assert ready.messages == ()
    assert ready.early_messages == ()


def test_a_notice_commits_no_further_than_its_prev_index() -> None:
    engine, storage = _follower_with_entries()
    engine.step(CommitNotice(LEADER, FOLLOWER, Term(2), LogIndex(2), Term(2), LogIndex(3)))
    _carry_out(engine, storage)
    assert engine.commit_index == 2  # entry 3 is not vouched for by this notice


def test_a_mismatching_notice_is_refused_like_an_append() -> None:
    engine, storage = _follower_with_entries()
    engine.step(CommitNotice(LEADER, FOLLOWER, Term(2), LogIndex(5), Term(2), LogIndex(5), 7))
    ready = _carry_out(engine, storage)
    assert engine.commit_index == 1
    [reject] = ready.messages
    assert isinstance(reject, AppendResponse)
    assert reject.reject
    assert reject.index == 5
    assert reject.epoch == 7


def _leader() -> tuple[RaftEngine, MemoryStorage]:
    """Node 1, elected with node 2's votes; node 3 never answered."""
    storage = MemoryStorage(VOTERS)
    engine = RaftEngine(LEADER, storage, EngineConfig(), random.Random(1))
    engine.campaign()
    for _ in range(3):  # pre-vote, vote, then leading
        ready = _carry_out(engine, storage)
        for message in (*ready.early_messages, *ready.messages):
            if message.target == FOLLOWER and isinstance(message, VoteRequest):
                engine.step(replace_vote(message, FOLLOWER, granted=True))
    return engine, storage


def test_the_leader_sends_a_notice_only_to_followers_it_replicates_to() -> None:
    engine, storage = _leader()
    assert engine.leader == LEADER
    # Node 2 acknowledges the leader's no-op (index 2): it moves to replicating, and the
    # entry commits. Node 3 never answered, so it is still probed.
    engine.step(AppendResponse(FOLLOWER, LEADER, engine.term, LogIndex(2)))
    ready = _carry_out(engine, storage)
    assert engine.commit_index == 2
    sent = {message.target: message for message in (*ready.early_messages, *ready.messages)}
    notice = sent[FOLLOWER]
    assert isinstance(notice, CommitNotice)
    assert notice.commit == 2
    assert notice.prev_index == 2
    assert NodeId(3) not in sent or isinstance(sent[NodeId(3)], AppendEntries)
