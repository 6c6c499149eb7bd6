"""The same-host fast path of a storage node, in process: a LocalServer over a Store on
temporary mountpaths, driven at the wire level and through the gateway's LocalReader."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from aismesh.cmn import errors
from aismesh.cmn.checksum import compute
from aismesh.cmn.localread import host_id, recv_message, send_message, socket_address
from aismesh.cmn.names import Bck
from aismesh.protos import metadata_pb2, storage_pb2, types_pb2
from services.gateway.localread import LocalReader, NodeNotAnswering, OpenCache
from services.gateway.metasync import NodeView
from services.storage import layout, objmeta
from services.storage.localserver import LocalServer, is_allowed_peer
from services.storage.membership import validated_reads
from services.storage.server import StorageServicer
from services.storage.store import PutSpec, Store

BCK = Bck("b")
BID = 7
REF = types_pb2.BucketRef(bck=BCK.to_proto(), bid=BID)


@pytest.fixture
def server(store: Store) -> Iterator[LocalServer]:
    servicer = StorageServicer(store)
    srv = LocalServer(f"@aismesh-test-{os.getpid()}-{os.urandom(4).hex()}", servicer.open_local, store,
                      servicer.spec_of, stall_s=2.0)
    srv.start()
    yield srv
    srv.stop()


@contextlib.contextmanager
def client(srv: LocalServer) -> Iterator[socket.socket]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(socket_address(srv.path))
    with s:
        yield s


def call(s: socket.socket, **op: object) -> tuple[storage_pb2.LocalResponse, int]:
    send_message(s, storage_pb2.LocalRequest(**op).SerializeToString())  # type: ignore[arg-type]
    body, fd = recv_message(s)
    resp = storage_pb2.LocalResponse()
    resp.ParseFromString(body)
    return resp, fd


def begin(s: socket.socket, name: str, size: int = -1) -> tuple[str, int]:
    resp, fd = call(s, put=storage_pb2.PutHeader(bucket=REF, name=name, size=size))
    assert not resp.HasField("error") and fd >= 0, resp
    return resp.token, fd


def finish(s: socket.socket, token: str, size: int, op: str = "commit") -> storage_pb2.LocalResponse:
    resp, fd = call(s, **{op: storage_pb2.LocalCommit(token=token, size=size)})
    assert fd < 0
    return resp


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read(store: Store, name: str) -> bytes:
    fd, meta, _ = store.open_object(BCK, BID, name)
    try:
        return os.pread(fd, meta.size + 1, 0)
    finally:
        os.close(fd)


def work_files(store: Store) -> list[str]:
    return [f for mp in store.mountpaths for f in os.listdir(layout.sys_path(mp, "work"))]


def wait_for(ok: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


# --- writes ----------------------------------------------------------------------------------


def test_the_writer_gets_a_pipe_and_the_object_is_committed(server: LocalServer, store: Store) -> None:
    body = os.urandom(3 << 20)
    with client(server) as s:
        token, fd = begin(s, "obj", len(body))
        assert stat.S_ISFIFO(os.fstat(fd).st_mode), "a writer never holds a file"
        write_all(fd, body)
        os.close(fd)
        resp = finish(s, token, len(body))
    assert not resp.HasField("error"), resp
    assert resp.attrs.size == len(body) and resp.attrs.checksum.value == compute("xxhash", body)
    assert read(store, "obj") == body


def test_a_kept_descriptor_cannot_change_the_committed_object(server: LocalServer, store: Store) -> None:
    body = os.urandom(100_000)
    with client(server) as s:
        token, fd = begin(s, "obj", len(body))
        write_all(fd, body)
        attrs = finish(s, token, len(body)).attrs  # commit while still holding the pipe
    try:
        with pytest.raises(OSError):
            os.pwrite(fd, b"EVIL", 0)
        with pytest.raises(OSError):
            os.ftruncate(fd, 1)
        assert wait_for(lambda: _write_fails(fd)), "the node closed its end after the commit"
    finally:
        os.close(fd)
    assert read(store, "obj") == body and compute("xxhash", body) == attrs.checksum.value


def _write_fails(fd: int) -> bool:
    try:
        os.write(fd, b"late")
    except BrokenPipeError:
        return True
    return False


@pytest.mark.parametrize("case", ["abort", "short", "long", "writer-gone", "stalled"])
def test_failed_local_writes_keep_the_old_object(server: LocalServer, store: Store, case: str) -> None:
    store.put(PutSpec(bck=BCK, bid=BID, name="obj"), [b"old"])
    new = os.urandom(50_000)
    with client(server) as s:
        token, fd = begin(s, "obj")
        write_all(fd, new)
        if case != "stalled":
            os.close(fd)
        if case == "abort":
            assert not finish(s, token, 0, "abort").HasField("error")
        elif case in ("short", "long"):
            resp = finish(s, token, len(new) + (1 if case == "short" else -1))
            assert resp.error.reason == "incomplete-body", resp
        elif case == "stalled":  # neither more bytes nor a commit: the node gives up (stall_s)
            assert wait_for(lambda: not work_files(store), timeout=5)
            os.close(fd)
    assert read(store, "obj") == b"old"
    assert wait_for(lambda: not work_files(store))


def test_commit_before_the_writer_closes_and_in_any_order(server: LocalServer, store: Store) -> None:
    """The commit may overtake bytes still in the pipe: the node reads up to the named size."""
    body = os.urandom(4 << 20)
    with client(server) as s:
        token, fd = begin(s, "obj", len(body))
        writer = threading.Thread(target=lambda: (write_all(fd, body), os.close(fd)))
        writer.start()
        resp = finish(s, token, len(body))
        writer.join()
    assert not resp.HasField("error") and read(store, "obj") == body


def test_a_store_error_is_the_answer_to_the_commit(server: LocalServer, store: Store) -> None:
    with client(server) as s:
        resp, fd = call(s, put=storage_pb2.PutHeader(bucket=REF, name="obj", size=3,
                                                     expected=types_pb2.Checksum(type="md5", value="0" * 32)))
        write_all(fd, b"abc")
        os.close(fd)
        done = finish(s, resp.token, 3)
        assert done.error.reason == "bad-digest"
        # the connection goes on serving
        resp, fd = call(s, get=storage_pb2.GetObjectRequest(bucket=REF, name="obj"))
        assert fd < 0 and resp.error.reason == "object"


def test_unknown_token_and_bad_name_are_answered(server: LocalServer) -> None:
    with client(server) as s:
        resp, _ = call(s, commit=storage_pb2.LocalCommit(token="nope", size=1))
        assert "unknown write" in resp.error.message
        resp, fd = call(s, put=storage_pb2.PutHeader(bucket=REF, name="", size=1))
        assert fd < 0 and resp.HasField("error")


# --- the gateway's writer --------------------------------------------------------------------


def node_view(path: str) -> NodeView:
    return NodeView(id="t1", grpc_addr="", state="online", digest=0, local_socket=path, host_id=host_id())


def test_local_reader_put_round_trip(server: LocalServer, store: Store) -> None:
    body = [os.urandom(1 << 20) for _ in range(5)]
    attrs = LocalReader(stall_timeout_s=5).put(node_view(server.path),
                                               storage_pb2.PutHeader(bucket=REF, name="gw", size=5 << 20), body)
    assert attrs.size == 5 << 20 and read(store, "gw") == b"".join(body)


def test_local_reader_put_gives_the_node_error(server: LocalServer, store: Store) -> None:
    header = storage_pb2.PutHeader(bucket=REF, name="gw", size=10)  # announces more than comes
    with pytest.raises(errors.InvalidArgument) as ei:
        LocalReader(stall_timeout_s=5).put(node_view(server.path), header, [b"12345"])
    assert ei.value.reason == "incomplete-body"


def test_local_reader_write_stores_a_small_object_whole(server: LocalServer, store: Store) -> None:
    reader = LocalReader(stall_timeout_s=5)
    data = os.urandom(60 << 10)  # with its header, more than one first read of a message takes
    attrs = reader.write(node_view(server.path), storage_pb2.PutHeader(bucket=REF, name="small", size=len(data)),
                         data)
    assert attrs.size == len(data) and read(store, "small") == data
    short = storage_pb2.PutHeader(bucket=REF, name="small", size=len(data) + 1)  # announces more than comes
    with pytest.raises(errors.InvalidArgument) as ei:
        reader.write(node_view(server.path), short, b"new")
    assert ei.value.reason == "incomplete-body"
    assert read(store, "small") == data and not work_files(store)


def test_a_whole_write_whose_writer_left_is_dropped(server: LocalServer, store: Store) -> None:
    """The writer sends its request and at once goes (as one that gave up does). Usually the
    node finds it gone before it stores anything and drops the write; a node quick enough to
    store it before the writer's close may keep it (the writer could not have been told
    otherwise). Either way the object is one whole version, and a drop happens within a few tries."""
    for _ in range(20):
        with client(server) as s:
            assert not call(s, write=storage_pb2.WriteObjectRequest(
                header=storage_pb2.PutHeader(bucket=REF, name="w", size=3), data=b"old"))[0].HasField("error")
        dropped = _dropped()
        with client(server) as s:
            send_message(s, storage_pb2.LocalRequest(write=storage_pb2.WriteObjectRequest(
                header=storage_pb2.PutHeader(bucket=REF, name="w", size=3), data=b"new")).SerializeToString())
        assert wait_for(lambda before=dropped: _dropped() > before or read(store, "w") == b"new")
        if _dropped() > dropped:
            assert read(store, "w") == b"old" and not work_files(store)
            return
        assert not work_files(store)
    raise AssertionError("no write of a writer that left was dropped in 20 tries")


def _dropped() -> float:
    return REGISTRY.get_sample_value("aismesh_local_writes_dropped_total") or 0.0


def test_local_reader_put_gives_up_on_a_node_that_stops_reading(tmp_path: Path) -> None:
    """A node that hands out a pipe and then reads nothing: NodeNotAnswering after the stall."""
    path = f"@aismesh-test-frozen-{os.urandom(4).hex()}"
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(socket_address(path))
    lsock.listen(1)
    r, w = os.pipe()
    held: list[socket.socket] = []

    def frozen_node() -> None:
        conn, _ = lsock.accept()
        held.append(conn)
        recv_message(conn)
        send_message(conn, storage_pb2.LocalResponse(token="t").SerializeToString(), w)

    threading.Thread(target=frozen_node, daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(NodeNotAnswering, match=r"t\[t1\] is not answering"):
            LocalReader(stall_timeout_s=0.5).put(node_view(path), storage_pb2.PutHeader(bucket=REF, name="x"),
                                                 iter([b"z" * (1 << 20)] * 8))
        assert time.monotonic() - started < 5
    finally:
        for c in held:
            c.close()
        lsock.close()
        os.close(r)
        os.close(w)


# --- who may connect -------------------------------------------------------------------------


def test_only_the_nodes_own_user_is_a_peer() -> None:
    assert is_allowed_peer(1000, 1000)
    assert not is_allowed_peer(1001, 1000)
    assert not is_allowed_peer(0, 1000)  # root only when the node itself is root
    assert is_allowed_peer(0, 0)
    assert not is_allowed_peer(65534, 0)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another user (os.setuid)")
def test_another_user_is_refused(server: LocalServer, store: Store) -> None:
    store.put(PutSpec(bck=BCK, bid=BID, name="secret"), [b"s"])
    req = storage_pb2.LocalRequest(get=storage_pb2.GetObjectRequest(bucket=REF, name="secret")).SerializeToString()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # plain system calls only, then _exit
        outcome = b"error"
        try:
            os.setgid(65534)
            os.setuid(65534)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(socket_address(server.path))
            s.sendall(len(req).to_bytes(4, "big") + req)
            outcome = b"answered" if s.recv(1 << 16) else b"closed"
        except (ConnectionResetError, BrokenPipeError):
            outcome = b"closed"
        finally:
            os.write(w, outcome)
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        outcome = f.read()
    os.waitpid(pid, 0)
    assert outcome == b"closed"
    with client(server) as s:  # the node's own user still is served
        _, fd = call(s, get=storage_pb2.GetObjectRequest(bucket=REF, name="secret"))
        assert fd >= 0
        os.close(fd)


# --- validated reads -------------------------------------------------------------------------


def rot(store: Store, name: str) -> None:
    path = layout.object_path(store.mountpath_for(BCK, name), BCK, BID, name)
    with open(path, "r+b") as f:
        first = f.read(1)
        f.seek(0)
        f.write(bytes([first[0] ^ 1]))


def test_validated_reads_refuse_rotten_bytes(server: LocalServer, store: Store) -> None:
    attrs = store.put(PutSpec(bck=BCK, bid=BID, name="obj"), [b"hello world"])
    rot(store, "obj")
    servicer = StorageServicer(store)
    req = storage_pb2.GetObjectRequest(bucket=REF, name="obj")
    fd, *_ = servicer.open_for_read(req)  # not asked: served as it is
    os.close(fd)
    with pytest.raises(errors.Internal) as ei:
        servicer.open_for_read(req, validate=True)
    assert ei.value.reason == "bad-checksum" and attrs.checksum.value in ei.value.message
    assert "obj" in ei.value.message and compute("xxhash", read(store, "obj")) in ei.value.message
    # the bucket's props (in the BMD) ask for it: every door refuses, the fast path too
    store.apply_bmd(1, {(BCK.uname, BID)}, frozenset({(BCK.uname, BID)}))
    with pytest.raises(errors.Internal):
        servicer.open_for_read(req)
    with client(server) as s:
        resp, fd = call(s, get=req)
        assert fd < 0 and resp.error.reason == "bad-checksum"


def test_validated_reads_follow_the_bucket_props() -> None:
    bmd = metadata_pb2.BMD(version=4, buckets=[
        metadata_pb2.BucketInfo(bck=Bck("v").to_proto(), bid=1,
                                props_json='{"checksum": {"type": "xxhash", "validate_warm_get": true}}'),
        metadata_pb2.BucketInfo(bck=Bck("n").to_proto(), bid=2,
                                props_json='{"checksum": {"validate_warm_get": false}}'),
        metadata_pb2.BucketInfo(bck=Bck("e").to_proto(), bid=3, props_json=""),
    ])
    assert validated_reads(bmd) == frozenset({(Bck("v").uname, 1)})


# --- one loop for every connection -----------------------------------------------------------


def _put(store: Store, name: str, data: bytes) -> None:
    store.put(PutSpec(bck=BCK, bid=BID, name=name, size=len(data)), (data,))


def _get(s: socket.socket, name: str) -> bytes:
    resp, fd = call(s, get=storage_pb2.GetObjectRequest(bucket=REF, name=name))
    assert not resp.HasField("error") and fd >= 0, resp
    try:
        return os.pread(fd, resp.head.range_length, resp.head.range_offset)
    finally:
        os.close(fd)


def test_reads_and_writes_take_turns_on_one_connection(server: LocalServer, store: Store) -> None:
    """A write goes to a worker with its connection, which comes back to the loop for the next."""
    _put(store, "r", b"read me")
    with client(server) as s:
        assert _get(s, "r") == b"read me"
        assert not call(s, write=storage_pb2.WriteObjectRequest(
            header=storage_pb2.PutHeader(bucket=REF, name="w", size=5), data=b"whole"))[0].HasField("error")
        assert _get(s, "w") == b"whole"
        token, fd = begin(s, "p", 4)
        write_all(fd, b"pipe")
        os.close(fd)
        assert not finish(s, token, 4).HasField("error")
        assert _get(s, "p") == b"pipe" and _get(s, "r") == b"read me"


def test_a_client_frozen_mid_request_holds_up_nobody_and_is_dropped(server: LocalServer, store: Store) -> None:
    _put(store, "o", b"bytes")
    send_half = storage_pb2.LocalRequest(get=storage_pb2.GetObjectRequest(bucket=REF, name="o")).SerializeToString()
    with client(server) as stuck:
        stuck.sendall(len(send_half).to_bytes(4, "big") + send_half[:3])  # and nothing more
        with client(server) as other:
            started = time.monotonic()
            assert _get(other, "o") == b"bytes"
            assert time.monotonic() - started < 1.0
        # The node drops it once it has sent nothing more for the stall bound (2 s here).
        stuck.settimeout(server.stall_s + 5)
        assert stuck.recv(1) == b""


def test_a_client_that_never_reads_its_answers_is_dropped_and_the_others_are_served(
        server: LocalServer, store: Store) -> None:
    _put(store, "o", b"bytes")
    req = storage_pb2.LocalRequest(get=storage_pb2.GetObjectRequest(bucket=REF, name="o")).SerializeToString()
    burst = (len(req).to_bytes(4, "big") + req) * 2000
    with client(server) as greedy:
        greedy.settimeout(0.5)
        sent = 0
        with contextlib.suppress(TimeoutError, BrokenPipeError, ConnectionResetError):
            while sent < 200:  # requests pipelined, answers (each with a descriptor) never read
                greedy.sendall(burst)
                sent += 1
        with client(server) as other:
            assert _get(other, "o") == b"bytes"
        assert sent < 200, "the node kept taking requests from a client that reads no answers"


def test_a_get_that_is_not_quick_is_answered_by_a_worker(store: Store) -> None:
    servicer = StorageServicer(store)
    slow = threading.Event()

    def opener(req: storage_pb2.GetObjectRequest) -> tuple[int, types_pb2.ObjAttrs, int, int, bool, str]:
        if req.name == "slow":
            slow.wait(10)  # as a read that verifies a large object's bytes
        return servicer.open_local(req)

    srv = LocalServer(f"@aismesh-test-{os.getpid()}-{os.urandom(4).hex()}", opener, store, servicer.spec_of,
                      stall_s=2.0, is_quick=lambda req: req.name != "slow")
    srv.start()
    try:
        _put(store, "slow", b"s")
        _put(store, "fast", b"f")
        with client(srv) as a, client(srv) as b, ThreadPoolExecutor(1) as pool:
            pending = pool.submit(_get, a, "slow")
            # The loop is free while a worker waits on the slow read: the quick one is answered.
            started = time.monotonic()
            assert _get(b, "fast") == b"f"
            assert time.monotonic() - started < 2.0 and not pending.done()
            slow.set()
            assert pending.result(timeout=10) == b"s"
    finally:
        slow.set()
        srv.stop()


# --- the gateway's open cache ----------------------------------------------------------------


def _reopens(result: str) -> float:
    return REGISTRY.get_sample_value("aismesh_local_reopens_total", {"result": result}) or 0.0


def _read_via(reader: LocalReader, server: LocalServer, name: str, rng: types_pb2.ByteRange | None = None) -> bytes:
    req = storage_pb2.GetObjectRequest(bucket=REF, name=name, range=rng)
    head, fd = reader.open(node_view(server.path), req)
    try:
        return os.pread(fd, head.range_length, head.range_offset)
    finally:
        os.close(fd)


def test_the_open_cache_opens_an_object_again_only_while_it_is_the_same_file(
        server: LocalServer, store: Store) -> None:
    reader = LocalReader(stall_timeout_s=5, reopen=OpenCache())
    _put(store, "o", b"one")
    assert _read_via(reader, server, "o") == b"one"  # the node answers, with the object's path
    hits = _reopens("hit")
    assert _read_via(reader, server, "o") == b"one" and _reopens("hit") == hits + 1  # opened again here

    _put(store, "o", b"two!")  # overwritten: another file under the name
    assert _read_via(reader, server, "o") == b"two!" and _reopens("hit") == hits + 1
    assert _read_via(reader, server, "o") == b"two!" and _reopens("hit") == hits + 2

    fd, meta, _ = store.open_object(BCK, BID, "o")  # metadata changed in place, as an atime refresh does
    meta.atime_ns -= 10**12
    objmeta.write(fd, meta)
    os.close(fd)
    assert _read_via(reader, server, "o") == b"two!" and _reopens("hit") == hits + 2

    assert _read_via(reader, server, "o", types_pb2.ByteRange(start=1, end=2)) == b"wo"  # ranges ask the node
    assert _reopens("hit") == hits + 2

    store.delete(BCK, BID, "o")
    with pytest.raises(errors.ObjectNotFound):
        _read_via(reader, server, "o")


def test_the_open_cache_asks_the_node_again_when_an_entry_is_old(server: LocalServer, store: Store) -> None:
    reader = LocalReader(stall_timeout_s=5, reopen=OpenCache(ttl_s=0.0))
    _put(store, "o", b"bytes")
    hits = _reopens("hit")
    for _ in range(3):
        assert _read_via(reader, server, "o") == b"bytes"
    assert _reopens("hit") == hits


def test_reads_of_a_bucket_that_verifies_them_always_ask_the_node(server: LocalServer, store: Store) -> None:
    reader = LocalReader(stall_timeout_s=5, reopen=OpenCache())
    store.apply_bmd(1, {(BCK.uname, BID)}, frozenset({(BCK.uname, BID)}))
    _put(store, "v", b"hello world")
    hits = _reopens("hit")
    assert _read_via(reader, server, "v") == b"hello world"
    assert _read_via(reader, server, "v") == b"hello world" and _reopens("hit") == hits
    rot(store, "v")
    with pytest.raises(errors.Internal) as ei:
        _read_via(reader, server, "v")
    assert ei.value.reason == "bad-checksum"
