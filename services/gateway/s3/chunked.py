"""Request bodies as S3 clients send them: plain, or aws-chunked (SigV4 streaming, with trailers).

Recent botocore sends ``Content-Encoding: aws-chunked`` bodies (``x-amz-content-sha256:
STREAMING-...``): ``<hex size>[;chunk-signature=...]\\r\\n<data>\\r\\n`` repeated, a zero-size
chunk, then optional trailer lines (``x-amz-checksum-crc32:...``). This decoder streams: it
never holds more than one read buffer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from aismesh.cmn.errors import InvalidArgument
from aismesh.cmn.rpc import CHUNK_SIZE

Read = Callable[[int], bytes]
# Request bodies are read in pieces of this size. Measured: 256 KiB pieces kept a worker at
# 84 MB instead of 105 MB under 16 MiB PUTs but cost 25-50% of 1-16 MiB PUT throughput in a
# full bench run (docs/performance.md), so the gRPC chunk size it is.
BODY_CHUNK = CHUNK_SIZE


def plain_body(read: Read, length: int, chunk_size: int) -> Iterator[bytes]:
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


class _Reader:
    """Buffered line/bytes reader over a WSGI input stream."""

    def __init__(self, read: Read, chunk_size: int) -> None:
        self._read = read
        self._chunk = chunk_size
        self._buf = b""

    def line(self) -> bytes:
        while b"\r\n" not in self._buf:
            more = self._read(self._chunk)
            if not more:
                raise InvalidArgument("aws-chunked body ended inside a chunk header",
                                      reason="incomplete-body")
            self._buf += more
            if len(self._buf) > 64 << 10:
                raise InvalidArgument("aws-chunked chunk header is too long")
        line, _, self._buf = self._buf.partition(b"\r\n")
        return line

    def exactly(self, n: int) -> Iterator[bytes]:
        while n > 0:
            if not self._buf:
                self._buf = self._read(min(self._chunk, n))
                if not self._buf:
                    raise InvalidArgument("aws-chunked body ended inside a chunk",
                                          reason="incomplete-body")
            piece, self._buf = self._buf[:n], self._buf[n:]
            n -= len(piece)
            yield piece


def aws_chunked_body(read: Read, chunk_size: int) -> Iterator[bytes]:
    """Decode an aws-chunked body into its payload; trailers are read and dropped."""
    r = _Reader(read, chunk_size)
    while True:
        header = r.line().split(b";", 1)[0].strip()
        try:
            size = int(header, 16)
        except ValueError:
            raise InvalidArgument(f"malformed aws-chunked chunk size {header[:32]!r}") from None
        if size == 0:
            break
        yield from r.exactly(size)
        if r.line() != b"":
            raise InvalidArgument("malformed aws-chunked body: chunk not followed by CRLF")
    # Trailer lines until an empty line (or the end of the body).
    try:
        while r.line() != b"":
            pass
    except InvalidArgument:
        pass
