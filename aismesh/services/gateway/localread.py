"""The gateway's side of the local read fast path: ask a same-host storage node for an open
descriptor of the object instead of streaming it over gRPC (see cmn/localread.py)."""

from __future__ import annotations

import os
import socket
import threading

from aismesh.cmn import errors
from aismesh.cmn.localread import host_id, recv_message, send_message, socket_address
from aismesh.protos import storage_pb2
from aismesh.services.gateway.metasync import NodeView


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
            sock.settimeout(30)
            sock.connect(socket_address(path))
            conns[path] = sock
        return sock

    def _drop(self, path: str) -> None:
        conns: dict[str, socket.socket] = self._local.__dict__.get("conns", {})
        sock = conns.pop(path, None)
        if sock is not None:
            sock.close()

    def open(self, node: NodeView, req: storage_pb2.GetObjectRequest) -> tuple[storage_pb2.GetObjectResponse, int]:
        """(attrs and resolved range, open fd); raises the node's error, or OSError when the
        fast path is unusable (the caller then reads over gRPC)."""
        payload = req.SerializeToString()
        for attempt in (1, 2):
            try:
                sock = self._conn(node.local_socket)
                send_message(sock, payload)
                body, fd = recv_message(sock)
                break
            except (OSError, ConnectionError):
                self._drop(node.local_socket)
                if attempt == 2:
                    raise
        resp = storage_pb2.LocalReadResponse()
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
        if fd < 0:
            raise ConnectionError("local read answered without a descriptor")
        return resp.head, fd
