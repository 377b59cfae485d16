"""Distinct integer types for the numbers consensus juggles, so mypy catches mix-ups."""

from typing import NewType

NodeId = NewType("NodeId", int)
"""A member of the cluster. 0 means "nobody" (no vote, no known leader)."""

Term = NewType("Term", int)
"""A Raft term, or a Paxos ballot round: only ever grows on a node."""

LogIndex = NewType("LogIndex", int)
"""A position in the replicated log, starting at 1. 0 is "before the first entry"."""

NO_NODE = NodeId(0)
NO_TERM = Term(0)
NO_INDEX = LogIndex(0)
