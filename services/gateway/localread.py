"""The gateway's side of the same-host fast path: ask a storage node on this host for
descriptors (the object to read, a work file to write) instead of streaming bytes over gRPC.
See LocalRequest in storage.proto and cmn/localread.py."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterable

from aismesh.cmn import errors
from aismesh.cmn.localread import host_id, recv_message, send_message, socket_address
from aismesh.protos import storage_pb2, types_pb2
from services.gateway.guard import STALL_S
from services.gateway.metasync import NodeView


def is_local(node: NodeView) -> bool:
    return bool(node.local_socket) and node.host_id == host_id()


class LocalReader:
    """One persistent Unix connection per (thread, node), made on first use."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _conn(self, path: str) -> socket.socket:
        conns: dict[str, socket.socket] = self._local.__dict__.setdefault("conns", {})
        sock = conns.get(path)
        if sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(STALL_S)  # a frozen node: TimeoutError, the caller answers 503
            sock.connect(socket_address(path))
            conns[path] = sock
        return sock

    def _drop(self, path: str) -> None:
        conns: dict[str, socket.socket] = self._local.__dict__.get("conns", {})
        sock = conns.pop(path, None)
        if sock is not None:
            sock.close()

    def _call(self, node: NodeView, req: storage_pb2.LocalRequest) -> tuple[storage_pb2.LocalResponse, int]:
        """One request/answer; raises the node's error, or OSError when the fast path is
        unusable (the caller then goes through gRPC, if it still can)."""
        payload = req.SerializeToString()
        idempotent = req.WhichOneof("op") in ("get", "put")
        for attempt in (1, 2):
            try:
                sock = self._conn(node.local_socket)
                send_message(sock, payload)
                body, fd = recv_message(sock)
                break
            except (OSError, ConnectionError):
                self._drop(node.local_socket)
                if attempt == 2 or not idempotent:
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

    def open(self, node: NodeView, req: storage_pb2.GetObjectRequest) -> tuple[storage_pb2.GetObjectResponse, int]:
        """(attrs and resolved range, open fd) of the object."""
        resp, fd = self._call(node, storage_pb2.LocalRequest(get=req))
        if fd < 0:
            raise ConnectionError("local read answered without a descriptor")
        return resp.head, fd

    def put(self, node: NodeView, header: storage_pb2.PutHeader, chunks: Iterable[bytes]) -> types_pb2.ObjAttrs:
        """Write ``chunks`` into a work file the node hands us, then have it commit the file.

        Raises OSError only before the first chunk is consumed (the caller may use gRPC then)."""
        resp, fd = self._call(node, storage_pb2.LocalRequest(put=header))
        if fd < 0:
            raise ConnectionError("local write answered without a descriptor")
        token, size = resp.token, 0
        try:
            with os.fdopen(fd, "wb", buffering=0) as f:
                for chunk in chunks:
                    view = memoryview(chunk)
                    while view:
                        view = view[f.write(view) or 0:]
                    size += len(chunk)
        except OSError as e:  # e.g. ENOSPC: not a reason to retry elsewhere, the body is consumed
            self._abort(node, token)
            raise errors.Internal(f"t[{node.id}]: writing the object failed: {e}") from None
        except BaseException:
            self._abort(node, token)
            raise
        try:
            done, _ = self._call(node, storage_pb2.LocalRequest(commit=storage_pb2.LocalCommit(token=token, size=size)))
        except (OSError, ConnectionError) as e:
            raise errors.RemoteUnavailable(f"t[{node.id}] went away while storing the object: {e}") from None
        return done.attrs

    def _abort(self, node: NodeView, token: str) -> None:
        # Best effort: the node also drops the work files of clients that go away.
        with contextlib.suppress(OSError, ConnectionError, errors.AisError):
            self._call(node, storage_pb2.LocalRequest(abort=storage_pb2.LocalCommit(token=token)))
