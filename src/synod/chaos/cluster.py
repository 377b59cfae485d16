"""The cluster under test: real member processes joined by a fault-injecting network.

``ChaosCluster`` extends ``synod.cli.localcluster.LocalCluster`` with one of two fabrics
(``synod.chaos.fabric``): with ``net="proxy"`` a member listens on 127.0.0.1 but advertises
(in ``--initial-advertise-peer-urls`` and every member's ``--initial-cluster``) the port of
its ``PeerProxy``; with ``net="netns"`` each member runs inside its own network namespace
(``ip netns exec``, which execs the member, so signals reach it) and listens and advertises
on its own address there. Either way the nemesis cuts, slows and heals links through
``cut``, ``slow`` and ``heal_network``. It knows which members are meant to be down
(killed, paused, removed) so that any other exit is a crash.

Rules:
- ``server_command`` replaces the program (a testing hook: a variant with a planted bug);
  ``engine`` is passed to Synod members as ``--engine``;
- a member re-added after removal gets a fresh data directory and a fresh peer URL (a new
  proxy, or a new peer port in its namespace: so a fresh member id, as etcd gives every added
  member) and starts with ``existing``;
- ``aclose`` resumes paused members, stops every process, then every proxy or namespace,
  also after an error; an exit handler does the same should the event loop die first.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from synod.chaos.client import EtcdClient
from synod.chaos.fabric import Fabric, ProxyFabric
from synod.chaos.netns import NetnsError, NetnsFabric
from synod.cli.localcluster import (
    STOP_SECONDS_MAX,
    ClusterError,
    LocalCluster,
    Member,
    etcd_command,
    free_port,
    synod_command,
)

__all__ = ["ChaosCluster", "ClusterError", "MemberState"]


@dataclass(slots=True)
class MemberState:
    """The runner's view of one member."""

    member_id: int = 0
    paused: bool = False
    killed: bool = False
    removed: bool = False
    crashed_codes: tuple[int, ...] = ()

    @property
    def expected_up(self) -> bool:
        return not (self.killed or self.removed)


