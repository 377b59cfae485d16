"""The consensus engines a server can run, by name (``synod serve --engine``).

Each entry gives what the runtime needs of an engine beyond the engine contract: how to build
one, its wire codec (handed to the peer transport), whether it can change its membership, and
a check of the founding members (Multi-Paxos needs their ids to make distinct ballots).

Rules:
- Every member of a cluster runs the same engine: the transport's handshake names it and a
  peer running another is refused (``synod.server.transport``).
- An engine that cannot change its membership makes the Cluster API's add, remove and promote
  fail with ``MembershipUnsupported`` before anything is written (no member row, no proposal);
  a member the engine cannot run alongside the current ones is refused the same way, with
  ``MemberRefused``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from synod.consensus.paxos import PaxosEngine
from synod.consensus.paxos import wire as paxos_wire
from synod.consensus.paxos.ballot import owners_collide
from synod.consensus.raft import RaftEngine
from synod.consensus.raft import wire as raft_wire
from synod.core.config import EngineConfig
from synod.core.engine import LogStorage, ObservableEngine, Rng
from synod.core.errors import ConfigError
from synod.core.ids import LogIndex, NodeId
from synod.server.errors import MemberRefused, MembershipUnsupported
from synod.server.transport_config import Codec


class Matched(Protocol):
    """The leader's view of a follower, as far as the runtime reads it."""

    @property
    def match(self) -> LogIndex: ...


class ServerEngine(ObservableEngine, Protocol):
    """An engine plus the read-only state the runtime reports and decides on."""

    def progress(self, node: NodeId) -> Matched | None: ...


EngineBuilder = Callable[[NodeId, LogStorage, EngineConfig, Rng, LogIndex | None], ServerEngine]


def _any_members(members: Iterable[NodeId]) -> str:
    del members
    return ""


@dataclass(frozen=True, slots=True)
class EngineKind:
    name: str
    build: EngineBuilder
    codec: Codec
    supports_membership_change: bool
    members_problem: Callable[[Iterable[NodeId]], str] = _any_members
    """Why these members cannot run this engine together; "" when they can."""

    def check_members(self, members: Iterable[NodeId]) -> None:
        """Raise ConfigError when ``members`` cannot run this engine together."""
        problem = self.members_problem(members)
        if problem:
            raise ConfigError(f"--engine {self.name}: {problem}")

    def check_change(self, members: Iterable[NodeId], adding: NodeId | None) -> None:
        """Raise when the cluster of ``members`` cannot change its membership (or take
        ``adding``, when given) under this engine."""
        if not self.supports_membership_change:
            raise MembershipUnsupported(
                f"the {self.name} engine cannot change the cluster's membership"
                " (it runs the founding members only)"
            )
        if adding is not None:
            problem = self.members_problem([*members, adding])
            if problem:
                raise MemberRefused(f"the {self.name} engine refuses it: {problem}")


def _raft(
    node: NodeId, storage: LogStorage, config: EngineConfig, rng: Rng, applied: LogIndex | None
) -> ServerEngine:
    return RaftEngine(node, storage, config, rng, applied)


def _paxos(
    node: NodeId, storage: LogStorage, config: EngineConfig, rng: Rng, applied: LogIndex | None
) -> ServerEngine:
    return PaxosEngine(node, storage, config, rng, applied)


ENGINES: dict[str, EngineKind] = {
    "raft": EngineKind(
        "raft",
        _raft,
        Codec(raft_wire.encode_message, raft_wire.decode_message),
        supports_membership_change=True,
    ),
    "paxos": EngineKind(
        "paxos",
        _paxos,
        Codec(paxos_wire.encode_message, paxos_wire.decode_message),
        supports_membership_change=PaxosEngine.SUPPORTS_MEMBERSHIP_CHANGE,
        members_problem=owners_collide,
    ),
}
"""Engine name -> what the server needs of it. ``synod serve --engine`` offers these names."""


def engine_kind(name: str) -> EngineKind:
    kind = ENGINES.get(name)
    if kind is None:
        known = ", ".join(sorted(ENGINES))
        raise ConfigError(f"--engine: unknown engine {name!r} (known: {known})")
    return kind
