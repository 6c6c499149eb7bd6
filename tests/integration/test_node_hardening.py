"""A storage node of the real mesh under hostile or careless same-host clients: descriptors that
come and go, peers that vanish mid-answer, writers that keep their descriptor, other users, and
objects rotting on disk behind the node's back. The fast path is driven at the wire level
(LocalRequest over the node's Unix socket), the gRPC door through the generated stubs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from botocore.exceptions import ClientError

from aismesh.cmn import errors
from aismesh.cmn.checksum import compute
from aismesh.cmn.localread import host_id, recv_message, send_message, socket_address
from aismesh.cmn.names import Bck
from aismesh.protos import metadata_pb2, metadata_pb2_grpc, storage_pb2, storage_pb2_grpc, types_pb2
from services.gateway.localread import LocalReader
from services.gateway.metasync import NodeView
from services.storage import layout
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration
NODE = "t1"
NOBODY = 65534


def _wait_bmd(stub: storage_pb2_grpc.StorageStub, node_id: str, version: int) -> None:
    wait_for(f"t[{node_id}] at BMD v{version}",
             lambda: stub.NodeInfo(types_pb2.Empty(), timeout=5).bmd_version >= version)


@dataclass
class Target:
    """One storage node of the session mesh, as its clients on this host see it."""

    mesh: Any
    info: metadata_pb2.Node
    meta: metadata_pb2_grpc.MetadataStub
    stub: storage_pb2_grpc.StorageStub
    log: str

    @property
    def pid(self) -> int:
        return self.mesh.pid(self.info.id)

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def log_size(self) -> int:
        return os.path.getsize(self.log)

    def log_since(self, offset: int) -> str:
        with open(self.log, errors="replace") as f:
            f.seek(offset)
            return f.read()

    def bucket(self, stem: str, props: dict[str, Any] | None = None) -> types_pb2.BucketRef:
        bck = Bck(name=f"{stem}-{os.urandom(3).hex()}")
        req = metadata_pb2.CreateBucketRequest(bck=bck.to_proto(), props_json=json.dumps(props) if props else "")
        info = self.meta.CreateBucket(req, timeout=10)
        self.wait_bmd(info.bmd_version)
        return types_pb2.BucketRef(bck=bck.to_proto(), bid=info.bid)

    def wait_bmd(self, version: int) -> None:
        _wait_bmd(self.stub, self.info.id, version)

    def work_files(self) -> list[str]:
        return [f for mp in self.info.mountpaths for f in os.listdir(layout.sys_path(mp, "work"))]

    def read(self, ref: types_pb2.BucketRef, name: str) -> bytes:
        msgs = self.stub.GetObject(storage_pb2.GetObjectRequest(bucket=ref, name=name), timeout=10)
        return b"".join(m.data for m in msgs)


@pytest.fixture(scope="module")
def target(mesh: Any) -> Iterator[Target]:
    services = {s["name"]: s for s in mesh.status()["services"]}
    with grpc.insecure_channel(services["metadata"]["addr"]) as mch, \
            grpc.insecure_channel(services[NODE]["addr"]) as sch:
        meta = metadata_pb2_grpc.MetadataStub(mch)
        info = next(n for n in meta.GetSmap(types_pb2.Empty(), timeout=10).nodes if n.id == NODE)
        assert info.local_socket, "the mesh's nodes run the same-host fast path"
        yield Target(mesh, info, meta, storage_pb2_grpc.StorageStub(sch), services[NODE]["log"])


class FastPath:
    """A same-host client of one node, speaking LocalRequest on its own connection."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(15)
        self.sock.connect(socket_address(path))

    def __enter__(self) -> FastPath:
        return self

    def __exit__(self, *_: object) -> None:
        self.sock.close()

    def call(self, req: storage_pb2.LocalRequest) -> tuple[storage_pb2.LocalResponse, int]:
        send_message(self.sock, req.SerializeToString())
        body, fd = recv_message(self.sock)
        resp = storage_pb2.LocalResponse()
        resp.ParseFromString(body)
        return resp, fd

    def get(self, ref: types_pb2.BucketRef, name: str) -> bytes:
        resp, fd = self.call(storage_pb2.LocalRequest(get=storage_pb2.GetObjectRequest(bucket=ref, name=name)))
        if resp.HasField("error"):
            assert fd < 0, "an error answer carries no descriptor"
            raise errors.from_info(resp.error)
        try:
            return os.pread(fd, resp.head.range_length, resp.head.range_offset)
        finally:
            os.close(fd)

    def begin_put(self, ref: types_pb2.BucketRef, name: str, size: int) -> tuple[str, int]:
        """(token, the descriptor the node hands the writer)."""
        resp, fd = self.call(storage_pb2.LocalRequest(put=storage_pb2.PutHeader(bucket=ref, name=name, size=size)))
        assert not resp.HasField("error") and fd >= 0, resp
        return resp.token, fd

    def finish(self, op: str, token: str, size: int) -> types_pb2.ObjAttrs:
        resp, fd = self.call(storage_pb2.LocalRequest(**{op: storage_pb2.LocalCommit(token=token, size=size)}))
        assert fd < 0
        if resp.HasField("error"):
            raise errors.from_info(resp.error)
        return resp.attrs

    def put(self, ref: types_pb2.BucketRef, name: str, body: bytes,
            keep: bool = False) -> tuple[types_pb2.ObjAttrs, int]:
        """Write ``body`` and commit; with ``keep`` the writer's descriptor stays open (returned)."""
        token, fd = self.begin_put(ref, name, len(body))
        write_all(fd, body)
        if not keep:
            os.close(fd)
            fd = -1
        return self.finish("commit", token, len(body)), fd


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# --- 1. descriptors do not pile up ------------------------------------------------------------


