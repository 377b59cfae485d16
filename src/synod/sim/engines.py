"""The engines the simulator can run (``synod.consensus.catalog`` names them), and the extra
view invariants need of them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from synod.consensus.catalog import engine_spec
from synod.core.config import EngineConfig
from synod.core.engine import LogStorage, ObservableEngine, Rng
from synod.core.ids import LogIndex, NodeId, Term


class SimEngine(ObservableEngine, Protocol):
    """An engine plus the read-only state the simulator's invariants inspect."""

    @property
    def vote(self) -> NodeId: ...

    def log_term(self, index: LogIndex) -> Term | None: ...


EngineFactory = Callable[[NodeId, LogStorage, EngineConfig, Rng], SimEngine]


def lookup_engine(name: str) -> EngineFactory:
    """The engine class called ``name``; ConfigError (a ValueError) for an unknown name."""
    return engine_spec(name).engine
