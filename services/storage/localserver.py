"""The same-host fast path of a storage node: open descriptors for local readers, a pipe for
local writers. See LocalRequest in storage.proto.

Only clients of the node's own user are served (SO_PEERCRED). One thread waits on every
client connection at once (epoll) and answers each get itself: the object's attributes, the
resolved range and an O_RDONLY descriptor, which cannot change the file. A get that may take
long (an older version, a bucket that verifies every read) and every write go to a pool of
workers with their connection, which returns to the loop once the request is answered.

A put is answered with a token and the write end of a pipe, never a file: the worker reads the
pipe into the ordinary write path (Store.put: work file, hashing, fsync, xattr, rename) and
commits only when the writer's commit names exactly the bytes read. So no writer ever holds a
descriptor of a committed object, and an abort, a size mismatch or a writer that stalls or goes
away leaves the old object and no work file behind. A small object (up to the gateway's
LOCAL_INLINE_LIMIT) comes whole in one ``write`` request instead: the same write path, one
round trip, no pipe; a writer that left before it was read is dropped too.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import queue
import select
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator

from prometheus_client import Counter

from aismesh.cmn import errors
from aismesh.cmn.localread import (
    FIRST_READ,
    HEADER_SIZE,
    frame,
    framed_length,
    recv_message,
    send_message,
    socket_address,
)
from aismesh.cmn.log import event
from aismesh.cmn.names import check_object_name
from aismesh.protos import storage_pb2, types_pb2
from services.storage.store import PutSpec, Store

log = logging.getLogger("storage.local")
# (fd, attrs, offset, length, is_range, path a reader may open again or "")
Opener = Callable[[storage_pb2.GetObjectRequest], tuple[int, types_pb2.ObjAttrs, int, int, bool, str]]
IsQuick = Callable[[storage_pb2.GetObjectRequest], bool]
SpecOf = Callable[[storage_pb2.PutHeader], PutSpec]
# A writer's pipe (where the kernel allows it): one chunk of the write path in flight.
PIPE_SIZE = 1 << 20
# A writer that sends nothing (bytes, commit or abort) this long is dropped with its work file.
STALL_S = 60.0
_CRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
# Writes (and slow gets) in progress at once; more wait for a thread.
WORKERS = 256
# How often the loop looks for clients stuck in the middle of a request (dropped after stall_s).
SWEEP_S = 1.0
DROPPED = Counter("aismesh_local_writes_dropped_total", "Same-host writes not stored because their writer left "
                  "first (it gave up on this node and answered its client 503)")


def default_socket(node_id: str, mountpaths: list[str]) -> str:
    """An abstract-namespace name ("@..."): no path-length limit, nothing left on disk."""
    digest = hashlib.sha1("\n".join([node_id, *mountpaths]).encode()).hexdigest()[:20]
    return f"@aismesh-{node_id}-{digest}"


def is_allowed_peer(peer_uid: int, own_uid: int) -> bool:
    """Only the node's own user; so root only when the node itself runs as root."""
    return peer_uid == own_uid


class PeerGone(Exception):
    """The client went away, stalled or broke the protocol: nobody is left to answer."""


class Aborted(Exception):
    """The writer sent abort: nothing is stored, and the abort is answered with an empty response."""


def _pipe() -> tuple[int, int]:
    r, w = os.pipe2(os.O_CLOEXEC)
    with contextlib.suppress(OSError):  # over the user's pipe budget: the default size still works
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    return r, w


def _receive(conn: socket.socket) -> storage_pb2.LocalRequest:
    try:
        payload, fd = recv_message(conn)
    except OSError as e:
        raise PeerGone(str(e)) from None
    if fd >= 0:
        os.close(fd)  # clients send no descriptors
    req = storage_pb2.LocalRequest()
    try:
        req.ParseFromString(payload)
    except Exception:
        raise PeerGone("an unreadable local request") from None
    return req


