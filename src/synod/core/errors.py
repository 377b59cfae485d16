"""Typed errors that cross layers. Engines raise these on bad requests, never assert on input."""

from __future__ import annotations

from synod.core.ids import NodeId


class SynodError(Exception):
    """Base of every error Synod raises on purpose."""


class ProposalDropped(SynodError):
    """The engine will not take this proposal; ``leader`` hints where to send it instead."""

    def __init__(self, reason: str, leader: NodeId | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.leader = leader


class NotLeader(ProposalDropped):
    """Only the leader accepts proposals and membership changes."""


class LogCompacted(SynodError):
    """The requested entries were folded into a snapshot."""


class LogUnavailable(SynodError):
    """The requested entries are beyond the end of the log."""


class ConfigError(SynodError, ValueError):
    """A limit or setting that cannot work, caught at start-up."""


class MalformedMessage(SynodError, ValueError):
    """Bytes from a peer that no engine message encodes to: every engine codec raises this
    (or a subclass) on bad input, and nothing else, so a transport can drop the connection."""
