"""The gateway's side of the same-host fast path: ask a storage node on this host for
descriptors (the object to read, a pipe to write an object into) instead of streaming bytes
over gRPC. See LocalRequest in storage.proto and cmn/localread.py."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import Counter

from aismesh.cmn import errors
from aismesh.cmn.localread import OBJECT_META_XATTR, host_id, recv_message, send_message, socket_address
from aismesh.protos import storage_pb2, types_pb2
from services.gateway.guard import STALL_S, commit_budget_s
from services.gateway.metasync import NodeView


def is_local(node: NodeView) -> bool:
    return bool(node.local_socket) and node.host_id == host_id()


class NodeNotAnswering(errors.RemoteUnavailable):
    """The node stopped taking a write's bytes or answering its commit (frozen or overloaded)."""


class SentWriteLost(errors.RemoteUnavailable):
    """A whole small write reached the node, whose answer never came: stored or not, unknown."""


# Objects a gateway worker keeps ready to open again without asking their node, and for how
# long (after that the node sees the read again: its atime refresh, its checks).
REOPEN_ENTRIES = 4096
REOPEN_TTL_S = 30.0
REOPENS = Counter("aismesh_local_reopens_total", "Same-host whole-object reads by whether the gateway's open "
                  "cache served them (hit) or the node was asked (miss)", ["result"])
_HIT, _MISS = REOPENS.labels("hit"), REOPENS.labels("miss")


@dataclass(frozen=True, slots=True)
class _Opened:
    path: str
    ident: tuple[int, int, int, int]  # device, inode, ctime ns, size of the file the node opened
    meta: bytes  # its metadata xattr then
    attrs: types_pb2.ObjAttrs
    until: float


class OpenCache:
    """The whole-object reads a node answered with a path (LocalResponse.path), as nginx's
    open_file_cache keeps files: the next read of the object opens that path itself and uses it
    only while it is still the very file the node opened, unchanged: same device, inode, ctime
    and size, and the same metadata xattr (which holds the write's checksum and time). Objects
    are never changed in place (every write renames a new file over the name; a delete removes
    it), so anything else means the node is asked again, as it is once an entry is REOPEN_TTL_S
    old. Reads of versions, of buckets that verify every read and of remote buckets never get a
    path from the node; ranges always ask it."""

    def __init__(self, entries: int = REOPEN_ENTRIES, ttl_s: float = REOPEN_TTL_S) -> None:
        self.entries, self.ttl_s = entries, ttl_s
        self._lock = threading.Lock()
        self._opened: OrderedDict[tuple[str, ...], _Opened] = OrderedDict()

    @staticmethod
    def key(node: NodeView, req: storage_pb2.GetObjectRequest) -> tuple[str, ...] | None:
        """Which entry a read would use; None for one that must ask the node."""
        if req.HasField("range") or req.version_id or req.cache_first or req.latest:
            return None
        b = req.bucket.bck
        return node.id, b.provider, b.ns.uuid, b.ns.name, b.name, str(req.bucket.bid), req.name

    def remember(self, key: tuple[str, ...], head: storage_pb2.GetObjectResponse, path: str, fd: int) -> None:
        """What the node opened (``fd``) at ``path``."""
        try:
            st = os.fstat(fd)
            meta = os.getxattr(fd, OBJECT_META_XATTR)
        except OSError:
            return
        entry = _Opened(path, (st.st_dev, st.st_ino, st.st_ctime_ns, st.st_size), meta, head.attrs,
                        time.monotonic() + self.ttl_s)
        with self._lock:
            self._opened[key] = entry
            self._opened.move_to_end(key)
            while len(self._opened) > self.entries:
                self._opened.popitem(last=False)

    def open(self, key: tuple[str, ...]) -> tuple[storage_pb2.GetObjectResponse, int] | None:
        """The object opened again, or None (not kept, too old, or no longer that file)."""
        entry = self._opened.get(key)
        if entry is None or time.monotonic() > entry.until:
            self._miss(key, entry)
            return None
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            self._miss(key, entry)
            return None
        try:
            st = os.fstat(fd)
            same = ((st.st_dev, st.st_ino, st.st_ctime_ns, st.st_size) == entry.ident
                    and os.getxattr(fd, OBJECT_META_XATTR) == entry.meta)
        except OSError:
            same = False
        if not same:
            os.close(fd)
            self._miss(key, entry)
            return None
        _HIT.inc()
        return storage_pb2.GetObjectResponse(attrs=entry.attrs, range_length=entry.ident[3]), fd

    def _miss(self, key: tuple[str, ...], entry: _Opened | None) -> None:
        _MISS.inc()
        if entry is not None:
            with self._lock:
                if self._opened.get(key) is entry:
                    del self._opened[key]