def _peer_gone(conn: socket.socket) -> bool:
    """Whether the client has closed its end (what it sent may still be unread)."""
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLRDHUP)
    return any(ev & (select.POLLRDHUP | select.POLLHUP | select.POLLERR) for _, ev in poller.poll(0))


def _send(conn: socket.socket, resp: storage_pb2.LocalResponse, fd: int = -1) -> None:
    try:
        send_message(conn, resp.SerializeToString(), fd)
    except OSError as e:  # BrokenPipeError, ConnectionResetError, a timeout: the client is gone
        raise PeerGone(str(e)) from None


def _error(e: Exception) -> storage_pb2.LocalResponse:
    if not isinstance(e, errors.AisError):
        log.exception("local request failed")
        e = errors.Internal(f"local request: {e}")
    return storage_pb2.LocalResponse(error=e.to_info())


def _incomplete(received: int, announced: int) -> errors.InvalidArgument:
    return errors.InvalidArgument(f"received {received} bytes, but the writer committed {announced}: nothing stored",
                                  reason="incomplete-body")


class PipeBody:
    """What a same-host writer puts into its pipe, as chunks for Store.put. The body ends when
    the writer's commit arrives and names exactly the bytes read; abort raises Aborted, a writer
    that goes away or stalls raises PeerGone, a size mismatch InvalidArgument (incomplete-body).
    Chunks are views of one reused buffer: each is consumed before the next is read."""

    def __init__(self, conn: socket.socket, r: int, token: str, stall_s: float,
                 custom: dict[str, str] | None = None) -> None:
        self.conn, self.r, self.token, self.stall_s = conn, r, token, stall_s
        self.custom = custom  # the write's metadata: a commit's own entries join it
        self.received = 0
        self.committed: int | None = None  # the size the writer's commit named
        self.finish = ""  # "commit" or "abort" once the writer said which
        self._poll = select.poll()
        self._poll.register(r, select.POLLIN)
        self._poll.register(conn.fileno(), select.POLLIN)

    def close(self) -> None:
        """Stop reading: a writer still writing gets EPIPE at once."""
        if self.r >= 0:
            self._poll.unregister(self.r)
            os.close(self.r)
            self.r = -1

    def __iter__(self) -> Iterator[memoryview]:
        view = memoryview(bytearray(PIPE_SIZE))
        while self.committed is None or self.received < self.committed:
            ready = self._wait()
            if self.conn.fileno() in ready:
                self._on_message()
            if self.r >= 0 and self.r in ready:
                n = os.readv(self.r, [view])
                if n == 0:
                    self._on_pipe_end()
                    continue
                self.received += n
                if self.committed is not None and self.received > self.committed:
                    raise _incomplete(self.received, self.committed)
                yield view[:n]
        self._check_drained()

    def await_finish(self) -> str:
        """After a failure: stop reading and wait for the writer's commit or abort, to answer it."""
        self.close()
        while not self.finish:
            self._wait()
            self._read_finish()
        return self.finish

    def _wait(self) -> set[int]:
        events = self._poll.poll(self.stall_s * 1000)
        if not events:
            if self.committed is not None:
                raise _incomplete(self.received, self.committed)
            raise PeerGone(f"the writer sent nothing for {self.stall_s:g} s")
        return {fd for fd, _ in events}

    def _read_finish(self) -> None:
        req = _receive(self.conn)
        op = req.WhichOneof("op")
        if op not in ("commit", "abort"):
            raise PeerGone(f"expected the commit or abort of a write, got {op!r}")
        c = req.commit if op == "commit" else req.abort
        if c.token != self.token:
            raise PeerGone(f'expected the commit or abort of "{self.token}", got "{c.token}"')
        self.finish = op
        self.committed = c.size if op == "commit" else None
        if op == "commit" and self.custom is not None:
            self.custom.update(c.custom)
        self._poll.unregister(self.conn.fileno())  # nothing more until we answer

    def _on_message(self) -> None:
        self._read_finish()
        if self.finish == "abort":
            raise Aborted()
        assert self.committed is not None
        if self.committed < self.received or (self.r < 0 and self.committed != self.received):
            raise _incomplete(self.received, self.committed)

    def _on_pipe_end(self) -> None:
        self.close()
        if self.committed is not None and self.received < self.committed:
            raise _incomplete(self.received, self.committed)

    def _check_drained(self) -> None:
        """A writer that wrote more than it committed: the object would not be what it meant."""
        if self.r >= 0 and self._poll.poll(0) and os.read(self.r, 1):
            raise _incomplete(self.received + 1, self.received)


