"""The operator's commands against real processes: ``synod up``, ``synod ctl``, ``synod bench``.

``synod up`` runs as a child process on free ports (its hidden ``--base-port``) and is stopped
with SIGINT, as Ctrl-C would. ``synod ctl``'s KV and status commands run against Synod and
etcd; its watch, lease and member commands against etcd (Synod serves those services later).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from synod.cli import ctl, etcd_bench
from tests.cluster import ENGINES, LocalCluster, etcd_command, running

UP_SECONDS_MAX = 45.0
COMMAND_SECONDS_MAX = 30.0

needs_etcd = pytest.mark.skipif(
    etcd_command() is None, reason="etcd is not installed (make setup installs etcd-server)"
)


def synod(*args: str) -> list[str]:
    return [sys.executable, "-m", "synod.cli.main", *args]


def run_synod(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        synod(*args), capture_output=True, text=True, timeout=COMMAND_SECONDS_MAX, check=False
    )


def free_base_port(count: int) -> int:
    """A port P such that P .. P+count-1 are free on 127.0.0.1 right now."""
    for base in range(30_000 + (os.getpid() % 500) * 40, 60_000, 97):
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(probe)
                probe.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for probe in sockets:
                probe.close()
    raise AssertionError("no run of free ports")


def processes_using(folder: Path) -> list[int]:
    """Process ids whose command line mentions ``folder`` (the members of one synod up)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if str(folder).encode() in command and b"synod.cli.main\x00serve\x00" in command:
            found.append(int(entry.name))
    return found


def wait_for_line(process: subprocess.Popen[str], text: str) -> list[str]:
    """stdout lines until one containing ``text``; fails if the process ends first."""
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + UP_SECONDS_MAX
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    process.kill()
    raise AssertionError(f"no {text!r} in time: {''.join(lines)}")


def up_once(
    data_dir: Path, base_port: int, key: str, value: str | None, engine: str = "raft"
) -> str:
    """Start synod up, write ``key`` (if ``value``), read it back, SIGINT: the read output."""
    command = synod(
        "up",
        "--nodes",
        "3",
        "--data-dir",
        str(data_dir),
        "--base-port",
        str(base_port),
        "--engine",
        engine,
    )
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            return check_up(process, data_dir, base_port, key, value)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            for pid in processes_using(data_dir):  # members of a synod up that was killed
                os.kill(pid, signal.SIGKILL)


def check_up(
    process: subprocess.Popen[str], data_dir: Path, base_port: int, key: str, value: str | None
) -> str:
    banner = "".join(wait_for_line(process, "Ctrl-C stops every member"))
    endpoint = f"127.0.0.1:{base_port}"
    assert f"etcdctl --endpoints={endpoint}" in banner
    assert str(data_dir / "m1.log") in banner
    if value is not None:
        put = run_synod("ctl", f"--endpoints={endpoint}", "put", key, value)
        assert (put.returncode, put.stdout) == (0, "OK\n"), put.stderr
    got = run_synod("ctl", f"--endpoints=127.0.0.1:{base_port + 4}", "get", key)
    assert got.returncode == 0, got.stderr
    assert len(processes_using(data_dir)) == 3
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=UP_SECONDS_MAX) == 0
    assert processes_using(data_dir) == []
    return got.stdout


@pytest.mark.parametrize("engine", ENGINES)
def test_up_serves_stops_on_ctrl_c_and_resumes(tmp_path: Path, engine: str) -> None:
    data_dir = tmp_path / "cluster"
    base_port = free_base_port(6)
    assert up_once(data_dir, base_port, "greeting", "hello", engine) == "greeting\nhello\n"
    assert sorted(path.name for path in data_dir.iterdir()) == [
        "m1",
        "m1.log",
        "m2",
        "m2.log",
        "m3",
        "m3.log",
    ]
    assert "serving clients" in (data_dir / "m2.log").read_text()
    assert f"started: engine {engine}," in (data_dir / "m2.log").read_text()
    # Same folder again: the members recover their logs and the key is still there.
    assert up_once(data_dir, base_port, "greeting", None, engine) == "greeting\nhello\n"


