"""The simulated network: per-message delay, loss and duplication, and partitions.

Reordering needs no code of its own: independent random delays reorder messages. A partition is
a set of blocked directed links, checked when a message would be delivered, so messages already
in flight when a partition starts are cut too.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from synod.core.ids import NodeId
from synod.sim.config import FaultProfile
from synod.sim.result import SimStats

Link = tuple[NodeId, NodeId]


class Network:
    def __init__(self, rng: random.Random, profile: FaultProfile, stats: SimStats) -> None:
        self._rng = rng
        self.profile = profile
        self._stats = stats
        self.blocked: frozenset[Link] = frozenset()
        self.partition_name = ""

    def allows(self, source: NodeId, target: NodeId) -> bool:
        return (source, target) not in self.blocked

    def delivery_delays(self) -> list[int]:
        """Delays (units) of the copies of one message that will arrive: none, one or two."""
        profile = self.profile
        rng = self._rng
        self._stats.messages_sent += 1
        if profile.loss_probability and rng.random() < profile.loss_probability:
            self._stats.messages_dropped += 1
            self._stats.faults["loss"] += 1
            return []
        delays = [self._delay()]
        if profile.duplicate_probability and rng.random() < profile.duplicate_probability:
            self._stats.messages_duplicated += 1
            self._stats.faults["duplicate"] += 1
            delays.append(self._delay())
        return delays

    def _delay(self) -> int:
        profile = self.profile
        rng = self._rng
        if profile.delay_tail_probability and rng.random() < profile.delay_tail_probability:
            self._stats.faults["delay_tail"] += 1
            return rng.randint(profile.delay_units_max, profile.delay_tail_units_max)
        return rng.randint(profile.delay_units_min, profile.delay_units_max)

    def partition(self, name: str, blocked: Iterable[Link]) -> None:
        self.blocked = frozenset(blocked)
        self.partition_name = name
        assert all(source != target for source, target in self.blocked)

    def heal(self) -> None:
        self.blocked = frozenset()
        self.partition_name = ""


def split_links(side_a: Sequence[NodeId], side_b: Sequence[NodeId], *, both: bool) -> set[Link]:
    """Links from ``side_a`` to ``side_b`` (and back when ``both``)."""
    links = {(a, b) for a in side_a for b in side_b}
    if both:
        links |= {(b, a) for a in side_a for b in side_b}
    return links


def choose_partition(
    rng: random.Random, nodes: Sequence[NodeId], leader: NodeId | None
) -> tuple[str, set[Link]]:
    """One partition of ``nodes`` (at least two): a kind chosen at random, then its sides."""
    assert len(nodes) >= 2, "a partition needs two nodes"
    shuffled = list(nodes)
    rng.shuffle(shuffled)
    kinds = ["symmetric", "one_way", "isolate_leader", "majority_minority"]
    if len(nodes) >= 3:
        kinds.append("bridge")
    kind = rng.choice(kinds)
    if kind == "isolate_leader":
        alone = leader if leader in nodes and leader is not None else shuffled[0]
        rest = [node for node in shuffled if node != alone]
        return kind, split_links([alone], rest, both=True)
    if kind == "majority_minority":
        minority = max(1, (len(nodes) - 1) // 2)
        return kind, split_links(shuffled[:minority], shuffled[minority:], both=True)
    if kind == "bridge":
        others = shuffled[1:]  # shuffled[0] is the bridge: it keeps every link
        cut = rng.randint(1, len(others) - 1)
        return kind, split_links(others[:cut], others[cut:], both=True)
    cut = rng.randint(1, len(nodes) - 1)
    return kind, split_links(shuffled[:cut], shuffled[cut:], both=kind == "symmetric")
