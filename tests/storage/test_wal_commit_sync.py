"""A save that only raises the commit index is written but not fdatasynced (as etcd does);
everything else is synced. A crash may lose such a commit index, never a gap in the log."""

import contextlib
import random

import pytest

from synod.core.ids import LogIndex
from synod.core.log import HardState
from synod.storage.disk import SimDisk, SimulatedCrash
from synod.storage.wal import WalConfig, needs_sync
from synod.storage.wal_storage import WalStorage
from tests.storage.helpers import SMALL, entry, fresh, hard, reopen

BASE = hard(2, 1, 3)


@pytest.mark.parametrize(
    ("hard_state", "has_entries", "has_marker", "expected"),
    [
        (hard(2, 1, 5), False, False, False),  # a commit index alone
        (hard(2, 1, 3), False, False, False),  # nothing new at all
        (None, False, False, False),
        (hard(3, 1, 5), False, False, True),  # a new term
        (hard(2, 2, 3), False, False, True),  # a new vote
        (hard(2, 1, 5), True, False, True),  # entries
        (None, True, False, True),
        (hard(2, 1, 5), False, True, True),  # a snapshot marker
    ],
)
def test_only_a_commit_index_alone_goes_unsynced(
    hard_state: HardState | None, has_entries: bool, has_marker: bool, expected: bool
) -> None:
    assert needs_sync(BASE, hard_state, has_entries, has_marker) is expected


def _log_with_entries() -> tuple[SimDisk, WalStorage]:
    disk, storage = fresh()
    storage.save(hard(1, 1, 0), [entry(1, 1), entry(2, 1), entry(3, 1)])
    return disk, storage


def test_a_commit_only_save_is_written_but_not_synced() -> None:
    disk, storage = _log_with_entries()
    syncs = storage.wal.syncs
    storage.save(hard(1, 1, 2))
    assert storage.wal.syncs == syncs
    assert storage.wal.unsynced
    assert storage.hard_state == hard(1, 1, 2)
    assert reopen(disk).hard_state == hard(1, 1, 2)  # written: a reader sees it
    disk.crash()
    assert reopen(disk).hard_state == hard(1, 1, 0)  # not synced: a power cut loses it


def test_a_pending_commit_index_is_overwritten_and_made_durable_by_the_next_save() -> None:
    disk, storage = _log_with_entries()
    offset = storage.wal.write_offset
    storage.save(hard(1, 1, 2))
    storage.save(hard(1, 1, 3))
    assert storage.wal.write_offset == offset  # both wait where the next save will write
    syncs = storage.wal.syncs
    storage.save(None, [entry(4, 1)])  # no hard state of its own: it carries the pending one
    assert storage.wal.syncs == syncs + 1
    assert not storage.wal.unsynced
    disk.crash()
    recovered = reopen(disk)
    assert recovered.hard_state == hard(1, 1, 3)
    assert recovered.last_index() == 4


def test_a_torn_save_over_a_pending_commit_index_leaves_a_clean_tail() -> None:
    """The unsynced bytes are one write from the synced end: losing the pending commit index
    and tearing the next save leaves a torn tail, never a gap before valid records."""
    for seed in range(40):
        disk, storage = _log_with_entries()
        storage.save(hard(1, 1, 2))
        disk.operations_max = disk.operations + 1  # the write goes through, the sync does not
        with contextlib.suppress(SimulatedCrash):
            storage.save(hard(1, 1, 2), [entry(4, 1, b"x" * 200), entry(5, 1, b"y" * 200)])
        disk.rng = random.Random(seed)
        disk.crash(tear=True)
        recovered = reopen(disk)
        assert recovered.wal.damage is None, f"seed {seed}"
        assert recovered.last_index() in (3, 4, 5), f"seed {seed}"
        assert recovered.hard_state.commit <= recovered.last_index()


def test_rolling_to_a_new_segment_syncs_a_pending_commit_index_first() -> None:
    disk, storage = fresh()
    storage.save(hard(1, 1, 0), [entry(1, 1)])
    index = 2
    while storage.wal.write_offset + 600 < SMALL.segment_bytes_max:
        storage.save(None, [entry(index, 1, b"z" * 500)])
        index += 1
    storage.save(hard(1, 1, index - 1))
    assert storage.wal.unsynced
    segments = len(storage.wal.segments)
    storage.save(None, [entry(index, 1, b"z" * 500)])
    assert len(storage.wal.segments) == segments + 1
    disk.crash(tear=True)
    recovered = reopen(disk)
    assert recovered.wal.damage is None
    assert recovered.hard_state == hard(1, 1, index - 1)
    assert recovered.last_index() == index


def test_sync_makes_a_pending_commit_index_durable() -> None:
    disk, storage = _log_with_entries()
    storage.save(hard(1, 1, 3))
    storage.wal.sync()
    assert not storage.wal.unsynced
    disk.crash()
    assert reopen(disk).hard_state == hard(1, 1, 3)


def test_raise_commit_moves_the_commit_index_up_to_an_applied_index_only() -> None:
    disk, storage = _log_with_entries()
    storage.raise_commit(LogIndex(2))
    assert storage.hard_state == hard(1, 1, 2)
    storage.raise_commit(LogIndex(1))  # never down
    assert storage.hard_state == hard(1, 1, 2)
    with pytest.raises(AssertionError, match="past the log"):
        storage.raise_commit(LogIndex(9))
    assert WalStorage.open(disk, WalConfig(segment_bytes_max=4096)).hard_state == hard(1, 1, 2)
