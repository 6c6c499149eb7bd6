"""The same-host fast path of a storage node: hand local readers and writers descriptors.

One thread per connected client. A get is answered with the object's attributes, resolved
range and open descriptor; a put with a fresh work file's descriptor and a token, which a
later commit turns into the object (or abort drops). Work files of a client that goes away
are removed. See LocalRequest in storage.proto.
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
from services.storage.store import PutSpec, Store

log = logging.getLogger("storage.local")
Opener = Callable[[storage_pb2.GetObjectRequest], tuple[int, types_pb2.ObjAttrs, int, int, bool]]
SpecOf = Callable[[storage_pb2.PutHeader], PutSpec]


def default_socket(node_id: str, mountpaths: list[str]) -> str:
    """An abstract-namespace name ("@..."): no path-length limit, nothing left on disk."""
    digest = hashlib.sha1("\n".join([node_id, *mountpaths]).encode()).hexdigest()[:20]
    return f"@aismesh-{node_id}-{digest}"


class LocalServer:
    def __init__(self, path: str, open_object: Opener, store: Store, spec_of: SpecOf) -> None:
        self.path = path
        self.open_object = open_object
        self.store = store
        self.spec_of = spec_of
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
        pending: dict[str, tuple[PutSpec, str, str]] = {}  # token -> (spec, mountpath, work file)
        try:
            with conn:
                while not self._stop.is_set():
                    try:
                        payload, _ = recv_message(conn)
                    except (ConnectionError, OSError):
                        return
                    self._answer(conn, payload, pending)
        finally:
            for _, _, tmp in pending.values():
                if os.path.exists(tmp):
                    os.unlink(tmp)

    def _answer(self, conn: socket.socket, payload: bytes, pending: dict[str, tuple[PutSpec, str, str]]) -> None:
        req = storage_pb2.LocalRequest()
        fd = -1
        try:
            req.ParseFromString(payload)
            op = req.WhichOneof("op")
            if op == "get":
                fd, attrs, offset, length, is_range = self.open_object(req.get)
                resp = storage_pb2.LocalResponse(head=storage_pb2.GetObjectResponse(
                    attrs=attrs, is_range=is_range, range_offset=offset, range_length=length))
            elif op == "put":
                spec = self.spec_of(req.put)
                fd, mp, tmp = self.store.create_work(spec)
                token = os.path.basename(tmp)
                pending[token] = (spec, mp, tmp)
                resp = storage_pb2.LocalResponse(token=token)
            elif op in ("commit", "abort"):
                c = req.commit if op == "commit" else req.abort
                found = pending.pop(c.token, None)
                if found is None:
                    raise errors.InvalidArgument(f'unknown write "{c.token}" on this connection')
                spec, mp, tmp = found
                if op == "abort":
                    if os.path.exists(tmp):
                        os.unlink(tmp)
                    resp = storage_pb2.LocalResponse()
                else:
                    resp = storage_pb2.LocalResponse(attrs=self.store.commit_work(spec, mp, tmp, c.size))
            else:
                raise errors.InvalidArgument(f"unknown local request {op!r}")
        except errors.AisError as e:
            resp = storage_pb2.LocalResponse(error=e.to_info())
        except Exception as e:
            log.exception("local request failed")
            resp = storage_pb2.LocalResponse(error=errors.Internal(f"local request: {e}").to_info())
        try:
            send_message(conn, resp.SerializeToString(), fd)
        finally:
            if fd >= 0:
                os.close(fd)  # the client has its own duplicate now
