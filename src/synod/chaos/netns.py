"""The runner's network as root: one network namespace per member, joined by a Linux bridge.

Per run (names carry the owner's pid, ``<pid>`` below, so leftovers can be told apart):

- a bridge ``sc<pid>br`` in the root namespace, holding ``10.77.<x>.1/24`` so the runner's
  clients (which stay in the root namespace) reach every member through it; ``<x>`` is chosen
  so that no address or route of the host overlaps ``10.77.<x>.0/24``;
- per member a namespace ``synod-c<pid>-<name>`` with a veth pair (``sc<pid>v<i>`` on the
  bridge, ``sc<pid>p<i>`` inside) and the address ``10.77.<x>.<10 + i>``; the member is
  started inside it (``ip netns exec`` replaces itself with the member, so the process the
  runner signals is the member itself) and listens there for peers and clients alike;
- a cut link (source, destination) is an iptables DROP rule in the destination's namespace
  for packets from the source's address; ``heal`` flushes those rules. Packets are dropped,
  not refused: established connections stall as on a real partition;
- a slowed link is a netem qdisc on the source's inside veth, reached through an HTB class
  and a u32 filter on the destination's address (client traffic is not slowed).

Nothing leaves the host: the subnet has no route beyond the bridge and forwarding is not
touched. Every command runs with a bounded timeout and fails with the command and its
error. ``destroy`` removes namespaces, veths and bridge (the iptables rules and qdiscs live
inside the namespaces and go with them); it is idempotent and also undoes a half-made fabric.
``clean_stale`` removes what earlier runs left whose owner process is dead, killing any
process still inside their namespaces first.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

NAMESPACE_PREFIX = "synod-c"
LINK_PREFIX = "sc"
SUBNET_FIRST_OCTETS = "10.77"
HOST_OCTET = 1
MEMBER_OCTET_FIRST = 10
COMMAND_SECONDS_MAX = 10.0
TOOLS = ("ip", "iptables", "tc")
FAST_CLASS = ("htb", "rate", "10gbit")
"""The HTB class a slowed link's packets go through: only its netem qdisc holds them."""
FILTER = ("protocol", "ip", "prio", "1", "u32", "match", "ip", "dst")

_NAMESPACE = re.compile(rf"^{NAMESPACE_PREFIX}(\d+)-\S+")
_LINK = re.compile(rf"^{LINK_PREFIX}(\d+)(br|v\d+|probe)$")


class NetnsError(Exception):
    """A namespace, link, rule or qdisc could not be made or removed."""


def run_ip(command: Sequence[str], namespace: str = "") -> str:
    """Run one network command (inside ``namespace`` when given); its output, or NetnsError."""
    full = ["ip", "netns", "exec", namespace, *command] if namespace else list(command)
    try:
        done = subprocess.run(
            full, capture_output=True, text=True, timeout=COMMAND_SECONDS_MAX, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise NetnsError(f"`{' '.join(full)}` failed: {error}") from error
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip() or f"exit code {done.returncode}"
        raise NetnsError(f"`{' '.join(full)}` failed: {detail}")
    return done.stdout


def _quietly(command: Sequence[str], namespace: str = "") -> None:
    with contextlib.suppress(NetnsError):
        run_ip(command, namespace)


def owner_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def namespaces() -> list[str]:
    return [line.split()[0] for line in run_ip(["ip", "netns", "list"]).splitlines() if line]


def link_names() -> list[str]:
    """Names of the root namespace's links (without the ``@peer`` suffix of a veth)."""
    names = []
    for line in run_ip(["ip", "-o", "link", "show"]).splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            names.append(parts[1].strip().split("@")[0])
    return names


def clean_stale() -> list[str]:
    """Remove namespaces and links of runs whose owner process is dead; what was removed."""
    removed = []
    for namespace in namespaces():
        match = _NAMESPACE.match(namespace)
        if match is None or owner_alive(int(match.group(1))):
            continue
        _kill_inside(namespace)
        _quietly(["ip", "netns", "delete", namespace])
        removed.append(namespace)
    for link in link_names():
        match = _LINK.match(link)
        if match is None or owner_alive(int(match.group(1))):
            continue
        _quietly(["ip", "link", "delete", link])
        removed.append(link)
    return removed


def _kill_inside(namespace: str) -> None:
    with contextlib.suppress(NetnsError):
        for pid in run_ip(["ip", "netns", "pids", namespace]).split():
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGCONT)
                os.kill(int(pid), signal.SIGKILL)


