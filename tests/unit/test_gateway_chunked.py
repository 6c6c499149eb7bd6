"""aws-chunked request bodies, decoded as a stream; failures told apart by reason."""

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aismesh.cmn.errors import InvalidArgument
from services.gateway.s3.chunked import MAX_HEADER_LINE, aws_chunked_body


def encode_aws_chunked(payload: bytes, chunk: int, trailer: bytes = b"") -> bytes:
    out = b""
    for i in range(0, len(payload), chunk):
        piece = payload[i:i + chunk]
        out += f"{len(piece):x};chunk-signature=abc\r\n".encode() + piece + b"\r\n"
    out += b"0\r\n" + trailer + b"\r\n"
    return out


def decode(raw: bytes, read_size: int = 16) -> bytes:
    return b"".join(aws_chunked_body(io.BytesIO(raw).read, read_size))


@given(payload=st.binary(max_size=5000), chunk=st.integers(1, 700), read_size=st.integers(1, 900))
def test_aws_chunked_round_trip(payload: bytes, chunk: int, read_size: int) -> None:
    body = io.BytesIO(encode_aws_chunked(payload, chunk, b"x-amz-checksum-crc32:AAAAAA==\r\n"))
    assert b"".join(aws_chunked_body(body.read, read_size)) == payload


@given(payload=st.binary(min_size=1, max_size=300), chunk=st.integers(1, 100), data=st.data())
def test_aws_chunked_cut_anywhere_is_incomplete(payload: bytes, chunk: int, data: st.DataObject) -> None:
    raw = encode_aws_chunked(payload, chunk)
    last_chunk = raw.rindex(b"0\r\n")  # cut before the last chunk: some payload is missing
    cut = data.draw(st.integers(0, last_chunk - 1))
    with pytest.raises(InvalidArgument) as e:
        decode(raw[:cut])
    assert e.value.reason == "incomplete-body"


def test_aws_chunked_without_final_crlf_is_accepted() -> None:
    assert decode(encode_aws_chunked(b"abc", 2)[:-2]) == b"abc"


@pytest.mark.parametrize("raw", [
    b"zz\r\nabc\r\n", b"-3\r\nabc\r\n", b"+3\r\nabc\r\n", b" \r\nabc\r\n", b"1ffffffffffffffff\r\nabc\r\n",
    b"8000000000000000\r\n", b"3\r\nabcXY0\r\n\r\n", b"a" * (MAX_HEADER_LINE + 10),
    b"3;" + b"s" * (MAX_HEADER_LINE + 10) + b"\r\nabc\r\n0\r\n\r\n", b"0\r\n" + b"t" * (MAX_HEADER_LINE + 10),
])
def test_aws_chunked_malformed(raw: bytes) -> None:
    with pytest.raises(InvalidArgument) as e:
        decode(raw, 1 << 20)
    assert e.value.reason == "malformed-body"
