"""``synod chaos`` end to end on real processes: Synod and etcd under faults, a planted bug the
runner must catch, attaching to running endpoints, and Ctrl-C leaving no process behind.

As root (with ip, iptables and tc) the default ``--net auto`` puts the members in network
namespaces: the register, etcd and interrupted runs then go over them; the bank run always
goes through the loopback proxy, and the planted bug must be caught over both.

Each run is short (seconds of faults), so together they stay within a few minutes; the long
runs are ``make chaos`` and ``make soak``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synod.chaos.netns import link_names, namespaces, unusable_reason
from synod.check import cli as check_cli
from tests.cluster import etcd_command, running

RUN_SECONDS_MAX = 150.0
BROKEN_SERVE = Path(__file__).with_name("broken_serve.py")

NETNS_UNUSABLE = unusable_reason()
AUTO_NET = "proxy" if NETNS_UNUSABLE else "netns"
"""What ``--net auto`` picks on this machine."""

needs_etcd = pytest.mark.skipif(
    etcd_command() is None, reason="etcd is not installed (make setup installs etcd-server)"
)


def chaos(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "synod.cli.main", "chaos", f"--out={out}", *args],
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS_MAX,
        check=False,
    )


def leftovers(marker: str) -> list[str]:
    """Command lines of live processes that mention ``marker`` (a run's output directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().split()[2]
        except OSError:
            continue
        if marker in command and state != "Z":
            found.append(command)
    return found


def test_synod_register_under_every_fault(tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = chaos(
        out, "--nodes=3", "--time=20", "--seed=7", "--nemesis=kill,pause,partition,member,disk"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verdict: VALID" in done.stdout
    assert f"network: {AUTO_NET} (" in done.stdout
    assert "[valid] linearizable registers" in done.stdout
    assert "faults: 0" not in done.stdout, "the nemesis injected something"
    assert (out / "report.html").read_text().startswith("<!doctype html>")
    history = out / "history.edn"
    assert ":process :nemesis" in history.read_text()
    assert check_cli.check_file(history, "registers", 30).result is not None
    assert leftovers(str(out)) == []


def test_synod_bank_under_kills_and_partitions(tmp_path: Path) -> None:
    out = tmp_path / "bank"
    done = chaos(
        out,
        "--nodes=3",
        "--time=12",
        "--seed=3",
        "--workload=bank",
        "--nemesis=kill,partition",
        "--net=proxy",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "network: proxy (asked for with --net proxy)" in done.stdout
    assert "[valid] bank totals" in done.stdout
    assert " 0 reads broke conservation" in done.stdout


@pytest.mark.parametrize("net", ["proxy", "netns"])
def test_planted_stale_reads_are_caught_under_partitions(tmp_path: Path, net: str) -> None:
    if net == "netns" and NETNS_UNUSABLE:
        pytest.skip(f"network namespaces: {NETNS_UNUSABLE}")
    out = tmp_path / "broken"
    server = f"{sys.executable} {BROKEN_SERVE}"
    done = chaos(
        out,
        "--nodes=3",
        "--time=15",
        "--seed=2",
        "--nemesis=partition",
        f"--server-cmd={server}",
        f"--net={net}",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"network: {net} (" in done.stdout
    assert "verdict: INVALID" in done.stdout
    assert "[invalid] linearizable registers" in done.stdout
    assert "NOT linearizable" in done.stdout
    assert "refused by the model" in done.stdout
    assert "NOT linearizable" in (out / "report.html").read_text()
    assert leftovers(str(out)) == []


@needs_etcd
def test_the_same_runner_completes_against_etcd(tmp_path: Path) -> None:
    out = tmp_path / "etcd"
    done = chaos(
        out,
        "--target=etcd",
        "--nodes=3",
        "--time=12",
        "--seed=5",
        "--nemesis=kill,pause,partition",
        "--workload=watch",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 etcd nodes" in done.stdout
    assert f"network: {AUTO_NET} (" in done.stdout
    assert "verdict: VALID" in done.stdout
    assert "[valid] watch guarantees" in done.stdout
    assert leftovers(str(out)) == []


def test_attaches_to_running_endpoints(tmp_path: Path) -> None:
    with running("synod", 3, tmp_path / "cluster") as cluster:
        done = chaos(
            tmp_path / "attached",
            f"--endpoints={cluster.endpoints}",
            "--time=4",
            "--workload=append",
        )
        refused = chaos(tmp_path / "refused", f"--endpoints={cluster.endpoints}", "--nemesis=kill")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nemesis none" in done.stdout
    assert "[valid] linearizable appends" in done.stdout
    assert refused.returncode == 2
    assert "pass --nemesis none" in refused.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_leaves_no_process(tmp_path: Path, signum: int) -> None:
    out = tmp_path / "interrupted"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "synod.cli.main",
            "chaos",
            f"--out={out}",
            "--nodes=3",
            "--time=60",
            "--nemesis=pause,partition",
            "--seed=1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and not (out / "cluster").is_dir():
            time.sleep(0.2)
        logs = [out / "cluster" / f"n{i}.log" for i in (1, 2, 3)]
        while time.monotonic() < deadline and not all(
            log.exists() and "serving clients" in log.read_text(errors="replace") for log in logs
        ):
            time.sleep(0.2)
        assert len(leftovers(str(out))) == 4, "the runner and its 3 members are up"
        time.sleep(4)  # into the run: a member may be paused, a partition may be open
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    assert leftovers(str(out)) == []
    if AUTO_NET == "netns":
        assert [n for n in namespaces() if n.startswith(f"synod-c{process.pid}-")] == []
        assert [n for n in link_names() if n.startswith(f"sc{process.pid}")] == []
