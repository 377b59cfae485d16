"""The header decoder's memory: a repeated block is answered from memory, and never wrongly.

Every test decodes the same blocks with a plain ``hpack.Decoder`` alongside, so an answer from
memory is checked against a real decoding. The blocks come from ``hpack.Encoder``, as a
client's would.
"""

from __future__ import annotations

import hpack
import pytest

from synod.api.header_blocks import BLOCKS_MAX, HeaderDecoder

LIMIT = 64 * 1024

CALL = [
    (":method", "POST"),
    (":scheme", "http"),
    (":path", "/etcdserverpb.KV/Put"),
    (":authority", "127.0.0.1:2379"),
    ("content-type", "application/grpc"),
    ("te", "trailers"),
]

EMPTY_AND_RESTORE = b"\x20\x3f\xe1\x1f"
"""Two table size updates: to 0 (the table empties), then back to 4,096 (the default)."""
INSERT_A = b"\x40\x01a\x01b"
"""A literal field ``a: b`` with incremental indexing: it inserts an entry."""


class Pair:
    """A HeaderDecoder and a plain decoder fed the same blocks."""

    def __init__(self) -> None:
        self.decoder = HeaderDecoder(LIMIT)
        self.plain = hpack.Decoder(max_header_list_size=LIMIT)

    def decode(self, block: bytes) -> list[tuple[str, str]]:
        expected = [(str(name), str(value)) for name, value in self.plain.decode(block)]
        got = self.decoder.decode(block)
        assert got == expected
        return got


def test_a_repeated_block_is_answered_from_memory() -> None:
    encoder = hpack.Encoder()
    pair = Pair()
    first = encoder.encode(CALL)
    pair.decode(first)  # inserts the fields into the dynamic table: not remembered
    assert pair.decoder.reused == 0
    repeat = encoder.encode(CALL)
    assert len(repeat) < len(first)  # index references now
    for _ in range(5):
        assert encoder.encode(CALL) == repeat
        assert pair.decode(repeat) == [(name, value) for name, value in CALL]
    assert pair.decoder.reused == 4  # the first decoding of the repeat is real


def test_the_same_bytes_against_another_table_are_decoded_again() -> None:
    # b"\xbe" is "the newest entry of the dynamic table" (index 62): its meaning changes as
    # entries are inserted, while its bytes stay the same.
    encoder = hpack.Encoder()
    pair = Pair()
    pair.decode(encoder.encode([("x-version", "1")]))
    assert pair.decode(b"\xbe") == [("x-version", "1")]
    assert pair.decode(b"\xbe") == [("x-version", "1")]
    assert pair.decoder.reused == 1
    pair.decode(encoder.encode([("x-version", "2")]))
    assert pair.decode(b"\xbe") == [("x-version", "2")]


def test_a_memory_keyed_on_bytes_alone_would_answer_stale_headers() -> None:
    # The planted bug: forget the table in the key. The scenario above must catch it.
    class BytesOnly(HeaderDecoder):
        def _table_state(self) -> tuple[tuple[tuple[bytes, bytes], ...], int]:
            return (), 0

    encoder = hpack.Encoder()
    broken = BytesOnly(LIMIT)
    broken.decode(encoder.encode([("x-version", "1")]))
    broken.decode(b"\xbe")
    broken.decode(encoder.encode([("x-version", "2")]))
    assert broken.decode(b"\xbe") == [("x-version", "1")]  # stale: what the real one avoids


def test_a_block_that_changes_the_table_is_not_remembered() -> None:
    # Each block inserts a new literal with incremental indexing: replaying an answer would
    # leave the insertion out and shift every later index.
    pair = Pair()
    for _ in range(3):
        assert pair.decode(INSERT_A) == [("a", "b")]
    assert pair.decoder.reused == 0
    assert pair.decode(b"\xbe\xbf\xc0") == [("a", "b")] * 3


def test_a_block_that_changed_the_table_is_decoded_again_when_the_table_comes_back() -> None:
    pair = Pair()
    pair.decode(INSERT_A)
    pair.decode(EMPTY_AND_RESTORE)  # the table is as it was before the insertion
    pair.decode(INSERT_A)  # must insert again
    assert pair.decode(b"\xbe") == [("a", "b")]


def test_remembering_blocks_that_change_the_table_would_lose_an_insertion() -> None:
    # The planted bug: remember every block. The scenario above must catch it.
    class RemembersAll(HeaderDecoder):
        def _left_as_found(self, before: tuple[tuple[tuple[bytes, bytes], ...], int]) -> bool:
            return True

    broken = RemembersAll(LIMIT)
    broken.decode(INSERT_A)
    broken.decode(EMPTY_AND_RESTORE)
    broken.decode(INSERT_A)  # answered from memory: nothing inserted
    with pytest.raises(hpack.HPACKError):
        broken.decode(b"\xbe")


def test_a_table_size_update_is_not_skipped() -> None:
    encoder = hpack.Encoder()
    pair = Pair()
    pair.decode(encoder.encode(CALL))
    repeat = encoder.encode(CALL)
    pair.decode(repeat)
    pair.decode(repeat)
    encoder.header_table_size = 0  # the next block starts with a size update that empties it
    shrunk = encoder.encode(CALL)
    pair.decode(shrunk)
    assert pair.decoder.decode(b"\x82") == [(":method", "GET")]  # static entries still work
    with pytest.raises(hpack.HPACKError):
        pair.decoder.decode(repeat)  # its dynamic references point past an empty table


def test_a_bad_block_fails_every_time() -> None:
    decoder = HeaderDecoder(LIMIT)
    for _ in range(2):
        with pytest.raises(hpack.HPACKError):
            decoder.decode(b"\xff\xff\xff\xff\x7f")  # an index beyond any table
    assert decoder.reused == 0


def test_the_memory_is_bounded() -> None:
    decoder = HeaderDecoder(LIMIT)
    encoder = hpack.Encoder()
    decoder.decode(encoder.encode(CALL))
    blocks = [
        encoder.encode([*CALL, hpack.NeverIndexedHeaderTuple("grpc-timeout", f"{n}m")])
        for n in range(BLOCKS_MAX * 2)
    ]
    sizes = []
    for block in blocks:
        decoder.decode(block)
        sizes.append(len(decoder))
    assert max(sizes) == BLOCKS_MAX
    assert sizes[BLOCKS_MAX] == 1  # full, it started over
    assert decoder.decode(blocks[-1]) is not None
    assert decoder.reused == 1
