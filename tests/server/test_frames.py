"""Peer frames: headers, handshakes and chunk streams round-trip; bad bytes raise FrameError."""

import random

import google_crc32c
import pytest
from hypothesis import given
from hypothesis import strategies as st

from synod.core.ids import NodeId
from synod.server.frames import (
    FRAME_VERSION,
    HEADER,
    HEADER_BYTES,
    MAGIC,
    FrameError,
    FrameType,
    Hello,
    Reassembler,
    check_payload,
    chunk_frames,
    decode_error,
    decode_header,
    decode_hello,
    encode_error,
    encode_frame,
    encode_hello,
)
from synod.server.peer_link import reconnect_delay_ms


def _split(frame: bytes) -> tuple[FrameType, bytes]:
    """What the transport's reader makes of ``frame`` (a short payload is a closed stream)."""
    header = decode_header(frame[:HEADER_BYTES], 1 << 20)
    payload = frame[HEADER_BYTES:]
    if len(payload) != header.length:
        raise FrameError(f"{len(payload)} payload bytes, header says {header.length}")
    check_payload(header, payload)
    return header.type, payload


@given(st.sampled_from(FrameType), st.binary(max_size=200))
def test_frames_round_trip(frame_type: FrameType, payload: bytes) -> None:
    assert _split(encode_frame(frame_type, payload)) == (frame_type, payload)


@given(st.binary(min_size=HEADER_BYTES, max_size=HEADER_BYTES))
def test_any_header_bytes_decode_or_raise_frame_error(data: bytes) -> None:
    try:
        header = decode_header(data, 4096)
    except FrameError:
        return
    assert data.startswith(MAGIC)
    assert header.length <= 4096


@given(st.binary(min_size=1, max_size=64), st.data())
def test_a_flipped_bit_fails_the_frame(payload: bytes, data: st.DataObject) -> None:
    frame = bytearray(encode_frame(FrameType.MESSAGE, payload))
    bit = data.draw(st.integers(0, len(frame) * 8 - 1))
    frame[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(FrameError):
        _split(bytes(frame))


def test_header_refusals_say_why() -> None:
    good = encode_frame(FrameType.MESSAGE, b"x")[:HEADER_BYTES]
    cases = {
        b"XXXX" + good[4:]: "bad magic",
        good[:4] + bytes([9]) + good[5:]: "frame version 9",
        good[:5] + bytes([77]) + good[6:]: "unknown frame type 77",
        HEADER.pack(MAGIC, FRAME_VERSION, FrameType.MESSAGE, 1 << 30, 0): "exceeds the limit",
    }
    for header, reason in cases.items():
        with pytest.raises(FrameError, match=reason):
            decode_header(header, 1 << 20)


@given(
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**64 - 1),
    st.binary(max_size=256),
    st.text(st.characters(max_codepoint=127), max_size=32),
)
def test_hello_round_trips(source: int, target: int, token: bytes, engine: str) -> None:
    hello = Hello(NodeId(source), NodeId(target), token, engine)
    assert decode_hello(encode_hello(hello)) == hello


def test_short_or_long_hellos_are_refused() -> None:
    with pytest.raises(FrameError, match="handshake payload"):
        decode_hello(b"\x01" * 16)
    with pytest.raises(FrameError, match="handshake payload"):
        decode_hello(b"\x01" * 16 + b"\x00" + b"t" * 257)
    with pytest.raises(FrameError, match="engine name of 33"):
        decode_hello(b"\x01" * 16 + bytes([33]) + b"e" * 33)
    with pytest.raises(FrameError, match="engine name of 5"):
        decode_hello(b"\x01" * 16 + bytes([5]) + b"raf")
    with pytest.raises(FrameError, match="not in ASCII"):
        decode_hello(b"\x01" * 16 + bytes([2]) + "é".encode() + b"token")


def test_hello_carries_the_engine_before_the_token() -> None:
    hello = Hello(NodeId(1), NodeId(2), b"token", "paxos")
    payload = encode_hello(hello)
    assert payload[16:] == bytes([5]) + b"paxos" + b"token"


def test_error_frames_carry_a_bounded_reason() -> None:
    assert _split(encode_error("wrong token")) == (FrameType.ERROR, b"wrong token")
    _, payload = _split(encode_error("x" * 5000))
    assert decode_error(payload) == "x" * 1024


@given(st.binary(max_size=3000), st.integers(1, 700), st.integers(0, 2**64 - 1))
def test_chunk_streams_reassemble(payload: bytes, chunk_bytes: int, stream: int) -> None:
    frames = list(chunk_frames(payload, stream, chunk_bytes))
    assert len(frames) == -(-len(payload) // chunk_bytes)
    reassembler = Reassembler(3000)
    results = [reassembler.feed(_split(frame)[1]) for frame in frames]
    if payload:
        assert results[-1] == payload
        assert results[:-1] == [None] * (len(frames) - 1)


def _pieces(payload: bytes, chunk_bytes: int) -> list[bytes]:
    return [_split(frame)[1] for frame in chunk_frames(payload, 7, chunk_bytes)]


def test_reassembly_refuses_gaps_repeats_and_interleaved_streams() -> None:
    first, second, third = _pieces(b"a" * 30, 10)
    for sequence, reason in [
        ([first, third], "does not fit"),
        ([first, first], "starts before stream 7 ended"),
        ([second], "continues no stream"),
        ([first, _pieces(b"b" * 30, 10)[1]], "continues no stream"),
    ]:
        reassembler = Reassembler(1000)
        *before, last = sequence
        for piece in before:
            assert reassembler.feed(piece) is None
        with pytest.raises(FrameError, match=reason):
            reassembler.feed(last)


def test_reassembly_checks_the_limit_and_the_whole_checksum() -> None:
    with pytest.raises(FrameError, match="exceeds the limit of 20"):
        Reassembler(20).feed(_pieces(b"a" * 30, 10)[0])
    first, second = _pieces(b"a" * 20, 10)
    damaged = bytearray(second)
    damaged[-1] ^= 1
    reassembler = Reassembler(100)
    assert reassembler.feed(first) is None
    with pytest.raises(FrameError, match="fails its crc32c"):
        reassembler.feed(bytes(damaged))
    with pytest.raises(FrameError, match="carries no data"):
        reassembler.feed(first[:28])
    assert google_crc32c.value(b"a" * 20) != 0


@given(st.integers(0, 100), st.integers(1, 1000), st.integers(0, 5000), st.integers(0, 2**32))
def test_reconnect_delay_doubles_up_to_the_cap_with_jitter(
    failures: int, delay_ms_min: int, extra_ms: int, seed: int
) -> None:
    delay_ms_max = delay_ms_min + extra_ms
    ceiling_ms = min(delay_ms_max, delay_ms_min * 2**failures)
    delay_ms = reconnect_delay_ms(failures, delay_ms_min, delay_ms_max, random.Random(seed))
    assert ceiling_ms - ceiling_ms // 2 <= delay_ms <= ceiling_ms


def test_reconnect_delays_vary_with_the_rng() -> None:
    rng = random.Random(3)
    delays = {reconnect_delay_ms(10, 100, 5000, rng) for _ in range(50)}
    assert len(delays) > 10
    assert min(delays) >= 2500
    assert max(delays) <= 5000
