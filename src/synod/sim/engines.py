"""The engines the simulator can run, by name, and the extra view invariants need of them.

Engines are imported lazily so that registering one (``paxos`` later) costs nothing until it is
chosen, and so that a broken engine module fails only the runs that ask for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from synod.core.config import EngineConfig
from synod.core.engine import LogStorage, ObservableEngine, Rng
from synod.core.ids import LogIndex, NodeId, Term


class SimEngine(ObservableEngine, Protocol):
    """An engine plus the read-only state the simulator's invariants inspect."""

    @property
    def vote(self) -> NodeId: ...

    def log_term(self, index: LogIndex) -> Term | None: ...


EngineFactory = Callable[[NodeId, LogStorage, EngineConfig, Rng], SimEngine]


def _raft() -> EngineFactory:
    from synod.consensus.raft import RaftEngine  # noqa: PLC0415 (lazy on purpose)

    return RaftEngine


def _paxos() -> EngineFactory:
    from synod.consensus.paxos import PaxosEngine  # noqa: PLC0415 (lazy on purpose)

    return PaxosEngine


ENGINES: dict[str, Callable[[], EngineFactory]] = {"raft": _raft, "paxos": _paxos}
"""Engine name -> loader of its factory."""


def supports_membership_change(factory: EngineFactory) -> bool:
    """False for an engine with a fixed configuration (the simulator then runs no membership
    nemesis, and says so)."""
    return bool(getattr(factory, "SUPPORTS_MEMBERSHIP_CHANGE", True))


def entry_term_is_ballot(factory: EngineFactory) -> bool:
    """True when an entry's term is the ballot it was accepted in (Multi-Paxos): a chosen
    value may then be held under different terms on different nodes, so the invariants
    compare values, not (index, term) pairs."""
    return bool(getattr(factory, "ENTRY_TERM_IS_BALLOT", False))


def lookup_engine(name: str) -> EngineFactory:
    if name not in ENGINES:
        known = ", ".join(sorted(ENGINES))
        raise ValueError(f"unknown engine {name!r} (known: {known})")
    return ENGINES[name]()
