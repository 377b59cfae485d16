"""``synod sim`` flags, the single-seed summary, sweeps and replay commands."""

from __future__ import annotations

import argparse
from dataclasses import replace

import pytest

from synod.consensus.catalog import ENGINES
from synod.sim import cli
from synod.sim.engines import lookup_engine
from synod.sim.sweep import RunSpec

pytest.importorskip("synod.consensus.raft")


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="synod sim")
    cli.configure(parser)
    return cli.run(parser.parse_args(argv))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--nodes", "0"], "--nodes must be between 1 and 9"),
        (["--ticks", "0"], "--ticks must be > 0"),
        (["--seeds", "9-3"], "must be non-negative and increasing"),
        (["--seeds", "a-b"], "--seeds must look like 1-1000"),
        (["--engine", "zab"], "--engine must be one of: paxos, raft"),
        (["--jobs", "0"], "--jobs must be between 1"),
        (["--seeds", "1-2", "--verbose"], "--verbose needs a single --seed"),
        (["--seed", "-1"], "--seed must be non-negative"),
    ],
)
def test_bad_flags_are_one_line_errors(argv, message, capsys):
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err


def test_a_single_seed_prints_a_summary_and_passes(capsys):
    assert run(["--nodes", "3", "--seed", "4", "--ticks", "300"]) == 0
    out = capsys.readouterr().out
    assert "synod sim: raft, 3 nodes, seed 4, 300 ticks" in out
    assert "elections" in out
    assert "operations checked" in out
    assert out.rstrip().endswith("PASS")


def test_verbose_prints_the_event_log(capsys):
    assert run(["--nodes", "3", "--seed", "4", "--ticks", "300", "--verbose"]) == 0
    assert "becomes leader of term" in capsys.readouterr().out


def test_a_violation_prints_the_seed_and_the_replay_command(capsys, monkeypatch):
    raft = lookup_engine("raft")

    class NeverElected(raft):  # type: ignore[misc, valid-type]
        def campaign(self):
            pass

    monkeypatch.setitem(
        ENGINES, "broken", replace(ENGINES["raft"], name="broken", engine=NeverElected)
    )
    argv = ["--engine", "broken", "--nodes", "3", "--seed", "8", "--ticks", "200", "--no-check"]
    assert run(argv) == 1
    out = capsys.readouterr().out
    assert "FAIL seed 8: liveness" in out
    assert "replay: synod sim --engine broken --nodes 3 --seed 8 --ticks 200 --no-check" in out


def test_a_sweep_prints_every_seed_in_order_and_a_summary(capsys):
    assert run(["--nodes", "3", "--seeds", "1-3", "--ticks", "200", "--jobs", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[2] for line in lines[:3]] == ["1", "2", "3"]
    assert lines[3].startswith("sweep: raft, 3 nodes, 200 ticks, seeds 1-3: 3 passed, 0 failed")
    assert "seeds/s" in lines[3]


def test_a_failing_sweep_lists_the_failing_seeds(capsys, monkeypatch):
    raft = lookup_engine("raft")

    class NeverElected(raft):  # type: ignore[misc, valid-type]
        def campaign(self):
            pass

    monkeypatch.setitem(
        ENGINES, "broken", replace(ENGINES["raft"], name="broken", engine=NeverElected)
    )
    assert run(["--engine", "broken", "--nodes", "3", "--seeds", "1-2", "--ticks", "100"]) == 1
    out = capsys.readouterr().out
    assert "0 passed, 2 failed" in out
    assert "replay: synod sim --engine broken --nodes 3 --seed 2 --ticks 100 --swarm" in out


def test_replay_commands_round_trip_through_the_parser():
    spec = RunSpec(engine="raft", nodes=5, seed=17, ticks=4000, swarm=True)
    argv = spec.replay_command().split()[2:]
    parser = argparse.ArgumentParser()
    cli.configure(parser)
    args = parser.parse_args(argv)
    assert (args.engine, args.nodes, args.seed, args.ticks, args.swarm) == (
        "raft",
        5,
        17,
        4000,
        True,
    )


def test_disk_wal_runs_the_wal_and_says_so(capsys):
    assert run(["--nodes", "3", "--seed", "4", "--ticks", "300", "--disk", "wal"]) == 0
    out = capsys.readouterr().out
    assert "(default faults, wal disk)" in out
    assert "corrupt nodes refused 0" in out
    assert out.rstrip().endswith("PASS")
    assert (
        RunSpec("raft", 3, 4, 300, swarm=True, disk="wal")
        .replay_command()
        .endswith("--swarm --disk wal")
    )
