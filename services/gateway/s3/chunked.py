"""aws-chunked request bodies (SigV4 streaming, with trailers), decoded as a stream.

Recent botocore sends ``Content-Encoding: aws-chunked`` bodies (``x-amz-content-sha256:
STREAMING-...``): ``<hex size>[;chunk-signature=...]\\r\\n<data>\\r\\n`` repeated, a zero-size
chunk, then optional trailer lines (``x-amz-checksum-crc32:...``). This decoder streams: it
never holds more than one read buffer. It reads through ``body.input_reader``, so a failed
read is already InvalidArgument "incomplete-body"; framing it cannot parse is "malformed-body".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol

from aismesh.cmn.errors import InvalidArgument
from aismesh.cmn.ranges import MAX_INT64
from services.gateway.body import Read

MAX_HEADER_LINE = 64 << 10
_HEX_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


def _ended(where: str) -> InvalidArgument:
    return InvalidArgument(f"aws-chunked body ended inside {where}", reason="incomplete-body")


def _malformed(problem: str) -> InvalidArgument:
    return InvalidArgument(f"malformed aws-chunked body: {problem}", reason="malformed-body")


def _line_too_long() -> InvalidArgument:
    return _malformed(f"a chunk header or trailer line is longer than {MAX_HEADER_LINE} bytes")


class _Reader:
    """Buffered line/bytes reader over a request body."""

    def __init__(self, read: Read, chunk_size: int) -> None:
        self._read = read
        self._chunk = chunk_size
        self._buf = b""

    def line(self) -> bytes:
        while b"\r\n" not in self._buf:
            if len(self._buf) > MAX_HEADER_LINE:
                raise _line_too_long()
            more = self._read(self._chunk)
            if not more:
                raise _ended("a chunk header")
            self._buf += more
        line, _, self._buf = self._buf.partition(b"\r\n")
        if len(line) > MAX_HEADER_LINE:
            raise _line_too_long()
        return line

    def exactly(self, n: int) -> Iterator[bytes]:
        while n > 0:
            if not self._buf:
                self._buf = self._read(min(self._chunk, n))
                if not self._buf:
                    raise _ended("a chunk")
            piece, self._buf = self._buf[:n], self._buf[n:]
            n -= len(piece)
            yield piece


def _chunk_size(header: bytes) -> int:
    size = header.split(b";", 1)[0].strip()
    if not _HEX_SIZE.fullmatch(size) or int(size, 16) > MAX_INT64:
        raise _malformed(f"invalid chunk size {size[:32]!r}")
    return int(size, 16)


class ChunkVerifier(Protocol):
    """Checks chunk signatures as the body streams (``auth.ChunkSigner``)."""

    def begin(self, chunk_header: bytes) -> None: ...

    def update(self, data: bytes) -> None: ...

    def end(self) -> None: ...

    def trailer(self, lines: list[bytes], claimed: str) -> None: ...


def parse_trailer(line: bytes) -> tuple[str, str]:
    """``name:value`` of one trailer line, the name in lower case."""
    name, sep, value = line.decode("latin-1").partition(":")
    if not sep or not name.strip():
        raise _malformed(f"invalid trailer line {line[:64]!r}")
    return name.strip().lower(), value.strip()


def aws_chunked_body(read: Read, chunk_size: int, signer: ChunkVerifier | None = None,
                     trailers: dict[str, str] | None = None) -> Iterator[bytes]:
    """Decode an aws-chunked body into its payload. ``signer`` verifies each chunk's signature
    (signed streaming); the trailer lines land in ``trailers`` (by lower-case name) before the
    iterator ends, so a consumer that checks them when the payload is over sees them."""
    r = _Reader(read, chunk_size)
    while True:
        header = r.line()
        size = _chunk_size(header)
        if signer is not None:
            signer.begin(header)
        for piece in r.exactly(size):
            if signer is not None:
                signer.update(piece)
            yield piece
        if size and r.line() != b"":
            raise _malformed("a chunk is not followed by CRLF")
        if signer is not None:
            signer.end()
        if not size:
            break
    # Trailer lines until an empty line. A body that ends (or breaks) here has all its
    # payload, and some clients end it without the final CRLF: accept it.
    lines: list[bytes] = []
    try:
        while line := r.line():
            lines.append(line)
    except InvalidArgument as e:
        if e.reason != "incomplete-body":
            raise
    found = dict(parse_trailer(line) for line in lines)
    claimed = found.pop("x-amz-trailer-signature", "")
    if signer is not None and lines:
        if not claimed:
            raise InvalidArgument("the trailer of a signed aws-chunked body has no x-amz-trailer-signature",
                                  reason="chunk-signature")
        signer.trailer([ln for ln in lines if not ln.lower().startswith(b"x-amz-trailer-signature")], claimed)
    if trailers is not None:
        trailers.update(found)
