"""Faults the runner injects into a ``ChaosCluster``, one at a time, each healed after a hold.

- ``kill``: kill -9 one random member, the leader, or a majority; restart them after the hold.
- ``pause``: SIGSTOP one random member, the leader, or a majority; SIGCONT after the hold.
- ``partition``: cut the links between two sides (through the cluster's network fabric: the
  proxies close the connections and refuse new ones, or iptables drops the packets between
  namespaces): one random member alone, the leader alone, or a random minority from the
  majority.
- ``member``: remove a random member through the Cluster API (its process exits, as a removed
  etcd member does), wait for the hold, then add it back under a fresh peer URL and start it
  with a fresh data directory and ``--initial-cluster-state existing``.
- ``delay`` (not in the default set): every link to and from one random member, the leader,
  or a minority is slowed by 50 to 400 ms per chunk, as a congested or distant network would.
- ``disk`` (not in the default set): kill -9 one member, flip a few random bits in the written
  part of its newest write-ahead log segment, restart it. It must either start (repairing
  from its peers what it lost) or refuse with a clear error, never serve corrupt data (the
  history checks see to that); a member that refused is removed and re-added afresh, and the
  outcome is kept in ``disk_outcomes`` for the report.

Each fault is one window: a ``:nemesis`` start event, the hold, a stop event; the window heals
even when the run is cancelled during the hold. ``heal_all`` brings every member back for the
final phase. Every wait and retry is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

import grpc.aio

from synod.chaos.cluster import ChaosCluster
from synod.chaos.history import History
from synod.cli.localcluster import Member

KINDS = ("kill", "pause", "partition", "member", "disk", "delay")
DEFAULT_KINDS = ("kill", "pause", "partition", "member")
BITS_FLIPPED_MAX = 4
START_GRACE_S = 6.0
DELAY_S = (0.05, 0.4)
QUIET_S = (1.0, 3.0)
HOLD_S = (2.0, 5.0)
REMOVED_EXIT_S = 10.0
REJOIN_TRIES = 20
REMOVE_TRIES = 8
REMOVE_RETRY_S = 1.0
REJOIN_RETRY_S = 1.0
LEADER_POLL_S = 0.25
FAULTS_MAX = 10_000
"""More than any run's time allows (a fault takes at least 3 s); the loop's count bound."""


@dataclass(slots=True)
class Window:
    """One fault, from its start to its heal (nanoseconds since the run began)."""

    kind: str
    detail: str
    start_ns: int
    end_ns: int = -1


class Nemesis:
    def __init__(self, cluster: ChaosCluster, history: History, rng: random.Random) -> None:
        self.cluster = cluster
        self.history = history
        self.rng = rng
        self.windows: list[Window] = []
        self.leader: str = ""
        self.leader_changes: list[tuple[int, str]] = []
        self.crashes: list[tuple[int, str, int]] = []
        self.disk_outcomes: list[str] = []

    # The leader, as the members see it, and any member that exited unasked.

    async def watch(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while loop.time() < deadline:
            await self.poll_leader()
            for member, code in self.cluster.crashed():
                self.crashes.append((self.history.now_ns(), member.name, code))
                self.history.nemesis("crash", f"{member.name} exited with code {code}")
            await asyncio.sleep(LEADER_POLL_S)

    async def poll_leader(self) -> None:
        async def ask(member: Member) -> int:
            with contextlib.suppress(Exception):
                _, leader = await self.cluster.client(member).status()
                return leader
            return 0

        votes = await asyncio.gather(*(ask(m) for m in self.cluster.up()))
        counts: dict[int, int] = {}
        for vote in votes:
            if vote:
                counts[vote] = counts.get(vote, 0) + 1
        best = max(counts, key=lambda v: counts[v]) if counts else 0
        member = self.cluster.by_id(best)
        name = member.name if member is not None else ""
        if name != self.leader:
            self.leader = name
            self.leader_changes.append((self.history.now_ns(), name))
            self.history.nemesis("leader", name or None)

    # The fault loop.

    async def run(self, kinds: list[str], deadline: float) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(FAULTS_MAX):
            await asyncio.sleep(self.rng.uniform(*QUIET_S))
            hold = self.rng.uniform(*HOLD_S)
            if loop.time() + hold + 1.0 > deadline:
                return
            await self.inject(self.rng.choice(kinds), hold)

    async def inject(self, kind: str, hold: float) -> None:
        if kind == "member":
            await self.member_change(hold)
            return
        if kind == "disk":
            await self.disk_fault(hold)
            return
        targets, mode = self._targets(kind)
        if not targets:
            return
        names = ",".join(m.name for m in targets)
        window = self._open(kind, f"{mode}: {names}")
        try:
            if kind == "kill":
                for member in targets:
                    self.cluster.kill_member(member)
            elif kind == "pause":
                for member in targets:
                    self.cluster.pause(member)
            elif kind == "delay":
                self._slow(targets, self.rng.uniform(*DELAY_S))
            else:
                self._cut(targets)
            await asyncio.sleep(hold)
        finally:
            if kind == "kill":
                for member in targets:
                    self.cluster.restart(member)
            elif kind == "pause":
                for member in targets:
                    self.cluster.resume(member)
            else:
                self.cluster.heal_network()
            self._close(window)

    def _targets(self, kind: str) -> tuple[list[Member], str]:
        members = [m for m in self.cluster.up() if m.running]
        if len(members) < len(self.cluster.in_cluster()):
            return [], ""
        modes = ["one", "leader", "majority"]
        if kind in ("partition", "delay"):
            modes = ["one", "leader", "halves"]
        mode = self.rng.choice(modes)
        leader = [m for m in members if m.name == self.leader]
        if mode == "leader" and leader:
            return leader, mode
        if mode in ("majority", "halves"):
            count = len(members) // 2 + (1 if mode == "majority" else 0)
            return self.rng.sample(members, max(1, count)), mode
        return [self.rng.choice(members)], "one" if mode != "leader" else "leader (unknown)"

    def _slow(self, side: list[Member], delay_s: float) -> None:
        for member in self.cluster.members:
            for one in side:
                if member is not one:
                    self.cluster.slow(one, member, delay_s)
                    self.cluster.slow(member, one, delay_s)

    def _cut(self, side: list[Member]) -> None:
        for one in side:
            for other in self.cluster.members:
                if other not in side:
                    self.cluster.cut(one, other)
                    self.cluster.cut(other, one)

    async def member_change(self, hold: float) -> None:
        members = self.cluster.in_cluster()
        if len(members) < 3 or any(not m.running for m in members):
            return
        victim = self.rng.choice(members)
        others = [m for m in members if m is not victim]
        window = self._open("member", f"remove and re-add {victim.name}")
        try:
            victim_id = self.cluster.state[victim.name].member_id
            # Marked first: the member may exit before the answer arrives.
            self.cluster.mark_removed(victim)
            refusal = await self._remove(victim_id, others)
            if refusal:
                self.cluster.state[victim.name].removed = False
                window.detail += f" (removal refused: {refusal})"
                self.history.nemesis("member-remove-refused", f"{victim.name}: {refusal}")
                return
            await asyncio.to_thread(self.cluster.wait_exit, victim, REMOVED_EXIT_S)
            await asyncio.sleep(hold)
            await self.rejoin(victim)
        finally:
            self._close(window)

    async def _remove(self, member_id: int, others: list[Member]) -> str:
        """Remove ``member_id`` through any other member, retrying while the cluster says it
        is unhealthy (etcd refuses while a member's connection is younger than 5 s); "" once
        removed, else the last refusal (at once for an engine that cannot change members)."""
        refusal = "no member to ask"
        for _ in range(REMOVE_TRIES):
            for other in others:
                try:
                    await self.cluster.client(other).member_remove(member_id)
                except grpc.aio.AioRpcError as error:
                    refusal = error.details() or error.code().name
                    if "member not found" in refusal:
                        return ""  # an earlier attempt that timed out went through
                    if error.code() == grpc.StatusCode.UNIMPLEMENTED:
                        return refusal  # a fixed membership: asking again changes nothing
                    continue
                return ""
            await asyncio.sleep(REMOVE_RETRY_S)
        return refusal

    async def disk_fault(self, hold: float) -> None:
        members = self.cluster.in_cluster()
        if any(not m.running for m in members):
            return
        victim = self.rng.choice(members)
        window = self._open("disk", f"flip bits in the log of {victim.name}")
        try:
            self.cluster.kill_member(victim)
            flipped = flip_bits(victim.data_dir, self.rng)
            window.detail += f" ({flipped})"
            self.history.nemesis("corrupt", f"{victim.name}: {flipped}")
            await asyncio.sleep(hold / 2)
            log_start = victim.log_path.stat().st_size if victim.log_path.exists() else 0
            self.cluster.start_member(victim)
            exited = await asyncio.to_thread(_exits_within, victim, START_GRACE_S)
            if exited is None:
                self.cluster.state[victim.name].killed = False
                self.disk_outcomes.append(f"{victim.name} ({flipped}): started and served on")
                return
            tail = victim.log_path.read_text(errors="replace")[log_start:]
            reason = _last_lines(tail)
            clear = "Traceback" not in tail and exited != 0
            verdict = "refused to start" if clear else "CRASHED at start (no clear error)"
            self.disk_outcomes.append(
                f"{victim.name} ({flipped}): {verdict}, exit code {exited}: {reason}"
            )
            self.history.nemesis("refused-start", f"{victim.name}: {reason}")
            await self._replace(victim)
        finally:
            self._close(window)

    async def _replace(self, member: Member) -> None:
        """A member that cannot start: removed, then re-added with a fresh data directory."""
        state = self.cluster.state[member.name]
        others = [m for m in self.cluster.up() if m is not member]
        refusal = await self._remove(state.member_id, others)
        if refusal:
            self.history.nemesis("member-remove-refused", f"{member.name}: {refusal}")
            return  # left killed: heal_all restarts it (and it refuses again, visibly)
        state.removed = True
        state.killed = False
        await self.rejoin(member)

    async def rejoin(self, member: Member) -> bool:
        url = await self.cluster.prepare_rejoin(member)
        for _ in range(REJOIN_TRIES):
            for other in self.cluster.up():
                if other is member:
                    continue
                try:
                    member_id = await self.cluster.client(other).member_add(url)
                except grpc.aio.AioRpcError:
                    continue
                self.cluster.set_id(member, member_id)
                self.cluster.state[member.name].removed = False
                self.cluster.start_member(member, "existing")
                self.history.nemesis("member-added", f"{member.name} as {member_id:x}")
                return True
            await asyncio.sleep(REJOIN_RETRY_S)
        self.history.nemesis("member-add-failed", member.name)
        return False

    async def heal_all(self) -> None:
        """Every member back: resumed, restarted, connected, re-added."""
        self.cluster.heal_network()
        for member in self.cluster.members:
            state = self.cluster.state[member.name]
            if state.paused:
                self.cluster.resume(member)
            if state.killed and not state.removed:
                self.cluster.restart(member)
        for member in self.cluster.members:
            if self.cluster.state[member.name].removed:
                await self.rejoin(member)

    def _open(self, kind: str, detail: str) -> Window:
        window = Window(kind, detail, self.history.now_ns())
        self.windows.append(window)
        self.history.nemesis(f"start-{kind}", detail)
        return window

    def _close(self, window: Window) -> None:
        window.end_ns = self.history.now_ns()
        self.history.nemesis(f"stop-{window.kind}", window.detail)


def _exits_within(member: Member, seconds: float) -> int | None:
    """The exit code if ``member`` exits within ``seconds``, else None (it is running)."""
    process = member.process
    assert process is not None
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return None


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-count:]) or "(no output)"


def flip_bits(data_dir: Path, rng: random.Random) -> str:
    """Flip 1 to ``BITS_FLIPPED_MAX`` bits in the written part of the newest log segment."""
    segments = sorted(
        (p for p in data_dir.rglob("*") if p.is_file() and p.suffix in (".log", ".wal")),
        key=lambda p: (p.stat().st_mtime_ns, p.name),
    )
    if not segments:
        return "no log segment found"
    segment = segments[-1]
    data = bytearray(segment.read_bytes())
    written = len(data.rstrip(b"\0"))
    if written == 0:
        return f"{segment.name} is empty"
    offsets = sorted(rng.randrange(written) for _ in range(rng.randint(1, BITS_FLIPPED_MAX)))
    for offset in offsets:
        data[offset] ^= 1 << rng.randrange(8)
    segment.write_bytes(bytes(data))
    return f"{segment.name} bytes {','.join(str(o) for o in offsets)} of {written}"