def test_fd_count_stays_flat_over_many_fast_path_connections(target: Target) -> None:
    ref = target.bucket("fds")
    for i in range(5):  # warm up: pools and caches that are made once
        with FastPath(target.info.local_socket) as c:
            c.put(ref, f"warm-{i}", b"w" * 100)
    before = target.fd_count()
    for i in range(100):
        with FastPath(target.info.local_socket) as c:
            body = os.urandom(1000)
            c.put(ref, f"obj-{i}", body)
            assert c.get(ref, f"obj-{i}") == body

    def settled() -> bool:
        return target.fd_count() <= before + 8
    wait_for(f"fd count back near {before} (now {target.fd_count()})", settled, timeout=10)


# --- 2. a peer that goes away costs nothing ---------------------------------------------------


def test_a_vanishing_peer_leaves_no_traceback_and_the_node_serves(target: Target) -> None:
    ref = target.bucket("gone")
    with FastPath(target.info.local_socket) as c:
        c.put(ref, "x", b"payload")
    offset = target.log_size()
    fds = target.fd_count()
    for _ in range(30):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(socket_address(target.info.local_socket))
        send_message(s, storage_pb2.LocalRequest(get=storage_pb2.GetObjectRequest(bucket=ref, name="x"))
                     .SerializeToString())
        s.close()
    for i in range(10):  # a writer that vanishes after its put request, or after half a body
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(socket_address(target.info.local_socket))
        send_message(s, storage_pb2.LocalRequest(put=storage_pb2.PutHeader(bucket=ref, name=f"w{i}", size=10))
                     .SerializeToString())
        if i % 2:
            _, fd = recv_message(s)
            os.write(fd, b"12345")
            os.close(fd)
        s.close()
    with FastPath(target.info.local_socket) as c:
        assert c.get(ref, "x") == b"payload"
    wait_for("work files of vanished writers removed", lambda: not target.work_files())
    wait_for("descriptors released", lambda: target.fd_count() <= fds + 8)
    logged = target.log_since(offset)
    assert "Traceback" not in logged and "BrokenPipeError" not in logged, logged[-3000:]


# --- 4. what a writer holds can never change a committed object -------------------------------


def test_a_writer_that_keeps_its_descriptor_cannot_change_the_object(target: Target) -> None:
    ref = target.bucket("tamper")
    body = os.urandom(300_000)
    with FastPath(target.info.local_socket) as c:
        attrs, fd = c.put(ref, "obj", body, keep=True)
    assert fd >= 0 and attrs.size == len(body)
    assert attrs.checksum.value == compute("xxhash", body)
    try:
        for attempt in (lambda: os.pwrite(fd, b"EVIL" * 100, 0), lambda: os.write(fd, b"MORE" * 1000),
                        lambda: os.ftruncate(fd, 10)):
            with contextlib.suppress(OSError):  # refused: fine, that is the point
                attempt()
    finally:
        os.close(fd)
    data = target.read(ref, "obj")
    assert data == body
    assert compute("xxhash", data) == attrs.checksum.value
    with FastPath(target.info.local_socket) as c:
        assert c.get(ref, "obj") == body


