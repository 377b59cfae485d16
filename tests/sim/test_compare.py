"""``synod compare``: the side-by-side measurements of the two engines in the simulator."""

from __future__ import annotations

import pytest

from synod.cli.main import main
from synod.sim.compare import CRASH_TICK, Job, config_for, run_job, summarize, table


@pytest.mark.parametrize("engine", ["raft", "paxos"])
def test_a_leader_loss_is_measured_from_the_crash(engine: str) -> None:
    job = Job(engine, 3, "leader-loss", seed=5, ticks=800)
    sample = run_job(job)
    assert sample.violations == 0
    assert sample.election_ticks is not None
    assert sample.commit_recovery_ticks is not None
    # Nobody may campaign before an election timeout without the leader has passed.
    timeout = config_for(job).engine_config.election_timeout_ticks
    assert timeout - 1 <= sample.election_ticks <= sample.commit_recovery_ticks < 10 * timeout


def test_steady_runs_count_messages_fsyncs_and_write_latencies() -> None:
    samples = [run_job(Job("raft", 3, "steady", seed, ticks=400)) for seed in (1, 2)]
    for sample in samples:
        assert sample.commits > 0
        assert sample.fsyncs > 0
        assert sample.messages > sample.commits
        assert sample.write_latencies
        assert min(sample.write_latencies) > 0
    summary = summarize(samples)
    by_kind = summary.messages_per_commit_by_kind
    assert sum(by_kind.values()) == pytest.approx(summary.messages_per_commit)
    assert summary.runs == 2
    assert summary.violations == 0
    assert summary.election_p50 is None  # nothing crashed
    assert summary.write_p50 <= summary.write_p99
    assert "| steady | raft | 2 | 0 |" in table([summary])


def test_bad_arguments_get_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--engines", "raft,zab"]) == 2
    assert "unknown engine or scenario 'zab'" in capsys.readouterr().err
    assert main(["compare", "--ticks", str(CRASH_TICK)]) == 2
    assert "leader-loss needs --ticks above" in capsys.readouterr().err


def test_the_command_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["compare", "--scenarios", "steady", "--seeds", "1-1", "--ticks", "300"])
    out = capsys.readouterr()
    assert code == 0
    assert out.out.count("| steady |") == 4  # the summary and the messages by type
    raft_rows = [line for line in out.out.splitlines() if "| steady | raft | " in line]
    assert any("AppendEntries " in row for row in raft_rows)
    assert "| steady | paxos | " in out.out
    assert "Accept " in out.out
    assert "steady: paxos done (1 runs)" in out.err