def test_up_refuses_a_port_in_use(tmp_path: Path) -> None:
    base_port = free_base_port(6)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", base_port + 2))
        holder.listen()
        done = run_synod("up", "--data-dir", str(tmp_path), "--base-port", str(base_port))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert f"port {base_port + 2} (for m2) is already in use" in done.stderr
    assert not (tmp_path / "m1").exists()


@pytest.mark.parametrize(
    "args",
    [
        ("up", "--nodes", "4"),
        ("up", "--bogus"),
        ("ctl", "get"),
        ("ctl", "lease", "grant", "soon"),
        ("bench", "put", "--clients", "0"),
        ("bench", "scan"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(args: tuple[str, ...]) -> None:
    done = run_synod(*args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stdout == ""


@pytest.fixture(scope="module", params=["synod", pytest.param("etcd", marks=needs_etcd)])
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalCluster]:
    program: str = request.param
    with running(program, 1, Path(tmp_path_factory.mktemp(program))) as started:
        yield started


def ctl_out(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = ctl.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_ctl_put_get_prefix_revision_and_delete(
    cluster: LocalCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint = f"--endpoints={cluster.endpoints}"
    assert ctl_out(capsys, endpoint, "put", "dir/a", "1") == (0, "OK\n", "")
    assert ctl_out(capsys, endpoint, "put", "dir/b", "2")[0] == 0
    assert ctl_out(capsys, endpoint, "put", "dir/a", "3")[0] == 0
    assert ctl_out(capsys, endpoint, "get", "dir/", "--prefix") == (0, "dir/a\n3\ndir/b\n2\n", "")
    listed = json.loads(cluster.etcdctl("get", "dir/a", "-w", "json"))
    first_revision = listed["kvs"][0]["create_revision"]
    at_first = ctl_out(capsys, endpoint, "get", "dir/a", "--rev", str(first_revision))
    assert at_first == (0, "dir/a\n1\n", "")
    serializable = ctl_out(capsys, endpoint, "get", "dir/b", "--consistency", "s")
    assert serializable[1] in ("dir/b\n2\n", "")
    assert ctl_out(capsys, endpoint, "del", "dir/", "--prefix") == (0, "2\n", "")
    assert ctl_out(capsys, endpoint, "get", "dir/", "--prefix") == (0, "", "")


def test_ctl_errors_are_one_line_with_exit_1(
    cluster: LocalCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = ctl_out(capsys, "--endpoints=127.0.0.1:1", "get", "x")
    assert (code, out) == (1, "")
    assert err == "synod ctl: cannot reach 127.0.0.1:1: connection refused\n"
    code, out, err = ctl_out(
        capsys, f"--endpoints={cluster.endpoints}", "get", "x", "--rev", "1000000"
    )
    assert (code, out) == (1, "")
    assert err == "synod ctl: etcdserver: mvcc: required revision is a future revision\n"


def test_ctl_falls_back_to_the_next_endpoint(
    cluster: LocalCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoints = f"--endpoints=127.0.0.1:1,{cluster.endpoints}"
    assert ctl_out(capsys, endpoints, "put", "fallback", "yes") == (0, "OK\n", "")


def test_ctl_endpoint_status_table(
    cluster: LocalCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = ctl_out(capsys, f"--endpoints={cluster.endpoints}", "endpoint", "status")
    assert code == 0
    header, rule, row = out.splitlines()
    assert header.split()[:3] == ["ENDPOINT", "ID", "VERSION"]
    assert set(rule.replace(" ", "")) == {"-"}
    cells = row.split()
    assert cells[0] == cluster.members[0].endpoint
    status = json.loads(cluster.etcdctl("endpoint", "status", "-w", "json"))
    assert cells[1] == f"{status[0]['Status']['header']['member_id']:x}"
    assert "yes" in cells  # a one-member cluster leads itself


def test_bench_put_reports_throughput_and_no_errors(
    cluster: LocalCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = etcd_bench.Spec(
        operation="put",
        endpoints=(cluster.members[0].endpoint,),
        clients=4,
        conns=2,
        total=200,
        val_size=32,
        key_space_size=50,
    )
    report = etcd_bench.measure(spec)
    assert (report.requests, report.errors) == (200, 0)
    assert report.ops_per_s > 0
    assert 0 < report.latency_ms["p50"] <= report.latency_ms["p99"] <= report.latency_ms["max"]
    written = cluster.etcdctl("get", "000000", "--prefix", "--keys-only").split()
    assert written
    assert all(len(key) == 8 and int(key) < 50 for key in written)
    code = etcd_bench.main(
        ["range", f"--endpoints={cluster.endpoints}", "--total", "50", "--clients", "2"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "errors        0" in out
    assert "ops/s (50 ok" in out


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    if etcd_command() is None:
        pytest.skip("etcd is not installed (make setup installs etcd-server)")
    with running("etcd", 1, Path(tmp_path_factory.mktemp("etcd-only"))) as started:
        yield started


def revision_of(cluster: LocalCluster) -> int:
    header = json.loads(cluster.etcdctl("get", "any", "-w", "json"))["header"]
    revision: int = header["revision"]
    return revision


def stream_until_ctrl_c(command: list[str], lines_wanted: int) -> list[str]:
    """Run a streaming ``synod ctl`` command, read ``lines_wanted`` lines, SIGINT it."""
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline().rstrip("\n") for _ in range(lines_wanted)]
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=COMMAND_SECONDS_MAX) == 0
            return lines
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def test_ctl_watch_replays_and_streams_until_ctrl_c(
    etcd: LocalCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint = f"--endpoints={etcd.endpoints}"
    start = revision_of(etcd) + 1
    assert ctl_out(capsys, endpoint, "put", "w/a", "1")[0] == 0
    assert ctl_out(capsys, endpoint, "put", "other", "x")[0] == 0
    assert ctl_out(capsys, endpoint, "del", "w/a")[0] == 0
    command = synod("ctl", endpoint, "watch", "w/", "--prefix", "--rev", str(start))
    assert stream_until_ctrl_c(command, 5) == ["PUT", "w/a", "1", "DELETE", "w/a"]


def test_ctl_leases(etcd: LocalCluster, capsys: pytest.CaptureFixture[str]) -> None:
    endpoint = f"--endpoints={etcd.endpoints}"
    code, out, _ = ctl_out(capsys, endpoint, "lease", "grant", "60")
    assert code == 0
    words = out.split()
    assert words[0] == "lease"
    assert words[2:] == ["granted", "with", "TTL(60s)"]
    lease = words[1]
    assert ctl_out(capsys, endpoint, "put", "leased", "v", "--lease", lease)[0] == 0
    assert lease in ctl_out(capsys, endpoint, "lease", "list")[1].split()
    kept = stream_until_ctrl_c(synod("ctl", endpoint, "lease", "keep-alive", lease), 1)
    assert kept == [f"lease {lease} keepalived with TTL(60)"]
    assert ctl_out(capsys, endpoint, "lease", "revoke", lease) == (
        0,
        f"lease {lease} revoked\n",
        "",
    )
    assert ctl_out(capsys, endpoint, "get", "leased") == (0, "", "")
    code, _, err = ctl_out(capsys, endpoint, "lease", "revoke", lease)
    assert (code, err) == (1, "synod ctl: etcdserver: requested lease not found\n")


def test_ctl_member_list(etcd: LocalCluster, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = ctl_out(capsys, f"--endpoints={etcd.endpoints}", "member", "list")
    assert code == 0
    header, _, row = out.splitlines()
    assert header.split() == ["ID", "NAME", "PEER", "URLS", "CLIENT", "URLS", "LEARNER"]
    member = etcd.members[0]
    assert row.split()[1:] == [member.name, member.peer_url, member.client_url, "no"]