class ChaosCluster(LocalCluster):
    def __init__(
        self,
        program: str,
        size: int,
        base_dir: Path,
        *,
        engine: str = "raft",
        server_command: Sequence[str] = (),
        extra_flags: Sequence[str] = (),
        net: str = "proxy",
    ) -> None:
        names = [f"n{number}" for number in range(1, size + 1)]
        flags = [*extra_flags]
        if program == "synod":
            flags.append(f"--engine={engine}")
        super().__init__(program, size, base_dir, flags, names=names)
        self.server_command = list(server_command)
        self.state: dict[str, MemberState] = {m.name: MemberState() for m in self.members}
        self.proxies: ProxyFabric | None = None
        self.netns: NetnsFabric | None = None
        self.fabric: Fabric
        if net == "netns":
            self.netns = self.fabric = NetnsFabric([m.name for m in self.members])
        elif net == "proxy":
            self.proxies = self.fabric = ProxyFabric({m.name: m.peer_port for m in self.members})
        else:
            raise ValueError(f"net must be netns or proxy, not {net!r}")
        self.clients: dict[str, EtcdClient] = {}
        # A last resort should the event loop die before ``aclose``: no member outlives us.
        atexit.register(self._kill_all)

    def _kill_all(self) -> None:
        for member in self.members:
            if member.process is not None and member.process.poll() is None:
                with contextlib.suppress(OSError):
                    member.process.send_signal(signal.SIGCONT)
                    member.process.kill()
        if self.netns is not None:
            with contextlib.suppress(NetnsError):
                self.netns.destroy()

    def advertised_url(self, member: Member) -> str:
        if self.proxies is not None:
            return self.proxies.advertised_url(member.name)
        return member.peer_url

    def command(self, member: Member, state: str = "new") -> list[str]:
        if self.server_command:
            program = list(self.server_command)
        elif self.program == "synod":
            program = synod_command()
        else:
            found = etcd_command()
            if found is None:
                raise ClusterError("etcd is not installed (make setup installs etcd-server)")
            program = found
        current = [m for m in self.members if not self.state[m.name].removed or m is member]
        initial = ",".join(f"{m.name}={self.advertised_url(m)}" for m in current)
        inside = self.netns.exec_prefix(member.name) if self.netns is not None else []
        return [
            *inside,
            *program,
            f"--name={member.name}",
            f"--data-dir={member.data_dir}",
            f"--listen-client-urls={member.client_url}",
            f"--advertise-client-urls={member.client_url}",
            f"--listen-peer-urls={member.peer_url}",
            f"--initial-advertise-peer-urls={self.advertised_url(member)}",
            f"--initial-cluster={initial}",
            f"--initial-cluster-token={self.token}",
            f"--initial-cluster-state={state}",
            *self.extra_flags,
        ]

    async def start_network(self) -> None:
        """The proxies, or the namespaces (each member then listens on its own address)."""
        if self.proxies is not None:
            await self.proxies.start()
        if self.netns is not None:
            try:
                # In this thread: a Ctrl-C meanwhile lands in create, which undoes itself.
                self.netns.create()
            except NetnsError as error:
                raise ClusterError(f"could not build the members' namespaces: {error}") from error
            for member in self.members:
                member.host = self.netns.address(member.name)

    def cut(self, source: Member, destination: Member) -> None:
        self.fabric.cut(source.name, destination.name)

    def slow(self, source: Member, destination: Member, delay_s: float) -> None:
        self.fabric.slow(source.name, destination.name, delay_s)

    def heal_network(self) -> None:
        self.fabric.heal()

    def client(self, member: Member) -> EtcdClient:
        if member.name not in self.clients:
            self.clients[member.name] = EtcdClient(member.endpoint)
        return self.clients[member.name]

    def member(self, name: str) -> Member:
        return next(member for member in self.members if member.name == name)

    def in_cluster(self) -> list[Member]:
        return [m for m in self.members if not self.state[m.name].removed]

    def up(self) -> list[Member]:
        """Members meant to be running and serving now (not killed, paused or removed)."""
        return [
            m
            for m in self.members
            if self.state[m.name].expected_up and not self.state[m.name].paused
        ]

    def by_id(self, member_id: int) -> Member | None:
        for member in self.members:
            if self.state[member.name].member_id == member_id and member_id:
                return member
        return None

    async def learn_ids(self) -> None:
        """Every member's id, from its own Status answer (and the proxies' destinations)."""
        for member in self.in_cluster():
            with contextlib.suppress(Exception):
                member_id, _ = await self.client(member).status()
                self.set_id(member, member_id)

    def set_id(self, member: Member, member_id: int) -> None:
        self.state[member.name].member_id = member_id
        if self.proxies is not None:
            self.proxies.set_id(member.name, member_id)

    def kill_member(self, member: Member) -> None:
        state = self.state[member.name]
        if state.paused:
            self.resume(member)
        state.killed = True
        self.kill(member)

    def restart(self, member: Member) -> None:
        state = self.state[member.name]
        if not member.running:
            self.start_member(member)
        state.killed = False

    def pause(self, member: Member) -> None:
        if member.running and member.process is not None:
            member.process.send_signal(signal.SIGSTOP)
            self.state[member.name].paused = True

    def resume(self, member: Member) -> None:
        if member.process is not None and member.process.poll() is None:
            member.process.send_signal(signal.SIGCONT)
        self.state[member.name].paused = False

    def mark_removed(self, member: Member) -> None:
        self.state[member.name].removed = True

    def wait_exit(self, member: Member, seconds: float) -> bool:
        """Whether the member's process exited on its own within ``seconds``; kill it if not."""
        process = member.process
        if process is None:
            return True
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.kill(member)
            return False
        return True

    async def prepare_rejoin(self, member: Member) -> str:
        """A fresh data directory and peer URL for a removed member; the URL."""
        shutil.rmtree(member.data_dir, ignore_errors=True)
        self.state[member.name].member_id = 0
        if self.proxies is not None:
            return await self.proxies.renew(member.name)
        member.peer_port = free_port()  # any port is free inside the member's namespace
        return member.peer_url

    def crashed(self) -> list[tuple[Member, int]]:
        """Members that exited although nobody meant them to; each reported once."""
        found: list[tuple[Member, int]] = []
        for member in self.members:
            state = self.state[member.name]
            process = member.process
            if not state.expected_up or process is None:
                continue
            code = process.poll()
            if code is not None:
                found.append((member, code))
                state.crashed_codes = (*state.crashed_codes, code)
                state.killed = True
        return found

    async def aclose(self) -> None:
        try:
            for member in self.members:
                if self.state[member.name].paused:
                    self.resume(member)
            self.stop_all(STOP_SECONDS_MAX)
            for client in self.clients.values():
                with contextlib.suppress(Exception):
                    await client.close()
            if self.proxies is not None:
                with contextlib.suppress(Exception):
                    await self.proxies.close()
        finally:
            # Also after an error above: destroy kills whatever still runs inside first.
            if self.netns is not None:
                self.netns.destroy()
            atexit.unregister(self._kill_all)
