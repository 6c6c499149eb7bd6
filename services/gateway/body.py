"""Reading a WSGI request body: the one place that knows how a body is framed and how reading it fails.

A request body is framed by Content-Length, by ``Transfer-Encoding: chunked`` (the server
de-chunks it and ends the stream), or by neither, which for a request means no body
(RFC 9112 §6.3). Both front ends read bodies through here; S3's aws-chunked decoding
(``s3/chunked.py``) is built on ``input_reader``.

Errors, all ``InvalidArgument`` (the client's fault), told apart by ``reason``:

    "incomplete-body"   the body ended early, or the server could not read it (the client
                        closed the socket, a malformed chunk): gunicorn's own exceptions and
                        OSError never leave this module
    "body-too-large"    a body parsed in memory (XML, JSON) is over its limit
    ""                  a Content-Length that is not a number of bytes an int64 holds
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from gunicorn.http.errors import ParseException

from aismesh.cmn.errors import InvalidArgument
from aismesh.cmn.ranges import MAX_INT64, parse_decimal
from aismesh.cmn.rpc import CHUNK_SIZE

Read = Callable[[int], bytes]
Environ = dict[str, Any]
# Request bodies are read in pieces of this size. Measured: 256 KiB pieces kept a worker at
# 84 MB instead of 105 MB under 16 MiB PUTs but cost 25-50% of 1-16 MiB PUT throughput in a
# full bench run (docs/performance.md), so the gRPC chunk size it is.
BODY_CHUNK = CHUNK_SIZE
# The most a body that is parsed in memory (S3 XML, AIS ActMsg JSON) may hold.
MAX_PARSED_BODY = 4 << 20
# What the WSGI server's read raises when the body cannot be read: gunicorn's NoMoreData is
# an OSError, its framing errors (InvalidChunkSize, ChunkMissingTerminator...) ParseExceptions.
_READ_ERRORS = (OSError, ParseException)


def content_length(environ: Environ) -> int | None:
    """The request's Content-Length, None when absent; InvalidArgument unless 0..MAX_INT64."""
    raw = str(environ.get("CONTENT_LENGTH") or "").strip()
    if not raw:
        return None
    length = parse_decimal(raw, cap=MAX_INT64 + 1)
    shown = raw if len(raw) <= 32 else raw[:32] + "..."
    if length is None:
        raise InvalidArgument(f'invalid Content-Length "{shown}": expected a number of bytes')
    if length > MAX_INT64:
        raise InvalidArgument(f"Content-Length {shown} is too large: at most {MAX_INT64} bytes")
    return length


def is_chunked(environ: Environ) -> bool:
    """Whether the body comes with ``Transfer-Encoding: chunked`` (no length known up front)."""
    codings = str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower().split(",")
    return "chunked" in (c.strip() for c in codings)


def input_reader(environ: Environ) -> Read:
    """``wsgi.input.read`` whose every failure is the client's: InvalidArgument "incomplete-body"."""
    read: Read = environ["wsgi.input"].read

    def read_or_fail(n: int) -> bytes:
        try:
            return read(n)
        except _READ_ERRORS as e:
            raise InvalidArgument(f"reading the request body failed: {type(e).__name__}: {e}",
                                  reason="incomplete-body") from e

    return read_or_fail


def plain_body(read: Read, length: int, chunk_size: int = BODY_CHUNK) -> Iterator[bytes]:
    """Exactly ``length`` bytes in chunks; a short body is an error, not a short object."""
    left = length
    while left > 0:
        data = read(min(chunk_size, left))
        if not data:
            raise InvalidArgument(
                f"request body ended after {length - left} of {length} bytes (Content-Length)",
                reason="incomplete-body",
            )
        left -= len(data)
        yield data


def until_end(read: Read, chunk_size: int = BODY_CHUNK) -> Iterator[bytes]:
    """A body the server ends (chunked): chunks until the stream says it is over."""
    while data := read(chunk_size):
        yield data


def request_body(environ: Environ) -> tuple[Iterator[bytes], int]:
    """The body as a chunk iterator and its size (-1 when chunked); no framing is no body."""
    length = content_length(environ)
    read = input_reader(environ)
    if length is not None:
        return plain_body(read, length), length
    if is_chunked(environ):
        return until_end(read), -1
    return iter(()), 0


def _too_large(limit: int) -> InvalidArgument:
    return InvalidArgument(f"the request body is too large: more than {limit} bytes", reason="body-too-large")


def read_bounded(environ: Environ, limit: int = MAX_PARSED_BODY) -> bytes:
    """The whole body, for parsing in memory: refused by Content-Length before any read when
    known, else after reading at most ``limit + 1`` bytes."""
    length = content_length(environ)
    if length is not None:
        if length > limit:
            raise _too_large(limit)
        return b"".join(plain_body(input_reader(environ), length))
    if not is_chunked(environ):
        return b""
    read = input_reader(environ)
    data = bytearray()
    while more := read(limit + 1 - len(data)):
        data += more
        if len(data) > limit:
            raise _too_large(limit)
    return bytes(data)
