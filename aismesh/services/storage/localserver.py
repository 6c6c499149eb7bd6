"""The local read fast path of a storage node: hand same-host readers an open descriptor.

One thread per connected reader; each request is answered with the object's attributes and
resolved range, plus the descriptor (or an ErrorInfo). See LocalReadResponse in storage.proto.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
from collections.abc import Callable

from aismesh.cmn import errors
from aismesh.cmn.localread import recv_message, send_message, socket_address
from aismesh.protos import storage_pb2, types_pb2

log = logging.getLogger("storage.local")
Opener = Callable[[storage_pb2.GetObjectRequest], tuple[int, types_pb2.ObjAttrs, int, int, bool]]


def default_socket(node_id: str, mountpaths: list[str]) -> str:
    """An abstract-namespace name ("@..."): no path-length limit, nothing left on disk."""
    digest = hashlib.sha1("\n".join([node_id, *mountpaths]).encode()).hexdigest()[:20]
    return f"@aismesh-{node_id}-{digest}"


class LocalReadServer:
    def __init__(self, path: str, open_object: Opener) -> None:
        self.path = path
        self.open_object = open_object
        self._sock: socket.socket | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        is_file = not self.path.startswith("@")
        if is_file and os.path.exists(self.path):
            os.unlink(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(socket_address(self.path))
        if is_file:
            os.chmod(self.path, 0o600)
        sock.listen(128)
        self._sock = sock
        threading.Thread(target=self._accept, daemon=True, name="local-accept").start()

    def stop(self) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()
        if not self.path.startswith("@") and os.path.exists(self.path):
            os.unlink(self.path)

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True, name="local-read").start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            while not self._stop.is_set():
                try:
                    payload, _ = recv_message(conn)
                except (ConnectionError, OSError):
                    return
                self._answer(conn, payload)

    def _answer(self, conn: socket.socket, payload: bytes) -> None:
        req = storage_pb2.GetObjectRequest()
        fd = -1
        try:
            req.ParseFromString(payload)
            fd, attrs, offset, length, is_range = self.open_object(req)
            head = storage_pb2.GetObjectResponse(attrs=attrs, is_range=is_range, range_offset=offset,
                                                 range_length=length)
            resp = storage_pb2.LocalReadResponse(head=head)
        except errors.AisError as e:
            resp = storage_pb2.LocalReadResponse(error=e.to_info())
        except Exception as e:
            log.exception("local read failed")
            resp = storage_pb2.LocalReadResponse(error=errors.Internal(f"local read: {e}").to_info())
        try:
            send_message(conn, resp.SerializeToString(), fd)
        finally:
            if fd >= 0:
                os.close(fd)  # the reader has its own duplicate now
