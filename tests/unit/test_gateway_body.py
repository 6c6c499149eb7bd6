"""Reading WSGI request bodies: framing, limits, and read failures as the client's errors."""

from __future__ import annotations

import io
from typing import Any

import pytest
from gunicorn.http.errors import ChunkMissingTerminator, InvalidChunkSize, NoMoreData

from aismesh.cmn.errors import InvalidArgument
from aismesh.cmn.ranges import MAX_INT64
from services.gateway import body


class Input:
    """A wsgi.input that hands out ``data`` in pieces of at most ``step``, then raises ``error``."""

    def __init__(self, data: bytes, step: int = 1 << 30, error: Exception | None = None) -> None:
        self.data = io.BytesIO(data)
        self.step = step
        self.error = error
        self.asked: list[int] = []

    def read(self, n: int) -> bytes:
        self.asked.append(n)
        piece = self.data.read(min(n, self.step))
        if not piece and self.error is not None:
            raise self.error
        return piece


def environ(data: bytes = b"", length: str | None = None, chunked: bool = False, **kw: Any) -> dict[str, Any]:
    env: dict[str, Any] = {"wsgi.input": Input(data, **kw)}
    if length is not None:
        env["CONTENT_LENGTH"] = length
    if chunked:
        env["HTTP_TRANSFER_ENCODING"] = "chunked"
    return env


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("", None), ("0", 0), ("42", 42),
                                                 (str(MAX_INT64), MAX_INT64)])
def test_content_length(value: str | None, expected: int | None) -> None:
    assert body.content_length(environ(length=value)) == expected


@pytest.mark.parametrize("value", [str(MAX_INT64 + 1), str(1 << 64), "9" * 5000, "-1", "abc", "1e3", "\u0661", "1_0"])
def test_content_length_refused(value: str) -> None:
    with pytest.raises(InvalidArgument, match="Content-Length") as e:
        body.content_length(environ(length=value))
    assert e.value.reason == ""


@pytest.mark.parametrize("error", [NoMoreData(b""), InvalidChunkSize(b"zz"), ChunkMissingTerminator(b"XY"),
                                   ConnectionResetError("reset"), OSError("gone")])
def test_read_failures_are_incomplete_bodies(error: Exception) -> None:
    chunks, size = body.request_body(environ(b"some", chunked=True, error=error))
    assert size == -1
    with pytest.raises(InvalidArgument) as e:
        b"".join(chunks)
    assert e.value.reason == "incomplete-body"
    assert e.value.__cause__ is error


def test_request_body_by_length() -> None:
    chunks, size = body.request_body(environ(b"abcdef-and-more", length="6", step=4))
    assert (b"".join(chunks), size) == (b"abcdef", 6)


def test_request_body_short_is_incomplete() -> None:
    chunks, _ = body.request_body(environ(b"abc", length="10"))
    with pytest.raises(InvalidArgument) as e:
        b"".join(chunks)
    assert e.value.reason == "incomplete-body"


def test_request_body_chunked_reads_to_the_end() -> None:
    chunks, size = body.request_body(environ(b"x" * 100, chunked=True, step=7))
    assert (b"".join(chunks), size) == (b"x" * 100, -1)


def test_no_framing_is_no_body() -> None:
    env = environ(b"never read")
    chunks, size = body.request_body(env)
    assert (list(chunks), size) == ([], 0)
    assert env["wsgi.input"].asked == []


def test_plain_body_yields_exact_length() -> None:
    assert b"".join(body.plain_body(io.BytesIO(b"abcdefgh-extra").read, 8, 3)) == b"abcdefgh"


def test_read_bounded_at_the_limit() -> None:
    assert body.read_bounded(environ(b"x" * 10, length="10"), limit=10) == b"x" * 10
    assert body.read_bounded(environ(b"x" * 10, chunked=True, step=3), limit=10) == b"x" * 10
    assert body.read_bounded(environ(b"ignored"), limit=10) == b""


def test_read_bounded_refuses_by_length_before_reading() -> None:
    env = environ(b"x" * 11, length="11")
    with pytest.raises(InvalidArgument) as e:
        body.read_bounded(env, limit=10)
    assert e.value.reason == "body-too-large"
    assert env["wsgi.input"].asked == []


def test_read_bounded_chunked_reads_at_most_one_byte_past_the_limit() -> None:
    env = environ(b"x" * 1000, chunked=True, step=4)
    with pytest.raises(InvalidArgument) as e:
        body.read_bounded(env, limit=10)
    assert e.value.reason == "body-too-large"
    assert env["wsgi.input"].data.tell() == 11


def test_is_chunked() -> None:
    assert body.is_chunked({"HTTP_TRANSFER_ENCODING": "gzip, Chunked"})
    assert not body.is_chunked({"HTTP_TRANSFER_ENCODING": "identity"})
    assert not body.is_chunked({})
