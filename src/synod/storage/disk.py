"""The ``Disk`` seam: the only way storage touches files, and two implementations.

A ``Disk`` is one directory of flat file names. ``OsDisk`` calls the operating system with real
``fdatasync`` and directory ``fsync``. ``SimDisk`` keeps everything in memory and models what a
power cut does: each file has a durable image plus writes not yet synced, and the directory has
a durable listing plus renames, creations and removals not yet synced. ``crash()`` forgets every
unsynced change (optionally letting a prefix of the last unsynced write reach the durable image,
a torn write). Fault hooks flip a bit or send the next write to a wrong offset, so tests can
drive every row of the WAL's recovery table deterministically.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Protocol


class Disk(Protocol):
    """What the WAL and the snapshot file need from a file system, and nothing more."""

    def list_names(self) -> list[str]: ...

    def read(self, name: str) -> bytes: ...

    def write(self, name: str, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset``, creating the file if it is missing."""
        ...

    def sync(self, name: str) -> None:
        """Make the file's written data durable (``fdatasync``)."""
        ...

    def truncate(self, name: str, size_bytes: int) -> None:
        """Cut or extend (with zeros) the file to ``size_bytes``."""
        ...

    def rename(self, source: str, target: str) -> None: ...

    def remove(self, name: str) -> None: ...

    def sync_directory(self) -> None:
        """Make creations, renames and removals durable (``fsync`` of the directory)."""
        ...


class OsDisk:
    """A real directory. Each call opens and closes its file: simple, and the WAL batches."""

    def __init__(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)
        self.path = path

    def _path(self, name: str) -> str:
        assert os.sep not in name, f"file name {name!r} names a path"
        assert name not in {"", ".", ".."}, f"file name {name!r} names a directory"
        return os.path.join(self.path, name)

    def list_names(self) -> list[str]:
        return sorted(os.listdir(self.path))

    def read(self, name: str) -> bytes:
        with open(self._path(name), "rb") as file:
            return file.read()

    def write(self, name: str, offset: int, data: bytes) -> None:
        descriptor = os.open(self._path(name), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            written = os.pwrite(descriptor, data, offset)
            assert written == len(data), f"short write to {name}: {written} of {len(data)}"
        finally:
            os.close(descriptor)

    def sync(self, name: str) -> None:
        descriptor = os.open(self._path(name), os.O_RDWR)
        try:
            os.fdatasync(descriptor)
        finally:
            os.close(descriptor)

    def truncate(self, name: str, size_bytes: int) -> None:
        """Growing allocates the blocks (``posix_fallocate``) where the file system can, so a
        preallocated segment does not run out of space halfway through a save."""
        descriptor = os.open(self._path(name), os.O_RDWR)
        try:
            size_now = os.fstat(descriptor).st_size
            if size_bytes > size_now:
                try:
                    os.posix_fallocate(descriptor, size_now, size_bytes - size_now)
                except OSError:
                    os.ftruncate(descriptor, size_bytes)
            else:
                os.ftruncate(descriptor, size_bytes)
            assert os.fstat(descriptor).st_size == size_bytes, f"{name} not resized"
        finally:
            os.close(descriptor)

    def rename(self, source: str, target: str) -> None:
        os.rename(self._path(source), self._path(target))

    def remove(self, name: str) -> None:
        os.remove(self._path(name))

    def sync_directory(self) -> None:
        descriptor = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


class SimRng(Protocol):
    """The randomness a ``SimDisk`` needs (``random.Random`` fits)."""

    def randrange(self, start: int, stop: int) -> int: ...


class SimulatedCrash(Exception):
    """Raised by ``SimDisk`` when its operation budget runs out: the power went."""


@dataclass(slots=True)
class _Write:
    offset: int
    data: bytes


@dataclass(slots=True)
class _SimFile:
    """One inode: what survives a crash (``durable``) and what readers see now (``current``)."""

    durable: bytearray = field(default_factory=bytearray)
    current: bytearray = field(default_factory=bytearray)
    last_unsynced_write: _Write | None = None

    def sync(self) -> None:
        self.durable = bytearray(self.current)
        self.last_unsynced_write = None

    def crash(self, tear: bool, rng: SimRng) -> None:
        write = self.last_unsynced_write
        self.current = bytearray(self.durable)
        self.last_unsynced_write = None
        if tear and write is not None and write.data:
            prefix = write.data[: rng.randrange(0, len(write.data))]
            _write_into(self.current, write.offset, prefix)
            self.durable = bytearray(self.current)


def _write_into(buffer: bytearray, offset: int, data: bytes) -> None:
    if len(buffer) < offset:
        buffer.extend(bytes(offset - len(buffer)))
    buffer[offset : offset + len(data)] = data


class SimDisk:
    """An in-memory disk that loses unsynced data on ``crash()``; deterministic given its rng.

    ``operations_max`` bounds the mutating calls (write, sync, truncate, rename, remove,
    sync_directory) before ``SimulatedCrash`` is raised, so a test can cut the power after
    every single one of them.
    """

    def __init__(self, rng: SimRng) -> None:
        self.rng = rng
        self._directory: dict[str, _SimFile] = {}
        self._durable_directory: dict[str, _SimFile] = {}
        self._misdirections: dict[str, int] = {}
        self.operations = 0
        self.operations_max: int | None = None

    def _operate(self) -> None:
        if self.operations_max is not None and self.operations >= self.operations_max:
            raise SimulatedCrash(f"power cut after {self.operations} operations")
        self.operations += 1

    def _file(self, name: str) -> _SimFile:
        if name not in self._directory:
            raise FileNotFoundError(name)
        return self._directory[name]

    def list_names(self) -> list[str]:
        return sorted(self._directory)

    def read(self, name: str) -> bytes:
        return bytes(self._file(name).current)

    def write(self, name: str, offset: int, data: bytes) -> None:
        self._operate()
        file = self._directory.setdefault(name, _SimFile())
        offset += self._misdirections.pop(name, 0)
        _write_into(file.current, offset, data)
        file.last_unsynced_write = _Write(offset, bytes(data))

    def sync(self, name: str) -> None:
        self._operate()
        self._file(name).sync()

    def truncate(self, name: str, size_bytes: int) -> None:
        self._operate()
        file = self._file(name)
        del file.current[size_bytes:]
        file.current.extend(bytes(size_bytes - len(file.current)))
        file.last_unsynced_write = None

    def rename(self, source: str, target: str) -> None:
        self._operate()
        self._directory[target] = self._file(source)
        del self._directory[source]

    def remove(self, name: str) -> None:
        self._operate()
        self._file(name)
        del self._directory[name]

    def sync_directory(self) -> None:
        self._operate()
        self._durable_directory = dict(self._directory)

    # -- faults ---------------------------------------------------------------------------------

    def crash(self, tear: bool = False) -> None:
        """Lose every unsynced change; with ``tear``, a prefix of each file's last unsynced
        write reaches its durable image first."""
        self._directory = dict(self._durable_directory)
        for file in self._directory.values():
            file.crash(tear, self.rng)
        self._misdirections.clear()
        self.operations_max = None

    def flip_bit(self, name: str, offset: int, bit: int = 0) -> None:
        """Media corruption: the bit changes in what is read now and what survives a crash."""
        assert 0 <= bit < 8, f"bit {bit} is not in a byte"
        file = self._file(name)
        for image in (file.current, file.durable):
            if offset < len(image):
                image[offset] ^= 1 << bit

    def misdirect_next_write(self, name: str, delta_bytes: int) -> None:
        """The next write to ``name`` lands ``delta_bytes`` away from where it was aimed."""
        self._misdirections[name] = delta_bytes
