"""Framing of the same-host fast path: length-prefixed protobuf messages over a Unix socket,
with an open descriptor passed along (SCM_RIGHTS): an object to read, or a pipe to write an
object into. See LocalRequest in storage.proto.

Bytes then leave the gateway with sendfile(2) straight from the storage node's file: no gRPC
stream, no copies through Python. Only processes on the same host (same host_id) use it.
"""

from __future__ import annotations

import functools
import os
import socket
import struct

_LEN = struct.Struct(">I")
# The extended attribute that holds an object's metadata on a node's disk: a same-host reader
# that opens an object's file again compares it with what it saw when the node opened it.
OBJECT_META_XATTR = "user.ais.meta"
HEADER_SIZE = _LEN.size  # a message's length prefix
MAX_MESSAGE = 1 << 20
# The first read of a message: most are a few hundred bytes (a small write's, up to its inline
# limit plus header); a larger one is read on in full. Asking for MAX_MESSAGE at once cost an
# allocation of 1 MiB per message (mmap and munmap), on both sides of every same-host GET.
FIRST_READ = 72 << 10


@functools.cache
def host_id() -> str:
    """This host's identity for this boot: hostname plus the kernel's boot id."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}"


def socket_address(path: str) -> str:
    """What bind/connect take: a leading "@" names the abstract namespace (Linux)."""
    return "\0" + path[1:] if path.startswith("@") else path


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        more = sock.recv(n - len(buf))
        if not more:
            raise ConnectionError("local read socket closed")
        buf += more
    return bytes(buf)


def frame(payload: bytes) -> bytes:
    """One message as it goes on the wire: its length, then it."""
    return _LEN.pack(len(payload)) + payload


def framed_length(buf: bytes | bytearray) -> int:
    """The whole length of the message at the start of ``buf`` (its length prefix included),
    or -1 while the prefix itself is incomplete; ConnectionError for one over MAX_MESSAGE."""
    if len(buf) < _LEN.size:
        return -1
    (n,) = _LEN.unpack_from(buf)
    if n > MAX_MESSAGE:
        raise ConnectionError(f"local read message of {n} bytes is too large")
    return _LEN.size + n


def send_message(sock: socket.socket, payload: bytes, fd: int = -1) -> None:
    data = frame(payload)
    if fd >= 0:
        socket.send_fds(sock, [data], [fd])
    else:
        sock.sendall(data)


def recv_message(sock: socket.socket) -> tuple[bytes, int]:
    """One message and the descriptor that came with it (-1 if none)."""
    data, fds, _, _ = socket.recv_fds(sock, FIRST_READ, 1)
    if not data:
        raise ConnectionError("local read socket closed")
    fd = fds[0] if fds else -1
    try:
        if len(data) < _LEN.size:
            data += _recv_exactly(sock, _LEN.size - len(data))
        (n,) = _LEN.unpack(data[:_LEN.size])
        if n > MAX_MESSAGE:
            raise ConnectionError(f"local read message of {n} bytes is too large")
        body = data[_LEN.size:]
        if len(body) < n:
            body += _recv_exactly(sock, n - len(body))
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise
    return body, fd
