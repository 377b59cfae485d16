"""Safety properties, checked after every step of the simulation.

Each property is one small function that returns a violation message (naming the node, term and
index) or None, so tests can fire each one on a hand-made bad state. ``Invariants`` keeps the
history they need across the whole run:

- election safety: at most one leader per term, ever;
- log matching: for every (index, term) ever present in any log, one data digest and one
  previous term (by induction on the index, that is the whole Log Matching property);
- leader completeness: a new leader of term T holds every entry known committed in a term
  before T (unless its snapshot covers it). A candidate can win a dead term late (delayed
  vote grants, a pause) after others moved on and committed more; it leads nobody and can
  commit nothing, so entries committed in its term or later are not its concern;
- commit safety: no two nodes hold different entries committed at one index (seen as soon as a
  commit index moves, before anything applies);
- state machine safety: no two nodes apply different entries at one index;
- durability: an entry first seen committed is already fsynced on a quorum of voters;
- monotonicity: commit and applied never move back within a node's life, and a restart never
  starts below what was durable; the durable term never decreases and a durable vote never
  changes within a term;
- keyspace agreement: nodes that applied the log up to one index hold keyspaces with one
  ``hash_kv`` (sampled every ``HASH_SAMPLE_INDEXES`` indexes, so it stays cheap). A record
  corrupted anywhere between the client and a node's keyspace (log, disk, apply) shows up here;
- acknowledged puts survive: on a node that applied past an acknowledged put, a read at the
  put's revision returns its value, unless that revision was compacted away.

Engines whose entry term is the ballot a value was accepted in (Multi-Paxos, ``by_value``): a
later leader re-proposes a chosen value in its own ballot, so one chosen value legitimately
sits under different terms on different nodes, and a slot's neighbours may carry any ballots.
There the checks compare values, not terms, per rule:

- election safety holds as is (a ballot names its owner: one leader per ballot);
- log matching keeps its first half only: one value per (slot, ballot) (a ballot's leader
  proposes one value per slot); the previous-term half is Raft's and does not apply;
- at most one value chosen per slot and state machine safety compare the applied values
  (kind and data), whatever ballot they were accepted in; commit agreement by term and leader
  completeness by term are Raft's (the new leader's log is restamped) and are replaced by a
  value check on the new leader (``check_leader_values``) where the engine exposes its log;
- durability counts the nodes that hold the same value on disk at the slot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from synod.core.ids import NO_NODE, LogIndex, NodeId, Term
from synod.core.log import Entry, EntryKind, HardState
from synod.kv.mvcc import Compacted, MvccError, MvccStore, RangeRequest

Digest = tuple[EntryKind, bytes]
HASH_SAMPLE_INDEXES = 32
"""Keyspace hashes are compared at applied indexes that are multiples of this."""


@dataclass(frozen=True, slots=True)
class AckedPut:
    """A put (or a txn's put) the cluster acknowledged at ``index``: its value must stay
    readable at ``revision`` (until compacted) on every node that applied ``index``."""

    key: bytes
    value: bytes
    revision: int
    index: LogIndex


@dataclass(frozen=True, slots=True)
class LogRecord:
    """What one (index, term) must always be: its data and the term of the entry before it."""

    digest: Digest
    previous_term: Term | None


def check_election_safety(leaders: dict[Term, NodeId], node: NodeId, term: Term) -> str | None:
    """Record ``node`` as leader of ``term``; a second leader in one term is a violation."""
    known = leaders.setdefault(term, node)
    if known != node:
        return f"election safety: nodes {known} and {node} both leader in term {term}"
    return None


def check_log_matching(
    records: dict[tuple[LogIndex, Term], LogRecord],
    node: NodeId,
    entry: Entry,
    previous_term: Term | None,
) -> str | None:
    """Record ``entry`` as held by ``node``; any disagreement with an earlier sighting fails."""
    key = (entry.index, entry.term)
    record = LogRecord((entry.kind, entry.data), previous_term)
    known = records.setdefault(key, record)
    if known.digest != record.digest:
        return (
            f"log matching: node {node} holds index {entry.index} term {entry.term} with "
            f"data {entry.data[:32]!r}, another log had {known.digest[1][:32]!r}"
        )
    if known.previous_term is None:
        records[key] = record
    elif previous_term is not None and previous_term != known.previous_term:
        return (
            f"log matching: node {node} holds index {entry.index} term {entry.term} after "
            f"term {previous_term}, another log had it after term {known.previous_term}"
        )
    return None


def check_state_machine_safety(
    applied: dict[LogIndex, tuple[Term, Digest]],
    node: NodeId,
    entry: Entry,
    *,
    by_value: bool = False,
) -> str | None:
    """Record ``entry`` as applied (so committed) by ``node``; one entry per index, ever
    (with ``by_value``: one value per slot, whatever ballot it was accepted in)."""
    value = (entry.term, (entry.kind, entry.data))
    known = applied.setdefault(entry.index, value)
    if known[1] != value[1] or (not by_value and known != value):
        return (
            f"state machine safety: node {node} applied index {entry.index} term {entry.term}, "
            f"another node applied term {known[0]} data {known[1][1][:32]!r} there"
        )
    return None


@dataclass(slots=True)
class CommitRecord:
    entry_term: Term
    commit_term: Term
    """The lowest current term of any node seen with the index committed: the term the index
    was committed in, or later (followers learn a commit from a leader of their own term)."""


def check_commit_agreement(
    commits: dict[LogIndex, CommitRecord],
    node: NodeId,
    index: LogIndex,
    entry_term: Term,
    term: Term,
) -> str | None:
    """Record that ``node`` (in ``term``) holds ``index`` committed with ``entry_term``; two
    nodes committing different entries at one index is a violation, seen before any apply."""
    known = commits.get(index)
    if known is None:
        commits[index] = CommitRecord(entry_term, term)
        return None
    if known.entry_term != entry_term:
        return (
            f"commit safety: node {node} committed index {index} term {entry_term}, "
            f"another node committed term {known.entry_term} there"
        )
    known.commit_term = min(known.commit_term, term)
    return None


def check_leader_completeness(
    committed: Mapping[LogIndex, CommitRecord],
    node: NodeId,
    term: Term,
    *,
    log_term: Callable[[LogIndex], Term | None],
    covered_index: LogIndex,
    indexes: Iterable[LogIndex],
) -> str | None:
    """A node that became leader of ``term`` holds every committed entry past its snapshot."""
    for index in indexes:
        if index <= covered_index:
            continue
        expected = committed[index].entry_term
        held = log_term(index)
        if held != expected:
            return (
                f"leader completeness: node {node} became leader of term {term} without "
                f"committed index {index} term {expected} (its log has term {held})"
            )
    return None


def check_leader_values(
    applied: Mapping[LogIndex, tuple[Term, Digest]],
    chosen_in: Mapping[LogIndex, Term],
    node: NodeId,
    term: Term,
    *,
    log_entry: Callable[[LogIndex], Entry | None],
    covered_index: LogIndex,
) -> str | None:
    """A new leader of ballot ``term`` (by value) holds every value chosen in a lower ballot
    past its snapshot: the Multi-Paxos form of leader completeness (phase 1 must recover every
    chosen value). As with terms, a candidate may complete phase 1 of a dead ballot late,
    after a higher one chose more; its accepts are refused, so those values are not its
    concern."""
    for index in sorted(applied):
        if index <= covered_index or chosen_in.get(index, term) >= term:
            continue
        entry = log_entry(index)
        if entry is None or (entry.kind, entry.data) != applied[index][1]:
            held = None if entry is None else entry.data[:32]
            return (
                f"leader completeness: node {node} became leader of ballot {term} without the "
                f"value chosen at slot {index} ({applied[index][1][1][:32]!r}; it holds {held!r})"
            )
    return None


def check_committed_durable(node: NodeId, entry: Entry, holders: int, quorum: int) -> str | None:
    """When an entry is first seen committed, a quorum of voters holds it on disk (fsynced).

    This is what an engine that acknowledges before its fsync breaks, and it is caught here
    without waiting for the crash that would turn it into lost data."""
    if holders < quorum:
        return (
            f"durability: node {node} applied index {entry.index} term {entry.term}, "
            f"committed while durable on only {holders} voters (quorum {quorum})"
        )
    return None


def check_monotonic(node: NodeId, name: str, before: int, after: int) -> str | None:
    if after < before:
        return f"{name} moved back on node {node}: {before} -> {after}"
    return None


def check_durable_hard_state(node: NodeId, before: HardState, after: HardState) -> str | None:
    """A persisted hard state never lowers the term, changes a vote in a term, or uncommits."""
    if after.term < before.term:
        return f"durable term decreased on node {node}: {before.term} -> {after.term}"
    if after.term == before.term and before.vote not in (NO_NODE, after.vote):
        return (
            f"durable vote changed on node {node} in term {after.term}: "
            f"{before.vote} -> {after.vote}"
        )
    if after.commit < before.commit:
        return f"durable commit decreased on node {node}: {before.commit} -> {after.commit}"
    return None


def check_restart(
    node: NodeId, durable: HardState, snapshot_index: LogIndex, commit: int, applied: int
) -> str | None:
    """A restarted node starts at (or past) what it had made durable before the crash."""
    if commit < durable.commit:
        return f"restart: node {node} commit {commit} below durable commit {durable.commit}"
    if applied < snapshot_index:
        return f"restart: node {node} applied {applied} below its snapshot index {snapshot_index}"
    return None


def check_keyspace_hash(
    hashes: dict[LogIndex, tuple[NodeId, bytes]], node: NodeId, index: LogIndex, digest: bytes
) -> str | None:
    """Record ``node``'s keyspace hash at applied ``index``; a different one is divergence."""
    known = hashes.setdefault(index, (node, digest))
    if known[1] != digest:
        return (
            f"keyspace divergence: nodes {known[0]} and {node} applied up to index {index} "
            f"but their keyspace hashes differ ({known[1].hex()[:12]} vs {digest.hex()[:12]})"
        )
    return None


def check_acked_put(node: NodeId, store: MvccStore, put: AckedPut) -> str | None:
    """The acknowledged ``put`` reads back at its revision from ``node``'s keyspace."""
    try:
        response = store.range(RangeRequest(put.key, revision=put.revision))
    except Compacted:
        return None
    except MvccError as error:
        return f"acknowledged put lost: node {node} cannot read revision {put.revision}: {error}"
    found = response.kvs[0] if response.kvs else None
    if found is None or found.value != put.value or found.mod_revision != put.revision:
        shown = None if found is None else (found.value, found.mod_revision)
        return (
            f"acknowledged put lost: {put.key!r}={put.value!r} at revision {put.revision} "
            f"(index {put.index}) reads as {shown!r} on node {node}"
        )
    return None


class Invariants:
    """The cross-node memory the checks need; ``violations`` collects what they report."""

    def __init__(self, *, by_value: bool = False) -> None:
        self.by_value = by_value
        """Entry terms are ballots: compare values, not terms (see the module docstring)."""
        self.leaders: dict[Term, NodeId] = {}
        self.records: dict[tuple[LogIndex, Term], LogRecord] = {}
        self.applied: dict[LogIndex, tuple[Term, Digest]] = {}
        self.commits: dict[LogIndex, CommitRecord] = {}
        self.commit_max = LogIndex(0)
        self.chosen_in: dict[LogIndex, Term] = {}
        """By value: the lowest ballot any node was in when it applied the slot's value. The
        leader that chose it normally applies it first, in its own ballot, so this is the
        ballot it was chosen in; if that leader fails before applying, it is a later one, and
        leaders of the ballots in between go unchecked for that slot (a missed check, never a
        false alarm)."""
        self.hashes: dict[LogIndex, tuple[NodeId, bytes]] = {}
        self.violations: list[str] = []

    def report(self, violation: str | None) -> None:
        if violation is not None:
            self.violations.append(violation)

    def on_entries(
        self, node: NodeId, entries: Iterable[Entry], log_term: Callable[[LogIndex], Term | None]
    ) -> None:
        previous: Term | None = None
        for position, entry in enumerate(entries):
            if position == 0:
                previous = log_term(LogIndex(entry.index - 1)) if entry.index > 1 else Term(0)
            shown = None if self.by_value else previous
            self.report(check_log_matching(self.records, node, entry, shown))
            previous = entry.term

    def on_commit(
        self,
        node: NodeId,
        low: LogIndex,
        high: LogIndex,
        term: Term,
        log_term: Callable[[LogIndex], Term | None],
    ) -> None:
        """``node``, in ``term``, moved its commit index from ``low`` to ``high``."""
        if self.by_value:
            self.commit_max = max(self.commit_max, high)
            return  # terms differ for one value; values are compared when applied
        for index in range(low + 1, high + 1):
            entry_term = log_term(LogIndex(index))
            if entry_term is not None:  # None: folded into a snapshot, recorded before
                self._commit(node, LogIndex(index), entry_term, term)

    def _commit(self, node: NodeId, index: LogIndex, entry_term: Term, term: Term) -> None:
        self.report(check_commit_agreement(self.commits, node, index, entry_term, term))
        self.commit_max = max(self.commit_max, index)

    def on_applied(self, node: NodeId, entries: Iterable[Entry], term: Term) -> None:
        for entry in entries:
            self.report(
                check_state_machine_safety(self.applied, node, entry, by_value=self.by_value)
            )
            if self.by_value:
                self.commit_max = max(self.commit_max, entry.index)
                known = self.chosen_in.get(entry.index, term)
                self.chosen_in[entry.index] = Term(min(known, term))
            else:
                self._commit(node, entry.index, entry.term, term)

    def on_leader(
        self,
        node: NodeId,
        term: Term,
        log_term: Callable[[LogIndex], Term | None],
        covered_index: LogIndex,
        log_entry: Callable[[LogIndex], Entry | None] | None = None,
    ) -> None:
        self.report(check_election_safety(self.leaders, node, term))
        if self.by_value:
            if log_entry is not None:
                self.report(
                    check_leader_values(
                        self.applied,
                        self.chosen_in,
                        node,
                        term,
                        log_entry=log_entry,
                        covered_index=covered_index,
                    )
                )
            return
        low = max(covered_index, LogIndex(0)) + 1
        commits = self.commits
        indexes = (
            LogIndex(i)
            for i in range(low, self.commit_max + 1)
            if i in commits and commits[LogIndex(i)].commit_term < term
        )
        self.report(
            check_leader_completeness(
                commits,
                node,
                term,
                log_term=log_term,
                covered_index=covered_index,
                indexes=indexes,
            )
        )