class _Workers:
    """Daemon threads for what the loop hands off, started as needed up to ``most`` and then
    reused. Daemons, as the per-connection threads were: a writer stalled in the middle of a
    write never holds up the node's exit (a ThreadPoolExecutor's threads are joined at exit)."""

    def __init__(self, most: int) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[..., None], tuple[object, ...]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._most = most
        self._started = 0
        self._idle = 0  # threads waiting for a job nobody has claimed for them yet

    def submit(self, fn: Callable[..., None], *args: object) -> None:
        with self._lock:
            if self._idle:
                self._idle -= 1  # an idle thread will take it
            elif self._started < self._most:
                self._started += 1
                threading.Thread(target=self._run, daemon=True, name=f"local-worker-{self._started}").start()
            # else: it waits for the first thread to finish what it has
        self._jobs.put((fn, args))

    def _run(self) -> None:
        while True:
            fn, args = self._jobs.get()
            try:
                fn(*args)
            except Exception:
                log.exception("a same-host worker failed")
            with self._lock:
                self._idle += 1


class _Client:
    """A connection the loop waits on, with what it has sent of a request not yet whole."""

    __slots__ = ("buf", "since", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.since = 0.0  # when the incomplete request in buf began to arrive


class LocalServer:
    def __init__(self, path: str, open_object: Opener, store: Store, spec_of: SpecOf,
                 stall_s: float = STALL_S, is_quick: IsQuick | None = None) -> None:
        self.path = path
        self.open_object = open_object
        self.store = store
        self.spec_of = spec_of
        self.stall_s = stall_s
        self.is_quick = is_quick or (lambda _req: True)
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._ep = select.epoll()
        self._clients: dict[int, _Client] = {}
        self._workers = _Workers(WORKERS)

    def start(self) -> None:
        is_file = not self.path.startswith("@")
        if is_file and os.path.exists(self.path):
            os.unlink(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(socket_address(self.path))
        if is_file:
            os.chmod(self.path, 0o600)
        sock.listen(128)
        sock.setblocking(False)
        self._sock = sock
        self._ep.register(sock.fileno(), select.EPOLLIN)
        threading.Thread(target=self._loop, daemon=True, name="local-loop").start()

    def stop(self) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()
        if not self.path.startswith("@") and os.path.exists(self.path):
            os.unlink(self.path)

    # --- the loop: accepts, reads requests, answers gets ----------------------------------

    def _loop(self) -> None:
        assert self._sock is not None
        listener = self._sock.fileno()
        swept = time.monotonic()
        try:
            while not self._stop.is_set():
                for fd, _ in self._ep.poll(SWEEP_S):
                    if fd == listener:
                        self._accept()
                    else:
                        self._readable(fd)
                now = time.monotonic()
                if now - swept >= SWEEP_S:
                    swept = now
                    self._sweep(now)
        except Exception:
            if not self._stop.is_set():
                log.exception("the same-host loop failed")
        finally:
            for c in list(self._clients.values()):
                self._drop(c)
            self._ep.close()

    def _accept(self) -> None:
        assert self._sock is not None
        while True:
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # the listener closed (stop), or out of descriptors: try on the next event
                return
            try:
                admitted = self._admit(conn)
            except OSError:  # gone before we could ask who it was
                admitted = False
            if not admitted:
                conn.close()
                continue
            self._watch(conn)

    def _admit(self, conn: socket.socket) -> bool:
        """An abstract socket has no file mode: whoever connects is checked here."""
        pid, uid, gid = _CRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CRED.size))
        if is_allowed_peer(uid, os.geteuid()):
            return True
        event(log, "refused a same-host client of another user", logging.WARNING, pid=pid, uid=uid, gid=gid,
              node_uid=os.geteuid(), socket=self.path)
        return False

    def _watch(self, conn: socket.socket) -> None:
        """Wait for the connection's next request in the loop (an idle client may stay as long as
        it likes). Also called by a worker handing its connection back."""
        conn.setblocking(False)
        c = _Client(conn)
        self._clients[conn.fileno()] = c
        try:
            self._ep.register(conn.fileno(), select.EPOLLIN)
        except (OSError, ValueError):  # the loop has stopped
            self._drop(c)

    def _drop(self, c: _Client) -> None:
        fd = c.sock.fileno()
        if fd >= 0 and self._clients.get(fd) is c:
            del self._clients[fd]
            with contextlib.suppress(OSError, ValueError):
                self._ep.unregister(fd)
        c.sock.close()

    def _sweep(self, now: float) -> None:
        """Drop clients frozen in the middle of sending a request."""
        for c in list(self._clients.values()):
            if c.since and now - c.since > self.stall_s:
                log.debug("local client sent part of a request %.0f s ago: dropped", now - c.since)
                self._drop(c)

    def _readable(self, fd: int) -> None:
        c = self._clients.get(fd)
        if c is None:
            return
        try:
            data, fds, _, _ = socket.recv_fds(c.sock, FIRST_READ, 1)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(c)
            return
        for extra in fds:
            os.close(extra)  # clients send no descriptors
        if not data:
            self._drop(c)
            return
        c.buf += data
        try:
            self._requests(c)
        except (PeerGone, ConnectionError) as e:
            log.debug("local client gone: %s", e)
            self._drop(c)
        except Exception:
            log.exception("local client connection failed")
            self._drop(c)

    def _requests(self, c: _Client) -> None:
        """Serve every whole request in the client's buffer; a write (or a slow get) takes the
        connection to a worker, with nothing after it (a client waits for each answer)."""
        while (n := framed_length(c.buf)) > 0 and len(c.buf) >= n:
            req = storage_pb2.LocalRequest()
            try:
                req.ParseFromString(bytes(c.buf[HEADER_SIZE:n]))
            except Exception:
                raise PeerGone("an unreadable local request") from None
            del c.buf[:n]
            c.since = 0.0
            if req.WhichOneof("op") == "get" and self.is_quick(req.get):
                self._get_now(c, req.get)
                continue
            if c.buf:
                raise PeerGone("a request sent before the answer to the one before it")
            del self._clients[c.sock.fileno()]
            self._ep.unregister(c.sock.fileno())
            c.sock.setblocking(True)
            c.sock.settimeout(self.stall_s)  # a reply to a client that froze must not hang a worker
            self._workers.submit(self._serve_one, c.sock, req)
            return
        if c.buf and not c.since:
            c.since = time.monotonic()

    def _opened(self, req: storage_pb2.GetObjectRequest) -> tuple[storage_pb2.LocalResponse, int]:
        """A get's answer and the object's descriptor (-1 with an error answer)."""
        try:
            fd, attrs, offset, length, is_range, path = self.open_object(req)
        except Exception as e:
            return _error(e), -1
        return storage_pb2.LocalResponse(head=storage_pb2.GetObjectResponse(
            attrs=attrs, is_range=is_range, range_offset=offset, range_length=length), path=path), fd

    def _get_now(self, c: _Client, req: storage_pb2.GetObjectRequest) -> None:
        """Answer a get from the loop. The client is waiting for it, so its socket has room: an
        answer that does not fit whole means a client that does not read, and it is dropped."""
        resp, fd = self._opened(req)
        try:
            data = frame(resp.SerializeToString())
            sent = socket.send_fds(c.sock, [data], [fd]) if fd >= 0 else c.sock.send(data)
        except OSError as e:  # BlockingIOError included
            raise PeerGone(str(e)) from None
        finally:
            if fd >= 0:
                os.close(fd)  # the client has its own duplicate now (or is gone)
        if sent != len(data):
            raise PeerGone("a client that does not read its answers")

    def _serve_one(self, conn: socket.socket, req: storage_pb2.LocalRequest) -> None:
        """A worker: one request on a blocking connection, then the connection back to the loop."""
        try:
            self._handle(conn, req)
        except PeerGone as e:
            log.debug("local client gone: %s", e)
            conn.close()
            return
        except Exception:
            log.exception("local client connection failed")
            conn.close()
            return
        if self._stop.is_set():
            conn.close()
            return
        self._watch(conn)

    def _handle(self, conn: socket.socket, req: storage_pb2.LocalRequest) -> None:
        op = req.WhichOneof("op")
        if op == "get":
            self._get(conn, req.get)
        elif op == "put":
            self._put(conn, req.put)
        elif op == "write":
            self._write(conn, req.write)
        elif op in ("commit", "abort"):
            token = (req.commit if op == "commit" else req.abort).token
            _send(conn, _error(errors.InvalidArgument(f'unknown write "{token}" on this connection')))
        else:
            _send(conn, _error(errors.InvalidArgument(f"unknown local request {op!r}")))

    def _get(self, conn: socket.socket, req: storage_pb2.GetObjectRequest) -> None:
        """A get a worker answers (one the loop should not wait for)."""
        resp, fd = self._opened(req)
        try:
            _send(conn, resp, fd)
        finally:
            if fd >= 0:
                os.close(fd)  # the client has its own duplicate now (or is gone)

    def _write(self, conn: socket.socket, req: storage_pb2.WriteObjectRequest) -> None:
        """A small object whole in the request: stored (verified, fsynced, renamed) before the answer.
        A writer that is gone already (it gave up on this node, frozen until now) has answered
        its client 503: its write is dropped, as a pipe write is, so that answer stays true."""
        if _peer_gone(conn):
            DROPPED.inc()
            raise PeerGone("the writer of a whole small object left before it was stored")
        try:
            resp = storage_pb2.LocalResponse(attrs=self.store.put(self.spec_of(req.header), (req.data,)))
        except Exception as e:
            resp = _error(e)
        _send(conn, resp)

    def _put(self, conn: socket.socket, header: storage_pb2.PutHeader) -> None:
        try:
            spec = self.spec_of(header)
            check_object_name(spec.name)
            self.store.check_bucket(spec.bck, spec.bid)
            r, w = _pipe()
        except Exception as e:
            _send(conn, _error(e))
            return
        if spec.custom is None:
            spec.custom = {}
        body = PipeBody(conn, r, uuid.uuid4().hex, self.stall_s, spec.custom)
        try:
            try:
                _send(conn, storage_pb2.LocalResponse(token=body.token), w)
            finally:
                os.close(w)  # only the writer holds it now: its close is our end of file
            resp = self._store(spec, body)
        except PeerGone:  # before its pipe, or in the middle: nothing is stored
            DROPPED.inc()
            raise
        finally:
            body.close()
        _send(conn, resp)

    def _store(self, spec: PutSpec, body: PipeBody) -> storage_pb2.LocalResponse:
        """Run the write path over the pipe; the answer to the writer's commit (or abort)."""
        try:
            return storage_pb2.LocalResponse(attrs=self.store.put(spec, body))
        except PeerGone:
            raise
        except Aborted:
            return storage_pb2.LocalResponse()
        except Exception as e:
            if body.await_finish() == "abort":
                return storage_pb2.LocalResponse()
            return _error(e)