def test_aborted_truncated_or_abandoned_local_writes_leave_the_old_object(target: Target) -> None:
    ref = target.bucket("partial")
    old = os.urandom(200_000)
    new = os.urandom(200_000)
    with FastPath(target.info.local_socket) as c:
        c.put(ref, "obj", old)
        # abort after the whole body
        token, fd = c.begin_put(ref, "obj", len(new))
        write_all(fd, new)
        os.close(fd)
        c.finish("abort", token, 0)
        assert target.read(ref, "obj") == old
        # commit that claims more than was written
        token, fd = c.begin_put(ref, "obj", len(new))
        write_all(fd, new[:1000])
        os.close(fd)
        with pytest.raises(errors.InvalidArgument) as ei:
            c.finish("commit", token, len(new))
        assert ei.value.reason == "incomplete-body"
        # commit of fewer bytes than were written
        token, fd = c.begin_put(ref, "obj", -1)
        write_all(fd, new)
        os.close(fd)
        with pytest.raises(errors.InvalidArgument) as ei:
            c.finish("commit", token, 1000)
        assert ei.value.reason == "incomplete-body"
        assert c.get(ref, "obj") == old
    # a writer that goes away with half a body and no commit
    with FastPath(target.info.local_socket) as c:
        _, fd = c.begin_put(ref, "obj", len(new))
        write_all(fd, new[:5000])
        os.close(fd)
    assert target.read(ref, "obj") == old
    wait_for("no work file left behind", lambda: not target.work_files())


def test_gateway_writer_gives_up_on_a_frozen_node(target: Target) -> None:
    """LocalReader.put against a node that stops mid-body: a fast 503, never a hang."""
    ref = target.bucket("frozen")
    with FastPath(target.info.local_socket) as c:
        c.put(ref, "obj", b"old")
    node = NodeView(id=NODE, grpc_addr="", state="online", digest=0, local_socket=target.info.local_socket,
                    host_id=host_id())
    reader = LocalReader(stall_timeout_s=1.0)
    pid = target.pid
    stopped = []

    def body() -> Iterator[bytes]:
        os.kill(pid, signal.SIGSTOP)
        stopped.append(pid)
        for _ in range(64):
            yield b"z" * (1 << 20)

    header = storage_pb2.PutHeader(bucket=ref, name="obj", size=64 << 20)
    started = time.monotonic()
    try:
        with pytest.raises(errors.RemoteUnavailable, match=rf"t\[{NODE}\] is not answering"):
            reader.put(node, header, body())
    finally:
        if stopped:
            os.kill(pid, signal.SIGCONT)
    assert stopped and time.monotonic() - started < 10
    assert target.read(ref, "obj") == b"old"
    wait_for("no work file left behind", lambda: not target.work_files())


# --- 5. the socket is the node's user's only --------------------------------------------------


