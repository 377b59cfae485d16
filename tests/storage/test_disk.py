"""The Disk seam: SimDisk loses exactly what was not synced; OsDisk does what the OS does."""

import random
from pathlib import Path

import pytest

from synod.storage.disk import OsDisk, SimDisk, SimulatedCrash


def sim(seed: int = 0) -> SimDisk:
    return SimDisk(random.Random(seed))


def test_unsynced_writes_and_unsynced_creations_are_lost() -> None:
    disk = sim()
    disk.write("a", 0, b"hello")
    disk.sync("a")
    disk.sync_directory()
    disk.write("a", 5, b" world")
    disk.write("b", 0, b"new")
    disk.sync("b")
    assert disk.read("a") == b"hello world"
    disk.crash()
    assert disk.list_names() == ["a"]
    assert disk.read("a") == b"hello"


def test_removal_and_rename_need_a_directory_sync() -> None:
    disk = sim()
    disk.write("a", 0, b"x")
    disk.sync("a")
    disk.sync_directory()
    disk.rename("a", "b")
    disk.crash()
    assert disk.list_names() == ["a"]
    disk.remove("a")
    disk.sync_directory()
    disk.crash()
    assert disk.list_names() == []


def test_truncate_extends_with_zeros_and_is_lost_unsynced() -> None:
    disk = sim()
    disk.write("a", 0, b"abc")
    disk.sync("a")
    disk.sync_directory()
    disk.truncate("a", 6)
    assert disk.read("a") == b"abc\0\0\0"
    disk.crash()
    assert disk.read("a") == b"abc"


def test_a_torn_write_leaves_a_strict_prefix() -> None:
    for seed in range(20):
        disk = sim(seed)
        disk.write("a", 0, b"")
        disk.sync("a")
        disk.sync_directory()
        disk.write("a", 0, b"0123456789")
        disk.crash(tear=True)
        data = disk.read("a")
        assert len(data) < 10
        assert b"0123456789".startswith(data)


def test_flip_bit_reaches_the_durable_image() -> None:
    disk = sim()
    disk.write("a", 0, b"\x00\x00")
    disk.sync("a")
    disk.sync_directory()
    disk.flip_bit("a", 1, bit=3)
    disk.crash()
    assert disk.read("a") == b"\x00\x08"


def test_misdirected_write_lands_elsewhere_once() -> None:
    disk = sim()
    disk.misdirect_next_write("a", 4)
    disk.write("a", 0, b"xy")
    disk.write("a", 0, b"ab")
    assert disk.read("a") == b"ab\0\0xy"


def test_operation_budget_cuts_the_power() -> None:
    disk = sim()
    disk.operations_max = 1
    disk.write("a", 0, b"x")
    with pytest.raises(SimulatedCrash):
        disk.sync("a")
    disk.crash()
    assert disk.list_names() == []


def test_os_disk_round_trip(tmp_path: Path) -> None:
    disk = OsDisk(str(tmp_path / "log"))
    disk.write("a", 0, b"hello")
    disk.write("a", 5, b"!")
    disk.sync("a")
    disk.truncate("a", 8)
    disk.rename("a", "b")
    disk.sync_directory()
    assert disk.list_names() == ["b"]
    assert disk.read("b") == b"hello!\0\0"
    disk.remove("b")
    assert disk.list_names() == []