class LocalReader:
    """One persistent Unix connection per (thread, node), made on first use."""

    def __init__(self, stall_timeout_s: float = STALL_S, reopen: OpenCache | None = None) -> None:
        self._local = threading.local()
        self.stall_timeout_s = stall_timeout_s
        self.reopen = reopen

    def _conn(self, path: str) -> socket.socket:
        conns: dict[str, socket.socket] = self._local.__dict__.setdefault("conns", {})
        sock = conns.get(path)
        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.stall_timeout_s)  # a frozen node: TimeoutError, the caller answers 503
            sock.connect(socket_address(path))
            conns[path] = sock
        return sock

    def _drop(self, path: str) -> None:
        conns: dict[str, socket.socket] = self._local.__dict__.get("conns", {})
        sock = conns.pop(path, None)
        if sock is not None:
            sock.close()

    def _call(self, node: NodeView, req: storage_pb2.LocalRequest,
              timeout_s: float = 0.0) -> tuple[storage_pb2.LocalResponse, int]:
        """One request/answer (the answer within ``timeout_s``, default stall_timeout_s); raises
        the node's error, or OSError when the fast path is unusable (the caller then goes through
        gRPC, if it still can)."""
        payload = req.SerializeToString()
        op = req.WhichOneof("op")
        idempotent = op in ("get", "put")
        for attempt in (1, 2):
            sent = False
            try:
                sock = self._conn(node.local_socket)
                send_message(sock, payload)
                sent = True
                sock.settimeout(timeout_s or self.stall_timeout_s)
                try:
                    body, fd = recv_message(sock)
                finally:
                    sock.settimeout(self.stall_timeout_s)
                break
            except (OSError, ConnectionError) as e:
                self._drop(node.local_socket)
                # A write the node may have stored is not sent again: it could be a second
                # version, or fail its own If-None-Match. Unsent (a stale connection), it may be.
                if attempt == 2 or isinstance(e, TimeoutError) or not (idempotent or (op == "write" and not sent)):
                    if op == "write" and sent and not isinstance(e, TimeoutError):
                        raise SentWriteLost(f"t[{node.id}] went away while storing the object: {e}") from None
                    raise
        resp = storage_pb2.LocalResponse()
        try:
            resp.ParseFromString(body)
        except Exception:
            if fd >= 0:
                os.close(fd)
            raise
        if resp.HasField("error"):
            if fd >= 0:
                os.close(fd)
            raise errors.from_info(resp.error)
        return resp, fd

    def open(self, node: NodeView, req: storage_pb2.GetObjectRequest,
             reuse: bool = True) -> tuple[storage_pb2.GetObjectResponse, int]:
        """(attrs and resolved range, open fd) of the object: from the open cache when it still
        holds (and ``reuse`` allows it), else from the node."""
        key = OpenCache.key(node, req) if self.reopen is not None and reuse else None
        if key is not None:
            assert self.reopen is not None
            again = self.reopen.open(key)
            if again is not None:
                return again
        resp, fd = self._call(node, storage_pb2.LocalRequest(get=req))
        if fd < 0:
            raise ConnectionError("local read answered without a descriptor")
        if key is not None and resp.path:
            assert self.reopen is not None
            self.reopen.remember(key, resp.head, resp.path, fd)
        return resp.head, fd

    def write(self, node: NodeView, header: storage_pb2.PutHeader, data: bytes) -> types_pb2.ObjAttrs:
        """A small object, whole, in one request: no pipe, one round trip. Raises OSError only
        when nothing reached the node (the caller may use gRPC then); TimeoutError when the node
        took longer than its commit budget to answer."""
        req = storage_pb2.LocalRequest(write=storage_pb2.WriteObjectRequest(header=header, data=data))
        done, _ = self._call(node, req, timeout_s=commit_budget_s(len(data)))
        return done.attrs

    def put(self, node: NodeView, header: storage_pb2.PutHeader, chunks: Iterable[bytes],
            late_custom: Callable[[], dict[str, str]] | None = None) -> types_pb2.ObjAttrs:
        """Write ``chunks`` into the pipe the node hands us; the node stores what it reads and
        commits it once our commit names the same size. We never hold the object's file.

        Raises OSError only before the first chunk is consumed (the caller may use gRPC then);
        later, a node that takes no bytes for ``stall_timeout_s`` is NodeNotAnswering (503)."""
        resp, w = self._call(node, storage_pb2.LocalRequest(put=header))
        if w < 0:
            raise ConnectionError("local write answered without a descriptor")
        try:
            size = self._feed(node, w, chunks)
        except NodeNotAnswering:
            self._drop(node.local_socket)  # the node drops the write when it sees the connection gone
            raise
        except BaseException:  # the body failed (the client went away, a bad chunk): drop the write
            os.close(w)
            w = -1
            self._abort(node, resp.token)
            raise
        finally:
            if w >= 0:
                os.close(w)  # our end of file: the node has every byte once it reads to here
        return self._commit(node, resp.token, size, late_custom() if late_custom is not None else None)

    def _feed(self, node: NodeView, w: int, chunks: Iterable[bytes]) -> int:
        """Bytes written into the pipe; stops early when the node stopped reading (it failed or
        is gone: its answer to the commit says which)."""
        os.set_blocking(w, False)
        poller = select.poll()
        poller.register(w, select.POLLOUT)
        size = 0
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                try:
                    n = os.write(w, view)
                except BlockingIOError:
                    if not poller.poll(self.stall_timeout_s * 1000):
                        raise NodeNotAnswering(f"t[{node.id}] is not answering: it took no bytes of the object "
                                               f"for {self.stall_timeout_s:g} s") from None
                    continue
                except BrokenPipeError:
                    return size
                view = view[n:]
                size += n
        return size

    def _commit(self, node: NodeView, token: str, size: int, custom: dict[str, str] | None = None
                ) -> types_pb2.ObjAttrs:
        """Ask the node to commit; it still reads the pipe's rest, then hashes and fsyncs.
        ``custom`` joins the write's metadata (what was known only after the body)."""
        req = storage_pb2.LocalRequest(commit=storage_pb2.LocalCommit(token=token, size=size, custom=custom))
        try:
            done, _ = self._call(node, req, timeout_s=commit_budget_s(size))
        except TimeoutError:
            raise NodeNotAnswering(f"t[{node.id}] is not answering: no commit of {size} bytes within "
                                   f"{commit_budget_s(size):.0f} s") from None
        except (OSError, ConnectionError) as e:
            raise errors.RemoteUnavailable(f"t[{node.id}] went away while storing the object: {e}") from None
        return done.attrs

    def _abort(self, node: NodeView, token: str) -> None:
        # Best effort: the node also drops the write of a client that goes away.
        with contextlib.suppress(OSError, ConnectionError, errors.AisError):
            self._call(node, storage_pb2.LocalRequest(abort=storage_pb2.LocalCommit(token=token)))
