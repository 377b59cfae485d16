"""The consensus engines Synod has, by name: one table for every driver.

``synod serve --engine`` (``synod.server.engines``) and ``synod sim --engine``
(``synod.sim.engines``) both read this table, so a name means the same engine, with the same
wire codec and the same capabilities, wherever it is given.

An entry holds what is the engine's own, and nothing a driver adds:

- the engine class (the ``synod.core.engine`` contract: ``(node, storage, config, rng,
  applied_index=None)``);
- its wire codec: ``decode`` raises ``MalformedMessage``, and only that, on bad bytes;
- a check of a set of members (Multi-Paxos needs distinct ballot owners among them);
- capabilities the class declares: ``SUPPORTS_MEMBERSHIP_CHANGE`` (default True) and
  ``ENTRY_TERM_IS_BALLOT`` (default False: an entry's term is the term it was proposed in).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from synod.consensus.paxos import PaxosEngine
from synod.consensus.paxos import wire as paxos_wire
from synod.consensus.paxos.ballot import owners_collide
from synod.consensus.raft import RaftEngine
from synod.consensus.raft import wire as raft_wire
from synod.core.engine import Message
from synod.core.errors import ConfigError
from synod.core.ids import NodeId


def any_members(members: Iterable[NodeId]) -> str:
    """Every set of members can run the engine together."""
    del members
    return ""


@dataclass(frozen=True, slots=True)
class EngineSpec:
    name: str
    engine: type[RaftEngine] | type[PaxosEngine]
    encode: Callable[[Message], bytes]
    decode: Callable[[bytes], Message]
    members_problem: Callable[[Iterable[NodeId]], str] = any_members
    """Why these members cannot run this engine together; "" when they can."""

    @property
    def supports_membership_change(self) -> bool:
        """False for an engine with a fixed configuration."""
        return supports_membership_change(self.engine)

    @property
    def entry_term_is_ballot(self) -> bool:
        return entry_term_is_ballot(self.engine)


def supports_membership_change(engine: object) -> bool:
    """What an engine class (or factory) declares; True when it declares nothing."""
    return bool(getattr(engine, "SUPPORTS_MEMBERSHIP_CHANGE", True))


def entry_term_is_ballot(engine: object) -> bool:
    """True when an entry's term is the ballot it was accepted in (Multi-Paxos): a chosen
    value may then be held under different terms on different nodes, so checks compare
    values, not (index, term) pairs."""
    return bool(getattr(engine, "ENTRY_TERM_IS_BALLOT", False))


ENGINES: dict[str, EngineSpec] = {
    "raft": EngineSpec("raft", RaftEngine, raft_wire.encode_message, raft_wire.decode_message),
    "paxos": EngineSpec(
        "paxos",
        PaxosEngine,
        paxos_wire.encode_message,
        paxos_wire.decode_message,
        owners_collide,
    ),
}
"""Engine name -> its entry. Tests may add entries (a planted-bug variant) for a run."""


def engine_spec(name: str) -> EngineSpec:
    """The entry for ``name``; ConfigError naming the known engines otherwise."""
    spec = ENGINES.get(name)
    if spec is None:
        known = ", ".join(sorted(ENGINES))
        raise ConfigError(f"unknown engine {name!r} (known: {known})")
    return spec