def unusable_reason(*, need_delay: bool = False) -> str:
    """Why the namespace fabric cannot run here ("" when it can): root, the tools, and a probe
    namespace with a veth and an iptables rule (and a netem qdisc when ``need_delay``)."""
    if os.geteuid() != 0:
        return "not root"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not found (make setup installs iproute2 and iptables)"
    # Names of their own: a fabric of this process may exist meanwhile.
    probe = f"{NAMESPACE_PREFIX}{os.getpid()}-probe"
    outside, inside = f"{LINK_PREFIX}{os.getpid()}probe", f"{LINK_PREFIX}{os.getpid()}in"
    try:
        run_ip(["ip", "netns", "add", probe])
        run_ip(["ip", "link", "add", outside, "type", "veth", "peer", "name", inside])
        run_ip(["ip", "link", "set", inside, "netns", probe])
        run_ip(["iptables", "-w", "-A", "INPUT", "-s", "10.77.0.2", "-j", "DROP"], probe)
        if need_delay:
            netem = ["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"]
            try:
                run_ip(netem, probe)
            except NetnsError as error:
                return f"no netem qdisc for the delay nemesis (kernel without sch_netem?): {error}"
    except NetnsError as error:
        return f"probe failed: {error}"
    finally:
        _quietly(["ip", "link", "delete", outside])
        _quietly(["ip", "netns", "delete", probe])
    return ""


def free_subnet(start: int) -> int:
    """The third octet of a ``10.77.<x>.0/24`` that overlaps no address or route of the host,
    trying ``start`` first."""
    taken: list[ipaddress.IPv4Network] = []
    for line in run_ip(["ip", "-4", "-o", "addr", "show"]).splitlines():
        for word in line.split():
            if "/" in word and word[0].isdigit():
                taken.append(ipaddress.IPv4Network(word, strict=False))
    for line in run_ip(["ip", "-4", "route", "show", "table", "all"]).splitlines():
        words = line.split()
        for word in words[:2]:
            with contextlib.suppress(ValueError):
                network = ipaddress.IPv4Network(word, strict=False)
                if network.prefixlen > 0:
                    taken.append(network)
    for step in range(254):
        third = (start + step) % 254 + 1
        candidate = ipaddress.IPv4Network(f"{SUBNET_FIRST_OCTETS}.{third}.0/24")
        if not any(candidate.overlaps(network) for network in taken):
            return third
    raise NetnsError(f"every {SUBNET_FIRST_OCTETS}.x.0/24 overlaps an address or route here")


