"""Why the runtime could not serve a request. The API layer maps each to etcd's own status."""

from __future__ import annotations

from synod.core.errors import SynodError


class ServingError(SynodError):
    """A request the node could not carry out; the client may retry elsewhere or later."""


class NoLeader(ServingError):
    """No leader is known (an election is running, or this node is cut off)."""


class RequestTimeout(ServingError):
    """The request was sent on but no answer came in time; it may still take effect."""


class TooManyRequests(ServingError):
    """Too many requests await an answer on this node."""


class RequestTooLarge(ServingError):
    """The request is larger than ``--max-request-bytes``."""


class ServerStopped(ServingError):
    """The node is shutting down."""


class LeaderChanged(ServingError):
    """The leader changed while the request waited (a read's confirmation was refused)."""


class NotLeader(ServingError):
    """Only the leader can do this (for example, hand its leadership over)."""


class BadTransferee(ServingError):
    """Leadership cannot go to that member (unknown, a learner, or this node)."""


class LearnerNotReady(ServingError):
    """The learner's log is too far behind the leader's to promote it."""


class MembershipRejected(ServingError):
    """The membership change does not fit the configuration (the message says why)."""


class LogBehindKeyspace(SynodError):
    """At start-up: a repaired write-ahead log is committed to less than the keyspace applied.

    The entries in between were lost with the damaged part of the log, and a member cannot
    rebuild its engine's view of them (membership changes among them) from its peers while its
    keyspace is already past them. It stops rather than guess; the cure is to remove it and
    add it back with an empty data directory, as etcd asks of a member with a damaged disk."""


class MemberRefused(ServingError):
    """The engine cannot run the member being added alongside the current ones (for
    Multi-Paxos: its id shares its ballot owner, the low 32 bits, with a member's)."""


class MembershipUnsupported(ServingError):
    """The cluster's consensus engine runs a fixed membership: members cannot be added,
    removed or promoted (the message names the engine)."""
