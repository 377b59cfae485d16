"""The consensus engines a server can run, by name (``synod serve --engine``).

The names, classes, codecs and member checks are ``synod.consensus.catalog``'s; an entry here
adds what the runtime needs on top: the codec in the transport's form and the checks of a
membership change.

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

from synod.consensus.catalog import any_members, engine_spec
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


@dataclass(frozen=True, slots=True)
class EngineKind:
    name: str
    build: EngineBuilder
    codec: Codec
    supports_membership_change: bool
    members_problem: Callable[[Iterable[NodeId]], str] = any_members
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


def engine_kind(name: str) -> EngineKind:
    """What the server needs of the engine called ``name``; ConfigError for an unknown one."""
    try:
        spec = engine_spec(name)
    except ConfigError as error:
        raise ConfigError(f"--engine: {error}") from None
    return EngineKind(
        spec.name,
        spec.engine,
        Codec(spec.encode, spec.decode),
        supports_membership_change=spec.supports_membership_change,
        members_problem=spec.members_problem,
    )