@dataclass(slots=True)
class NetnsFabric:
    """Namespaces for the members ``names`` (at most 200), made by ``create``."""

    names: Sequence[str]
    owner_pid: int = field(default_factory=os.getpid)
    third_octet: int = 0
    created: bool = False
    _cut: set[tuple[str, str]] = field(default_factory=set)
    _slowed: dict[str, dict[str, float]] = field(default_factory=dict)

    kind = "netns"

    def __post_init__(self) -> None:
        if not 1 <= len(self.names) <= 200 or len(set(self.names)) != len(self.names):
            raise ValueError("the fabric needs 1 to 200 distinct member names")

    @property
    def bridge(self) -> str:
        return f"{LINK_PREFIX}{self.owner_pid}br"

    @property
    def host_address(self) -> str:
        return f"{SUBNET_FIRST_OCTETS}.{self.third_octet}.{HOST_OCTET}"

    def namespace(self, name: str) -> str:
        return f"{NAMESPACE_PREFIX}{self.owner_pid}-{name}"

    def address(self, name: str) -> str:
        index = list(self.names).index(name)
        return f"{SUBNET_FIRST_OCTETS}.{self.third_octet}.{MEMBER_OCTET_FIRST + index}"

    def exec_prefix(self, name: str) -> list[str]:
        """The command prefix that runs a program inside ``name``'s namespace."""
        return ["ip", "netns", "exec", self.namespace(name)]

    def _outside(self, index: int) -> str:
        return f"{LINK_PREFIX}{self.owner_pid}v{index}"

    def _inside(self, index: int) -> str:
        return f"{LINK_PREFIX}{self.owner_pid}p{index}"

    def create(self) -> None:
        """The bridge, then each member's namespace; undone again if any step fails."""
        clean_stale()
        self.third_octet = free_subnet(self.owner_pid % 254)
        self.created = True
        try:
            run_ip(["ip", "link", "add", self.bridge, "type", "bridge"])
            run_ip(["ip", "addr", "add", f"{self.host_address}/24", "dev", self.bridge])
            run_ip(["ip", "link", "set", self.bridge, "up"])
            for index, name in enumerate(self.names):
                self._add_member(index, name)
        except BaseException:
            self.destroy()
            raise

    def _add_member(self, index: int, name: str) -> None:
        namespace, outside, inside = self.namespace(name), self._outside(index), self._inside(index)
        run_ip(["ip", "netns", "add", namespace])
        run_ip(["ip", "link", "add", outside, "type", "veth", "peer", "name", inside])
        run_ip(["ip", "link", "set", inside, "netns", namespace])
        run_ip(["ip", "link", "set", outside, "master", self.bridge])
        run_ip(["ip", "link", "set", outside, "up"])
        run_ip(["ip", "addr", "add", f"{self.address(name)}/24", "dev", inside], namespace)
        run_ip(["ip", "link", "set", inside, "up"], namespace)
        run_ip(["ip", "link", "set", "lo", "up"], namespace)

    def destroy(self) -> None:
        """Remove every namespace, veth and the bridge (whichever exist); kill what is left
        inside the namespaces first."""
        if not self.created:
            return
        present = set(namespaces())
        for index, name in enumerate(self.names):
            namespace = self.namespace(name)
            if namespace in present:
                _kill_inside(namespace)
                _quietly(["ip", "netns", "delete", namespace])
            _quietly(["ip", "link", "delete", self._outside(index)])
        _quietly(["ip", "link", "delete", self.bridge])
        self._cut.clear()
        self._slowed.clear()
        self.created = False

    def leftovers(self) -> list[str]:
        """This fabric's namespaces and links that exist now (none after ``destroy``)."""
        mine = f"{NAMESPACE_PREFIX}{self.owner_pid}-"
        found = [namespace for namespace in namespaces() if namespace.startswith(mine)]
        link = re.compile(rf"^{LINK_PREFIX}{self.owner_pid}(br|v\d+)$")
        return found + [name for name in link_names() if link.match(name)]

    # Faults, per directed link between two members.

    def cut(self, source: str, destination: str) -> None:
        if (source, destination) in self._cut:
            return
        rule = ["-s", self.address(source), "-j", "DROP"]
        run_ip(["iptables", "-w", "-A", "INPUT", *rule], self.namespace(destination))
        self._cut.add((source, destination))

    def slow(self, source: str, destination: str, delay_s: float) -> None:
        """Delay every packet ``source`` sends ``destination`` by ``delay_s``."""
        slowed = self._slowed.setdefault(source, {})
        namespace, device = self.namespace(source), self._inside(self.names.index(source))
        classid = f"1:{10 + self.names.index(destination)}"
        netem = ["netem", "delay", f"{max(1, round(delay_s * 1000))}ms"]
        if destination in slowed:
            run_ip(["tc", "qdisc", "change", "dev", device, "parent", classid, *netem], namespace)
            slowed[destination] = delay_s
            return
        if not slowed:  # unclassified packets (no filter matched) pass unshaped
            run_ip(["tc", "qdisc", "add", "dev", device, "root", "handle", "1:", "htb"], namespace)
        slowed[destination] = delay_s
        to = f"{self.address(destination)}/32"
        for command in (
            ["class", "add", "dev", device, "parent", "1:", "classid", classid, *FAST_CLASS],
            ["qdisc", "add", "dev", device, "parent", classid, *netem],
            ["filter", "add", "dev", device, "parent", "1:", *FILTER, to, "flowid", classid],
        ):
            run_ip(["tc", *command], namespace)

    def heal(self) -> None:
        for namespace in {self.namespace(destination) for _, destination in self._cut}:
            run_ip(["iptables", "-w", "-F", "INPUT"], namespace)
        self._cut.clear()
        for source in self._slowed:
            device = self._inside(self.names.index(source))
            _quietly(["tc", "qdisc", "del", "dev", device, "root"], self.namespace(source))
        self._slowed.clear()

    def __enter__(self) -> NetnsFabric:
        self.create()
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()
