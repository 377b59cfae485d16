"""Every limit an engine obeys, in one validated object. Units are the last word of each name."""

from __future__ import annotations

from dataclasses import dataclass

from synod.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class EngineConfig:
    election_timeout_ticks: int = 10
    """A follower that hears no leader for a randomized timeout in
    [election_timeout_ticks, 2 * election_timeout_ticks) campaigns."""
    heartbeat_interval_ticks: int = 1
    pre_vote: bool = True
    check_quorum: bool = True
    inflight_messages_max: int = 64
    """AppendEntries in flight to one follower in the replicate state."""
    message_bytes_max: int = 1 << 20
    """Entries carried by one AppendEntries (at least one entry is always sent)."""
    proposal_entries_max: int = 4096
    """Entries a leader holds beyond its commit index before it refuses new proposals."""
    apply_bytes_max: int = 16 << 20
    """Committed entries handed out for applying in one Ready."""
    pending_reads_max: int = 4096
    """Linearizable reads a leader holds while confirming its leadership."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        checks = [
            (self.heartbeat_interval_ticks >= 1, "heartbeat_interval_ticks must be >= 1"),
            (
                self.election_timeout_ticks > self.heartbeat_interval_ticks,
                "election_timeout_ticks must exceed heartbeat_interval_ticks",
            ),
            (self.inflight_messages_max >= 1, "inflight_messages_max must be >= 1"),
            (self.message_bytes_max >= 1, "message_bytes_max must be >= 1"),
            (self.proposal_entries_max >= 1, "proposal_entries_max must be >= 1"),
            (self.apply_bytes_max >= 1, "apply_bytes_max must be >= 1"),
            (self.pending_reads_max >= 1, "pending_reads_max must be >= 1"),
        ]
        for ok, text in checks:
            if not ok:
                raise ConfigError(text)
