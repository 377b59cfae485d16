"""Multi-Paxos with a distinguished leader, sans-IO, behind the same engine contract as Raft.

Mapping onto the contract (``synod.core.engine``):

- Ballot = the contract's ``Term``: ``round * 2**32 + owner`` (``ballot.py``), unique per node.
- ``HardState.term`` = the promised ballot; ``HardState.vote`` = that ballot's owner (so it
  never changes within a ballot); ``HardState.commit`` = the highest chosen slot known.
- Log entries = accepted values: index = slot, entry term = the ballot the value was accepted
  in. A value re-proposed by a later leader is accepted (and stamped) in that leader's ballot,
  so one chosen value may sit under different terms on different nodes. Chosen = committed.
- Roles: CANDIDATE = running phase 1, LEADER = phase 1 done, FOLLOWER = acceptor only.
- Snapshots and log truncation go through the same ``LogStorage`` as Raft's.

Protocol rules: see ``engine.py`` and the modules it lists (``acceptor.py``, ``proposer.py``,
``leader.py``, ``membership.py``). Design notes: docs/paxos.md. The log view (``RaftLog``) and
the ReadIndex queue are shared with the Raft package: they hold no Raft-specific rule.
"""

from synod.consensus.paxos.engine import PaxosEngine

__all__ = ["PaxosEngine"]
