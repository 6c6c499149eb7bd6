"""aws-chunked and plain request bodies, decoded as a stream."""

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aismesh.cmn.errors import InvalidArgument
from services.gateway.s3.chunked import aws_chunked_body, plain_body


def encode_aws_chunked(payload: bytes, chunk: int, trailer: bytes = b"") -> bytes:
    out = b""
    for i in range(0, len(payload), chunk):
        piece = payload[i:i + chunk]
        out += f"{len(piece):x};chunk-signature=abc\r\n".encode() + piece + b"\r\n"
    out += b"0\r\n" + trailer + b"\r\n"
    return out


@given(payload=st.binary(max_size=5000), chunk=st.integers(1, 700), read_size=st.integers(1, 900))
def test_aws_chunked_round_trip(payload: bytes, chunk: int, read_size: int) -> None:
    body = io.BytesIO(encode_aws_chunked(payload, chunk, b"x-amz-checksum-crc32:AAAAAA==\r\n"))
    assert b"".join(aws_chunked_body(body.read, read_size)) == payload


def test_aws_chunked_truncated_body_is_an_error() -> None:
    raw = encode_aws_chunked(b"x" * 100, 64)[:80]
    with pytest.raises(InvalidArgument, match="ended"):
        b"".join(aws_chunked_body(io.BytesIO(raw).read, 16))


def test_aws_chunked_bad_size_is_an_error() -> None:
    with pytest.raises(InvalidArgument, match="chunk size"):
        b"".join(aws_chunked_body(io.BytesIO(b"zz\r\nabc\r\n").read, 16))


def test_plain_body_short_read_is_incomplete() -> None:
    with pytest.raises(InvalidArgument) as e:
        b"".join(plain_body(io.BytesIO(b"abc").read, 10, 4))
    assert e.value.reason == "incomplete-body"


def test_plain_body_yields_exact_length() -> None:
    assert b"".join(plain_body(io.BytesIO(b"abcdefgh-extra").read, 8, 3)) == b"abcdefgh"
