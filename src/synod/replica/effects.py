"""What a replica asks its runtime to do besides sending engine messages: answer clients.

Each reply names the request it answers. ``Redirected`` and ``Refused`` are definite failures:
the request never entered the log, so the client may retry elsewhere without ambiguity.
A request that entered the log but whose node lost leadership gets no reply at all; only a
client timeout ends it (its outcome is then unknown).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from synod.core.ids import LogIndex, NodeId
from synod.core.log import MembershipChange

ResultT = TypeVar("ResultT")


@dataclass(frozen=True, slots=True)
class Done(Generic[ResultT]):
    """The request applied (a write) or was served at a linearizable point (a read)."""

    request_id: bytes
    result: ResultT
    index: LogIndex


@dataclass(frozen=True, slots=True)
class Redirected:
    """This node is not the leader; ``leader`` is its best guess (NO_NODE when unknown)."""

    request_id: bytes
    leader: NodeId


@dataclass(frozen=True, slots=True)
class Refused:
    """The request was not taken (overload, no leader, leadership lost before the read)."""

    request_id: bytes
    reason: str


@dataclass(frozen=True, slots=True)
class MembershipApplied:
    """A membership change committed and applied at ``index`` (on this node)."""

    index: LogIndex
    change: MembershipChange


Effect = Done[ResultT] | Redirected | Refused | MembershipApplied
