"""The network between a chaos cluster's members: which one a run uses, and the proxy one.

Two fabrics give the nemesis the same three operations on directed links between members,
named by member name: ``cut(source, destination)``, ``slow(source, destination, delay_s)``
and ``heal()`` (every link whole and fast again). Which mechanism carries them out is the
fabric's business:

- ``netns`` (``synod.chaos.netns``, root only): each member in its own network namespace with
  its own address; cuts are iptables rules, delays netem qdiscs, in the kernel;
- ``proxy`` (``ProxyFabric`` below, anyone): every member behind a loopback fault proxy
  (``synod.chaos.proxy``) that its peers dial instead of it.

``choose`` resolves ``--net auto``: netns when it can run here (and, for the delay nemesis,
when the kernel has netem), else the proxy, with the reason either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from synod.chaos.netns import unusable_reason
from synod.chaos.proxy import LinkRules, PeerProxy
from synod.cli.localcluster import ClusterError, free_port

NETS = ("auto", "netns", "proxy")


class FabricError(ClusterError):
    """The asked-for network cannot run here."""


class Fabric(Protocol):
    @property
    def kind(self) -> str: ...

    def cut(self, source: str, destination: str) -> None: ...

    def slow(self, source: str, destination: str, delay_s: float) -> None: ...

    def heal(self) -> None: ...


def choose(net: str, *, need_delay: bool) -> tuple[str, str]:
    """The fabric for ``--net`` (``netns`` or ``proxy``) and why; FabricError when ``netns``
    was asked for and cannot run."""
    if net == "proxy":
        return "proxy", "asked for with --net proxy"
    reason = unusable_reason(need_delay=need_delay)
    if net == "netns":
        if reason:
            raise FabricError(f"--net netns cannot run here: {reason}")
        return "netns", "asked for with --net netns"
    if net != "auto":
        raise FabricError(f"--net must be one of {', '.join(NETS)}")
    if reason:
        return "proxy", f"network namespaces unavailable: {reason}"
    return "netns", "root, with ip, iptables and tc, and a probe namespace worked"


class ProxyFabric:
    """A ``PeerProxy`` per member in front of its peer port; links known by member id."""

    kind = "proxy"

    def __init__(self, peer_ports: Mapping[str, int]) -> None:
        self.rules = LinkRules()
        self.peer_ports = dict(peer_ports)
        self.proxies = {
            name: PeerProxy(self.rules, free_port(), port) for name, port in peer_ports.items()
        }
        self.ids: dict[str, int] = dict.fromkeys(peer_ports, 0)

    async def start(self) -> None:
        for proxy in self.proxies.values():
            await proxy.start()

    def advertised_url(self, name: str) -> str:
        """The peer URL ``name`` advertises: its proxy's."""
        return f"http://127.0.0.1:{self.proxies[name].port}"

    def set_id(self, name: str, member_id: int) -> None:
        self.ids[name] = member_id
        self.proxies[name].destination = member_id

    def cut(self, source: str, destination: str) -> None:
        self.rules.cut.add((self.ids[source], self.ids[destination]))
        for proxy in self.proxies.values():
            proxy.enforce()

    def slow(self, source: str, destination: str, delay_s: float) -> None:
        self.rules.delay_s[(self.ids[source], self.ids[destination])] = delay_s

    def heal(self) -> None:
        self.rules.heal()

    async def renew(self, name: str) -> str:
        """A fresh proxy (so a fresh peer URL) for a member re-added after removal."""
        await self.proxies[name].close()
        proxy = PeerProxy(self.rules, free_port(), self.peer_ports[name])
        await proxy.start()
        self.proxies[name] = proxy
        self.ids[name] = 0
        return self.advertised_url(name)

    async def close(self) -> None:
        for proxy in self.proxies.values():
            await proxy.close()
