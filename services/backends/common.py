"""What every backend adapter shares: its server scaffold, request-stream helpers and ranges."""

from __future__ import annotations

import argparse
import functools
import os
import signal
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from aismesh.cmn import errors, metrics
from aismesh.cmn import log as jlog
from aismesh.cmn.rpc import make_server, set_serving
from aismesh.protos import backend_pb2, backend_pb2_grpc

SERVICE = "aismesh.Backend"
CHUNK_SIZE = 1 << 20
# Vendor calls: connecting must be quick (a dead endpoint fails fast), a read may take longer.
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0


class PendingUploads:
    """The headers (content type, user metadata) of caller-driven multipart uploads between
    CreateUpload and CompleteUpload, for providers whose parts carry none. Kept in memory: an
    adapter restart forgets them, and the upload then completes without them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._headers: dict[str, backend_pb2.BackendPutHeader] = {}

    def add(self, header: backend_pb2.BackendPutHeader) -> str:
        """A new upload id for ``header``."""
        upload_id = uuid.uuid4().hex
        with self._lock:
            self._headers[upload_id] = header
        return upload_id

    def get(self, upload_id: str) -> backend_pb2.BackendPutHeader | None:
        with self._lock:
            return self._headers.get(upload_id)

    def pop(self, upload_id: str) -> backend_pb2.BackendPutHeader | None:
        with self._lock:
            return self._headers.pop(upload_id, None)


def body_pieces(read: Callable[[int], bytes], length: int, what: str,
                failures: tuple[type[BaseException], ...] = (OSError,)) -> Iterator[bytes]:
    """A provider's response body in pieces of at most CHUNK_SIZE: ``length`` bytes, or up to its
    end when negative. A read that fails (``failures``) or ends early is RemoteUnavailable
    naming ``what`` (bucket/object), never a short object."""
    sent = 0
    while length < 0 or sent < length:
        try:
            data = read(CHUNK_SIZE if length < 0 else min(CHUNK_SIZE, length - sent))
        except failures as e:
            raise errors.RemoteUnavailable(f"{what}: reading from the remote failed: {e}") from None
        if not data:
            if length >= 0:
                raise errors.RemoteUnavailable(f"{what}: the remote sent {sent} of {length} bytes")
            return
        sent += len(data)
        yield data


def open_target(t: backend_pb2.FileTarget) -> int | None:
    """The caller's empty work file, opened for writing; None when this host cannot open that
    very file (another host's path, another file at the path, or one already written)."""
    if not t.path:
        return None
    try:
        fd = os.open(t.path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != (t.dev, t.ino) or st.st_size != 0:
        os.close(fd)
        return None
    return fd


def into_file(get: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate an adapter's GetObject: when the request names a work file this adapter can
    open (a node on the same host), the object's bytes go there, and the stream carries only
    progress. The bytes then cross no gRPC message: no serialization, no copy into the node."""

    @functools.wraps(get)
    def wrapper(self: Any, request: backend_pb2.BackendGetRequest, context: Any) -> Any:
        responses = get(self, request, context)
        if responses is None or not request.HasField("to_file"):
            return responses
        fd = open_target(request.to_file)
        return responses if fd is None else _write_into(fd, request.to_file.path, responses, context)

    return wrapper


def _write_into(fd: int, path: str, responses: Iterator[backend_pb2.BackendGetResponse],
                context: Any) -> Iterator[backend_pb2.BackendGetResponse]:
    written = 0
    try:
        for msg in responses:
            if msg.HasField("attrs"):
                msg.to_file = True
                yield msg
                continue
            view = memoryview(msg.data)
            while view:
                view = view[os.write(fd, view):]
            written += len(msg.data)
            yield backend_pb2.BackendGetResponse(written=written)
    except OSError as e:
        errors.to_grpc_abort(context, errors.Internal(f"writing the object into {path}: {e}"))
    finally:
        os.close(fd)  # before the stream's end: the caller commits the file only after it
        close = getattr(responses, "close", None)
        if close is not None:
            close()


def chunks_of(requests: Iterator[Any]) -> Iterator[bytes]:
    """The data of a client stream after its header, up to ``eof``; a cut stream raises."""
    for msg in requests:
        if msg.eof:
            return
        if msg.data:
            yield msg.data
    raise errors.InvalidArgument("the request stream ended before the body did: nothing stored",
                                 reason="incomplete-body")


def part_stream(requests: Iterator[Any]) -> tuple[Any, Iterator[bytes]]:
    """A PutPart stream as (its header, its data): the header must come first and name a part
    number S3 and every provider accept (1..10000)."""
    first = next(requests, None)
    if first is None or not first.HasField("header"):
        raise errors.InvalidArgument("PutPart: the first message must be the header")
    h = first.header
    if not 1 <= h.part_number <= 10000:
        raise errors.InvalidArgument(f"part number {h.part_number} is not in [1, 10000]")
    return h, chunks_of(requests)


class ChunkReader:
    """A read()-able file over an iterator of chunks (for SDKs that pull a body)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = bytearray()
        self._done = False
        self.read_bytes = 0

    def read(self, n: int = -1) -> bytes:
        while not self._done and (n < 0 or len(self._buf) < n):
            nxt = next(self._chunks, None)
            if nxt is None:
                self._done = True
            else:
                self._buf += nxt
        if n < 0:
            n = len(self._buf)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        self.read_bytes += len(out)
        return out


def resolve_range(r: backend_pb2.BackendRange | None, size: int) -> tuple[int, int]:
    """(offset, length) of a contract range within ``size`` bytes; raises RangeNotSatisfiable."""
    if r is None:
        return 0, size
    if r.suffix_length > 0:
        if size == 0:
            raise errors.RangeNotSatisfiable("range not satisfiable: the object is empty", object_size=size)
        n = min(r.suffix_length, size)
        return size - n, n
    if r.start >= size or r.start < 0:
        raise errors.RangeNotSatisfiable(f"range start {r.start} is beyond the object size {size}",
                                         object_size=size)
    length = size - r.start if not r.HasField("length") else min(r.length, size - r.start)
    if length < 0:
        raise errors.InvalidArgument(f"range length {r.length} is negative")
    return r.start, length


def http_range(r: backend_pb2.BackendRange) -> str:
    """The HTTP Range header value of a contract range."""
    if r.suffix_length > 0:
        return f"bytes=-{r.suffix_length}"
    if r.HasField("length"):
        if r.length <= 0:
            raise errors.InvalidArgument(f"range length must be positive, got {r.length}")
        return f"bytes={r.start}-{r.start + r.length - 1}"
    return f"bytes={r.start}-"


def bucket_display(bck: Any) -> str:
    scheme = {"aws": "s3"}.get(bck.provider, bck.provider)
    return f"{scheme}://{bck.name}"


def serve(provider: str, make_servicer: Callable[[argparse.Namespace], backend_pb2_grpc.BackendServicer],
          argv: list[str] | None = None, add_args: Callable[[argparse.ArgumentParser], None] | None = None) -> int:
    """Run one adapter: ``python -m services.backends.<provider> --listen HOST:PORT``."""
    ap = argparse.ArgumentParser(prog=f"python -m services.backends.{provider}",
                                 description=f"the {provider} backend adapter")
    ap.add_argument("--listen", required=True, help="HOST:PORT for gRPC")
    ap.add_argument("--threads", type=int, default=32)
    ap.add_argument("--metrics-listen", default="", help="HOST:PORT of Prometheus /metrics (default: none)")
    if add_args is not None:
        add_args(ap)
    args = ap.parse_args(argv)
    log = jlog.setup(f"backend-{provider}")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    servicer = make_servicer(args)
    server, health, port = make_server(
        args.listen, [lambda s: backend_pb2_grpc.add_BackendServicer_to_server(servicer, s)], [SERVICE],
        max_workers=args.threads, metrics_name=f"backend-{provider}",
    )
    if args.metrics_listen:
        metrics.serve(args.metrics_listen)
    server.start()
    set_serving(health, [SERVICE], True)
    jlog.event(log, "serving", listen=args.listen, port=port, provider=provider)
    stop.wait()
    set_serving(health, [SERVICE], False)
    server.stop(grace=0.5).wait(2)
    jlog.event(log, "stopped")
    return 0


def not_implemented(provider: str, what: str) -> errors.NotImplemented:
    return errors.NotImplemented(f"{provider}: {what} is not supported by this provider")