def _as_other_user(path: str, request: bytes) -> str:
    """Connect as ``nobody`` in a forked child and report what the node did with the request."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: plain system calls only, then _exit
        outcome = b"error"
        try:
            os.close(r)
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(socket_address(path))
            s.sendall(request)
            data = s.recv(1 << 16)
            outcome = b"answered" if data else b"closed"
        except (ConnectionResetError, BrokenPipeError):  # refused before or while the request went out
            outcome = b"closed"
        except BaseException as e:
            outcome = f"error {type(e).__name__}: {e}".encode()
        finally:
            os.write(w, outcome)
            os._exit(0)
    os.close(w)
    try:
        with os.fdopen(r, "rb") as f:
            out = f.read().decode()
    finally:
        os.waitpid(pid, 0)
    return out


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another user (os.setuid)")
def test_other_users_are_refused(target: Target) -> None:
    ref = target.bucket("peer")
    with FastPath(target.info.local_socket) as c:
        c.put(ref, "secret", b"do not read")
    req = storage_pb2.LocalRequest(get=storage_pb2.GetObjectRequest(bucket=ref, name="secret")).SerializeToString()
    offset = target.log_size()
    assert _as_other_user(target.info.local_socket, len(req).to_bytes(4, "big") + req) == "closed"
    wait_for("a warning about the refused peer", lambda: "refused" in target.log_since(offset))
    assert f'"uid": {NOBODY}' in target.log_since(offset) or f"uid {NOBODY}" in target.log_since(offset)
    with FastPath(target.info.local_socket) as c:  # the node's own user is still served
        assert c.get(ref, "secret") == b"do not read"


# --- 6. a validated read never serves rotten bytes --------------------------------------------


def _object_file(meta: metadata_pb2_grpc.MetadataStub, bck: Bck, bid: int, name: str) -> str:
    """Where the owner node keeps the object, found through the layout."""
    smap = meta.GetSmap(types_pb2.Empty(), timeout=10)
    found = [layout.object_path(mp, bck, bid, name) for n in smap.nodes for mp in n.mountpaths
             if os.path.exists(layout.object_path(mp, bck, bid, name))]
    assert len(found) == 1, found
    return found[0]


def _rot(path: str) -> None:
    """Flip one byte in place; the xattr (and its checksum) stays as it was."""
    with open(path, "r+b") as f:
        f.seek(1234)
        b = f.read(1)
        f.seek(1234)
        f.write(bytes([b[0] ^ 0xFF]))


def test_validated_read_of_a_rotten_object_is_an_error_not_bytes(target: Target) -> None:
    ref = target.bucket("rot")
    body = os.urandom(3 << 20)
    with FastPath(target.info.local_socket) as c:
        attrs, _ = c.put(ref, "obj", body)
    bck = Bck.from_proto(ref.bck)
    _rot(_object_file(target.meta, bck, ref.bid, "obj"))
    assert target.read(ref, "obj") != body  # no validation asked for: AIS serves what it has
    info = target.meta.SetBucketProps(metadata_pb2.SetBucketPropsRequest(
        bck=ref.bck, props_json=json.dumps({"checksum": {"validate_warm_get": True}})), timeout=10)
    target.wait_bmd(info.bmd_version)

    def check(e: errors.AisError) -> None:
        assert isinstance(e, errors.Internal) and e.reason == "bad-checksum", e
        assert "obj" in e.message and attrs.checksum.value in e.message, e.message

    got: list[storage_pb2.GetObjectResponse] = []
    with pytest.raises(grpc.RpcError) as ei:
        for msg in target.stub.GetObject(storage_pb2.GetObjectRequest(bucket=ref, name="obj"), timeout=10):
            got.append(msg)
    check(errors.from_rpc_error(ei.value))
    assert not any(m.data for m in got), "no byte before the verdict"
    for rng in (None, types_pb2.ByteRange(start=0, end=9)):
        with pytest.raises(grpc.RpcError) as ei:
            target.stub.ReadObject(storage_pb2.GetObjectRequest(bucket=ref, name="obj", range=rng,
                                                                inline_limit=1 << 30), timeout=10)
        check(errors.from_rpc_error(ei.value))
    with FastPath(target.info.local_socket) as c, pytest.raises(errors.AisError) as fe:
        c.get(ref, "obj")
    check(fe.value)
    # a healthy object in the same bucket is served (and verified) as usual
    with FastPath(target.info.local_socket) as c:
        c.put(ref, "fine", body)
        assert c.get(ref, "fine") == body
    assert target.read(ref, "fine") == body


def test_s3_get_of_a_rotten_object_with_validation_is_a_500(mesh: Any, target: Target, s3: Any,
                                                            bucket: str) -> None:
    body = os.urandom(1 << 20)
    s3.put_object(Bucket=bucket, Key="k", Body=body)
    binfo = target.meta.GetBucket(metadata_pb2.BckRequest(bck=Bck(name=bucket).to_proto()), timeout=10)
    _rot(_object_file(target.meta, Bck(name=bucket), binfo.bid, "k"))
    info = target.meta.SetBucketProps(metadata_pb2.SetBucketPropsRequest(
        bck=Bck(name=bucket).to_proto(), props_json=json.dumps({"checksum": {"validate_warm_get": True}})),
        timeout=10)
    for n in target.meta.GetSmap(types_pb2.Empty(), timeout=10).nodes:
        if n.type == "target":
            with grpc.insecure_channel(n.grpc_addr) as ch:
                _wait_bmd(storage_pb2_grpc.StorageStub(ch), n.id, info.bmd_version)
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="k")["Body"].read()
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert "checksum" in ei.value.response["Error"]["Message"]
