"""Shared builders for the storage tests."""

import random

from synod.consensus.storage import MemoryStorage
from synod.core.ids import LogIndex, NodeId, Term
from synod.core.log import Entry, HardState, Membership, Snapshot
from synod.storage.disk import SimDisk
from synod.storage.wal import WalConfig
from synod.storage.wal_storage import WalStorage

SMALL = WalConfig(segment_bytes_max=4096)
"""Small segments, so a few dozen entries already span several of them."""


def entry(index: int, term: int, data: bytes = b"") -> Entry:
    return Entry(LogIndex(index), Term(term), data=data or f"e{index}t{term}".encode())


def hard(term: int, vote: int = 0, commit: int = 0) -> HardState:
    return HardState(Term(term), NodeId(vote), LogIndex(commit))


def fresh(seed: int = 0) -> tuple[SimDisk, WalStorage]:
    disk = SimDisk(random.Random(seed))
    return disk, WalStorage.open(disk, SMALL)


def reopen(disk: SimDisk) -> WalStorage:
    return WalStorage.open(disk, SMALL)


Content = tuple[tuple[HardState, Membership], Snapshot, tuple[Entry, ...]]


def content(storage: MemoryStorage | WalStorage) -> Content:
    """What a reopened log must reproduce: hard state, snapshot and every entry."""
    return storage.initial_state(), storage.snapshot(), tuple(storage.all_entries())
