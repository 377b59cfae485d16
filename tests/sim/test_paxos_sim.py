"""The simulator runs the Multi-Paxos engine under its usual faults and checks, with the
invariants adapted to ballots (values compared, not terms), the membership nemesis included."""

from __future__ import annotations

import dataclasses

import pytest

from synod.consensus.catalog import entry_term_is_ballot, supports_membership_change
from synod.consensus.paxos import PaxosEngine
from synod.consensus.raft import RaftEngine
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import Entry, EntryKind
from synod.sim.config import FaultProfile, SimConfig
from synod.sim.engines import lookup_engine
from synod.sim.invariants import (
    Invariants,
    check_leader_values,
    check_state_machine_safety,
)
from synod.sim.sweep import RunSpec
from synod.sim.world import World, simulate

BUSY_MEMBERSHIP = dataclasses.replace(FaultProfile(), membership_probability=0.05)


def test_paxos_is_registered_with_its_traits() -> None:
    factory = lookup_engine("paxos")
    assert factory is PaxosEngine
    assert supports_membership_change(factory)
    assert entry_term_is_ballot(factory)
    assert supports_membership_change(RaftEngine)
    assert not entry_term_is_ballot(RaftEngine)


class FixedMembershipPaxos(PaxosEngine):
    SUPPORTS_MEMBERSHIP_CHANGE = False


def test_the_membership_nemesis_is_off_for_a_fixed_membership_engine() -> None:
    config = SimConfig(seed=3, nodes=3, ticks=400, faults=BUSY_MEMBERSHIP)
    world = World(config, FixedMembershipPaxos)
    assert world.config.faults.membership_probability == 0.0
    result = world.run()
    assert result.ok, result.violations
    assert result.stats.faults["membership"] == 0
    assert World(config, PaxosEngine).config.faults.membership_probability == 0.05


@pytest.mark.parametrize(("seed", "nodes"), [(3, 3), (5, 5)])
def test_paxos_survives_the_membership_nemesis(seed: int, nodes: int) -> None:
    config = SimConfig(seed=seed, nodes=nodes, ticks=1200, faults=BUSY_MEMBERSHIP)
    world = World(config, PaxosEngine)
    assert world.invariants.by_value
    result = world.run()
    assert result.ok, result.violations
    assert result.stats.faults["membership"] >= 2
    assert result.stats.nodes_added >= 1
    assert result.stats.commits > 50


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_paxos_runs_clean_under_default_faults(seed: int) -> None:
    result = simulate(SimConfig(seed=seed, nodes=3, ticks=800), PaxosEngine)
    assert result.ok, result.violations
    assert result.stats.commits > 50
    assert result.stats.elections >= 1


def test_paxos_runs_clean_on_the_wal_disk() -> None:
    result = simulate(SimConfig(seed=4, nodes=3, ticks=600, disk="wal"), PaxosEngine)
    assert result.ok, result.violations
    assert result.stats.commits > 50


@pytest.mark.parametrize(
    ("seed", "ticks", "disk"),
    [(1478, 6000, "memory"), (5165, 4000, "wal"), (5876, 4000, "wal"), (5943, 4000, "wal")],
)
def test_the_soak_seeds_that_once_lost_liveness_pass(seed: int, ticks: int, disk: str) -> None:
    """``make soak`` seeds that once ended with no write committed after the heal: 1478 (a
    leader that counted answers only in order), 5165 and 5876 (lease expiries re-proposed
    faster than a slow quorum chose them), 5943 (two voters, one repairing its WAL)."""
    config = RunSpec("paxos", 3, seed, ticks, swarm=True, disk=disk).config()
    result = simulate(config, PaxosEngine)
    assert result.ok, result.violations


def _entry(index: int, term: int, data: bytes) -> Entry:
    return Entry(LogIndex(index), Term(term), EntryKind.NORMAL, data)


def test_by_value_state_machine_safety_allows_one_value_under_two_ballots() -> None:
    applied: dict[LogIndex, tuple[Term, tuple[EntryKind, bytes]]] = {}
    node1, node2 = NodeId(1), NodeId(2)
    assert check_state_machine_safety(applied, node1, _entry(5, 7, b"x"), by_value=True) is None
    assert check_state_machine_safety(applied, node2, _entry(5, 9, b"x"), by_value=True) is None
    found = check_state_machine_safety(applied, node2, _entry(5, 9, b"y"), by_value=True)
    assert found is not None
    assert found.startswith("state machine safety")
    raft = check_state_machine_safety(applied, node2, _entry(5, 9, b"x"))
    assert raft is not None  # by term, a different term at one index is a violation


def test_by_value_log_matching_ignores_the_previous_term_but_not_the_value() -> None:
    invariants = Invariants(by_value=True)
    invariants.on_entries(NodeId(1), [_entry(2, 5, b"a"), _entry(3, 9, b"b")], lambda i: Term(1))
    invariants.on_entries(NodeId(2), [_entry(2, 7, b"a"), _entry(3, 9, b"b")], lambda i: Term(1))
    assert invariants.violations == []
    invariants.on_entries(NodeId(3), [_entry(3, 9, b"c")], lambda i: Term(5))
    assert len(invariants.violations) == 1
    assert invariants.violations[0].startswith("log matching")


def test_a_new_leader_must_hold_every_value_chosen_in_a_lower_ballot() -> None:
    applied = {LogIndex(4): (Term(3), (EntryKind.NORMAL, b"x"))}
    chosen_in = {LogIndex(4): Term(7)}
    log = {LogIndex(4): _entry(4, 11, b"x")}
    ok = check_leader_values(
        applied, chosen_in, NodeId(1), Term(11), log_entry=log.get, covered_index=LogIndex(1)
    )
    assert ok is None
    bad = {LogIndex(4): _entry(4, 11, b"")}
    found = check_leader_values(
        applied, chosen_in, NodeId(1), Term(11), log_entry=bad.get, covered_index=LogIndex(1)
    )
    assert found is not None
    assert found.startswith("leader completeness")
    covered = check_leader_values(
        applied, chosen_in, NodeId(1), Term(11), log_entry=bad.get, covered_index=LogIndex(4)
    )
    assert covered is None
    # A late leader of a dead ballot: the value was chosen in a higher one (7 > 5).
    late = check_leader_values(
        applied, chosen_in, NodeId(1), Term(5), log_entry=bad.get, covered_index=LogIndex(1)
    )
    assert late is None
