"""The namespace fabric on the real kernel: what it makes it removes (also after an error, also
what a dead run left), a cut link carries no TCP until healed, and netem slows a link.

Root only, with ip, iptables and tc: skipped otherwise, with the reason the probe gave. Every
connection attempt and helper process has a bounded timeout. All traffic stays between the
namespaces the tests create and the bridge in front of them.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from synod.chaos.netns import NetnsError, NetnsFabric, clean_stale, run_ip, unusable_reason

UNUSABLE = unusable_reason()
NETEM_MISSING = UNUSABLE or unusable_reason(need_delay=True)
pytestmark = pytest.mark.skipif(bool(UNUSABLE), reason=f"network namespaces: {UNUSABLE}")

PORT = 7000
CONNECT_S = 1.5
HELPER_S = 20.0

# Echoes every connection's bytes back, for at most HELPER_S seconds in all.
ECHO_SERVER = f"""
import socket, sys, time
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((sys.argv[1], {PORT}))
server.listen()
print("listening", flush=True)
deadline = time.monotonic() + {HELPER_S}
while time.monotonic() < deadline:
    server.settimeout(max(0.1, deadline - time.monotonic()))
    try:
        connection, _ = server.accept()
    except TimeoutError:
        break
    connection.settimeout({CONNECT_S})
    try:
        while data := connection.recv(64):
            connection.sendall(data)
    except OSError:
        pass
    connection.close()
"""

# Connects, then echoes ROUNDS bytes one at a time; prints the mean round trip in seconds.
ROUND_TRIPS = f"""
import socket, sys, time
connection = socket.create_connection((sys.argv[1], {PORT}), timeout={CONNECT_S})
connection.settimeout(5)
started = time.monotonic()
for _ in range(int(sys.argv[2])):
    connection.sendall(b"x")
    assert connection.recv(1) == b"x"
print((time.monotonic() - started) / int(sys.argv[2]))
"""


@pytest.fixture
def fabric() -> Iterator[NetnsFabric]:
    with NetnsFabric(["a", "b", "c"]) as made:
        yield made
    assert made.leftovers() == []


@pytest.fixture
def echo(fabric: NetnsFabric) -> Iterator[str]:
    """An echo server in a's namespace; its address."""
    address = fabric.address("a")
    server = subprocess.Popen(
        [*fabric.exec_prefix("a"), sys.executable, "-c", ECHO_SERVER, address],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "listening"
        yield address
    finally:
        server.kill()
        server.wait(HELPER_S)
        if server.stdout is not None:
            server.stdout.close()


def round_trip_s(fabric: NetnsFabric, name: str, address: str, rounds: int = 1) -> float | None:
    """The mean round trip from ``name``'s namespace to the echo server; None if unreachable."""
    done = subprocess.run(
        [*fabric.exec_prefix(name), sys.executable, "-c", ROUND_TRIPS, address, str(rounds)],
        capture_output=True,
        text=True,
        timeout=HELPER_S,
        check=False,
    )
    return float(done.stdout) if done.returncode == 0 else None


def reachable_from_root(address: str) -> bool:
    try:
        with socket.create_connection((address, PORT), timeout=CONNECT_S) as connection:
            connection.sendall(b"y")
            return connection.recv(1) == b"y"
    except OSError:
        return False


def test_creates_a_namespace_per_member_and_removes_everything() -> None:
    fabric = NetnsFabric(["a", "b"])
    with fabric:
        veths = [f"sc{fabric.owner_pid}v0", f"sc{fabric.owner_pid}v1"]
        made = [fabric.namespace("a"), fabric.namespace("b"), fabric.bridge, *veths]
        assert sorted(fabric.leftovers()) == sorted(made)
        assert unusable_reason() == ""
        assert sorted(fabric.leftovers()) == sorted(made), "a probe meanwhile touches none"
        inside = run_ip(["ip", "-4", "-o", "addr", "show"], fabric.namespace("b"))
        assert f"{fabric.address('b')}/24" in inside
        assert fabric.address("a").startswith("10.77.")
    assert fabric.leftovers() == []


def test_an_error_inside_removes_everything() -> None:
    fabric = NetnsFabric(["a", "b"])
    made: list[str] = []

    def fail_inside() -> None:
        with fabric:
            made.extend(fabric.leftovers())
            raise RuntimeError("failure inside the fabric's context")

    with pytest.raises(RuntimeError, match="inside"):
        fail_inside()
    assert len(made) == 5
    assert fabric.leftovers() == []


def test_a_half_made_fabric_is_undone() -> None:
    fabric = NetnsFabric(["a", "b"])
    run_ip(["ip", "netns", "add", fabric.namespace("b")])  # b's namespace cannot be made
    with pytest.raises(NetnsError, match="netns add"):
        fabric.create()
    assert fabric.leftovers() == []


def test_leftovers_of_a_dead_run_are_removed_with_their_processes() -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_pid = int(gone.stdout)
    stale = NetnsFabric(["a"], owner_pid=dead_pid)
    stale.create()
    try:
        sleeper = subprocess.Popen([*stale.exec_prefix("a"), "sleep", str(HELPER_S)])
        removed = clean_stale()
        assert stale.namespace("a") in removed
        assert stale.bridge in removed
        assert stale.leftovers() == []
        assert sleeper.wait(HELPER_S) < 0, "the process left inside was killed"
    finally:
        stale.destroy()


def test_a_cut_link_carries_no_tcp_until_healed(fabric: NetnsFabric, echo: str) -> None:
    assert round_trip_s(fabric, "b", echo) is not None
    fabric.cut("a", "b")
    fabric.cut("b", "a")
    assert round_trip_s(fabric, "b", echo) is None, "b cannot reach a"
    assert round_trip_s(fabric, "c", echo) is not None, "c still can"
    assert reachable_from_root(echo), "and so can the clients in the root namespace"
    fabric.heal()
    assert round_trip_s(fabric, "b", echo) is not None


def test_one_way_cut_still_breaks_tcp(fabric: NetnsFabric, echo: str) -> None:
    fabric.cut("a", "b")  # replies from a never reach b
    assert round_trip_s(fabric, "b", echo) is None
    fabric.heal()
    assert round_trip_s(fabric, "b", echo) is not None


@pytest.mark.skipif(bool(NETEM_MISSING), reason=f"netem delay: {NETEM_MISSING}")
def test_a_slowed_link_delays_round_trips(fabric: NetnsFabric, echo: str) -> None:
    delay_s = 0.2
    fabric.slow("b", "a", delay_s)
    slowed = round_trip_s(fabric, "b", echo, rounds=3)
    assert slowed is not None
    assert slowed >= 0.8 * delay_s
    assert reachable_from_root(echo)
    fabric.heal()
    assert "netem" not in run_ip(["tc", "qdisc", "show"], fabric.namespace("b"))
    assert round_trip_s(fabric, "b", echo) is not None
