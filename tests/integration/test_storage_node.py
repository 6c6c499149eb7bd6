"""One storage node as a real process, with a real metadata service and etcd, driven through
the generated Storage stubs: bytes, ranges, names, concurrency, listings, errors, crash safety.

The node is started BEFORE the metadata service, so these tests also show that it serves
meanwhile and registers once the metadata service answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from aismesh.cmn import errors
from aismesh.cmn.checksum import compute
from aismesh.cmn.names import Bck
from aismesh.cmn.rpc import CHUNK_SIZE, check_health
from aismesh.protos import metadata_pb2, metadata_pb2_grpc, storage_pb2, storage_pb2_grpc, types_pb2
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration
BIN = os.path.dirname(sys.executable)
NODE = "t1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def etcd_healthy(addr: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{addr}/health", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


@dataclass
class Node:
    """The storage node process and everything needed to restart it with the same identity."""

    tmp: Path
    meta_addr: str
    addr: str = field(default_factory=lambda: f"127.0.0.1:{free_port()}")
    proc: subprocess.Popen[bytes] | None = None

    @property
    def mountpaths(self) -> list[str]:
        return [str(self.tmp / "mp1"), str(self.tmp / "mp2")]

    def start(self) -> None:
        argv = [sys.executable, "-m", "services.storage", "--listen", self.addr, "--metadata",
                self.meta_addr, "--id", NODE, "--local-socket", "off"]
        for mp in self.mountpaths:
            argv += ["--mountpath", mp]
        log = open(self.tmp / "node.log", "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(argv, stdout=log, stderr=log)
        log.close()
        wait_for("storage node SERVING", lambda: check_health(self.addr, 0.5))

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@dataclass
class Cluster:
    node: Node
    meta: metadata_pb2_grpc.MetadataStub
    stub: storage_pb2_grpc.StorageStub

    def bucket(self, name: str) -> types_pb2.BucketRef:
        bck = Bck(name=f"{name}-{os.urandom(3).hex()}")
        info = self.meta.CreateBucket(metadata_pb2.CreateBucketRequest(bck=bck.to_proto()), timeout=10)
        return types_pb2.BucketRef(bck=bck.to_proto(), bid=info.bid)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("storage")
    etcd_addr, peer, meta_addr = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    procs: list[subprocess.Popen[bytes]] = []
    node = Node(tmp, meta_addr)
    try:
        with open(tmp / "etcd.log", "wb") as log:
            procs.append(subprocess.Popen([
                os.path.join(BIN, "etcd"), "--name", "n", "--data-dir", str(tmp / "etcd"), "--log-level=error",
                "--listen-client-urls", f"http://{etcd_addr}", "--advertise-client-urls", f"http://{etcd_addr}",
                "--listen-peer-urls", f"http://{peer}", "--initial-advertise-peer-urls", f"http://{peer}",
                "--initial-cluster", f"n=http://{peer}"], stdout=log, stderr=log))
        node.start()  # before the metadata service: it must serve meanwhile
        wait_for("etcd healthy", lambda: etcd_healthy(etcd_addr))
        with open(tmp / "metadata.log", "wb") as log:
            procs.append(subprocess.Popen([
                sys.executable, "-m", "services.metadata", "--listen", meta_addr, "--etcd", etcd_addr,
                "--node-ttl", "3"], stdout=log, stderr=log))
        wait_for("metadata SERVING", lambda: check_health(meta_addr, 0.5))
        with grpc.insecure_channel(meta_addr) as mch, grpc.insecure_channel(node.addr) as sch:
            yield Cluster(node, metadata_pb2_grpc.MetadataStub(mch), storage_pb2_grpc.StorageStub(sch))
    finally:
        node.stop()
        for p in reversed(procs):
            p.terminate()
            p.wait(10)


def put(c: Cluster, ref: types_pb2.BucketRef, name: str, body: bytes, size: int | None = None,
        **header: Any) -> types_pb2.ObjAttrs:
    def stream() -> Iterator[storage_pb2.PutObjectRequest]:
        yield storage_pb2.PutObjectRequest(header=storage_pb2.PutHeader(
            bucket=ref, name=name, size=len(body) if size is None else size, **header))
        for i in range(0, len(body), CHUNK_SIZE):
            yield storage_pb2.PutObjectRequest(data=body[i:i + CHUNK_SIZE])
        yield storage_pb2.PutObjectRequest(eof=True)

    attrs: types_pb2.ObjAttrs = c.stub.PutObject(stream(), timeout=30)
    return attrs


def get(c: Cluster, ref: types_pb2.BucketRef, name: str,
        rng: types_pb2.ByteRange | None = None) -> tuple[list[storage_pb2.GetObjectResponse], bytes]:
    msgs = list(c.stub.GetObject(storage_pb2.GetObjectRequest(bucket=ref, name=name, range=rng), timeout=30))
    return msgs, b"".join(m.data for m in msgs)


def ais_error(e: grpc.RpcError) -> errors.AisError:
    return errors.from_rpc_error(e)


def list_all(c: Cluster, ref: types_pb2.BucketRef, prefix: str = "", delimiter: str = "",
             page: int = 0) -> list[types_pb2.ObjAttrs]:
    out: list[types_pb2.ObjAttrs] = []
    after = ""
    while True:
        resp = c.stub.ListObjects(storage_pb2.ListObjectsRequest(
            bucket=ref, prefix=prefix, start_after=after, page_size=page, delimiter=delimiter), timeout=10)
        out += resp.entries
        if not resp.is_truncated:
            return out
        assert resp.entries
        after = resp.entries[-1].name


def test_registers_once_the_metadata_service_is_up(cluster: Cluster) -> None:
    def registered() -> bool:
        nodes = {n.id: n for n in cluster.meta.GetSmap(types_pb2.Empty(), timeout=5).nodes}
        return NODE in nodes and nodes[NODE].grpc_addr == cluster.node.addr
    wait_for("node in the Smap", registered)
    node = next(n for n in cluster.meta.GetSmap(types_pb2.Empty(), timeout=5).nodes if n.id == NODE)
    assert node.type == "target" and list(node.mountpaths) == cluster.node.mountpaths
    info = cluster.stub.NodeInfo(types_pb2.Empty(), timeout=5)
    assert info.node_id == NODE and [m.path for m in info.mountpaths] == cluster.node.mountpaths


@pytest.mark.parametrize("size", [0, 1, 5 << 20])
def test_put_get_byte_for_byte(cluster: Cluster, size: int) -> None:
    ref = cluster.bucket("rt")
    body = os.urandom(size)
    attrs = put(cluster, ref, "obj", body, compute_md5=True)
    assert (attrs.size, attrs.version) == (size, "1")
    assert attrs.checksum.type == "xxhash" and attrs.checksum.value == compute("xxhash", body)
    assert attrs.etag == compute("md5", body) and attrs.location.startswith(f"t[{NODE}]:")
    msgs, data = get(cluster, ref, "obj")
    assert data == body
    assert msgs[0].attrs.size == size and msgs[0].attrs.checksum.value == attrs.checksum.value
    assert len(msgs) == max(1, -(-size // CHUNK_SIZE))  # the first message carries data too
    assert cluster.stub.HeadObject(storage_pb2.ObjectRequest(bucket=ref, name="obj"), timeout=5).size == size


def test_ranges(cluster: Cluster) -> None:
    ref = cluster.bucket("rng")
    body = os.urandom(3 * CHUNK_SIZE + 17)
    put(cluster, ref, "r", body)
    for rng, want in [
        (types_pb2.ByteRange(start=5, end=9), body[5:10]),
        (types_pb2.ByteRange(start=CHUNK_SIZE - 1, end=-1), body[CHUNK_SIZE - 1:]),
        (types_pb2.ByteRange(suffix_length=100, end=-1), body[-100:]),
        (types_pb2.ByteRange(start=10, end=10 ** 12), body[10:]),
    ]:
        msgs, data = get(cluster, ref, "r", rng)
        assert data == want
        assert msgs[0].is_range and msgs[0].range_length == len(want)
        assert msgs[0].range_offset == len(body) - len(want) if rng.suffix_length else rng.start
    with pytest.raises(grpc.RpcError) as e:
        get(cluster, ref, "r", types_pb2.ByteRange(start=len(body), end=-1))
    assert e.value.code() == grpc.StatusCode.OUT_OF_RANGE
    err = ais_error(e.value)
    assert isinstance(err, errors.RangeNotSatisfiable) and err.object_size == len(body)


def test_names_are_never_paths(cluster: Cluster) -> None:
    ref = cluster.bucket("names")
    names = ["..", "../../../etc/passwd", "/leading", "a//b", "x" * 300 + "/y" + "z" * 300, "ünï/☃ 名前",
             "a", "a/b", "a/b/", " ", "%ob"]
    for i, n in enumerate(names):
        put(cluster, ref, n, f"{i}:{n}".encode())
    for i, n in enumerate(names):
        assert get(cluster, ref, n)[1] == f"{i}:{n}".encode()
    assert [e.name for e in list_all(cluster, ref)] == sorted(names, key=lambda s: s.encode())
    for mp in cluster.node.mountpaths:  # nothing landed outside the bucket folders
        assert set(os.listdir(mp)) <= {".aismesh", "@ais"}


def test_concurrent_puts_of_one_key(cluster: Cluster) -> None:
    ref = cluster.bucket("conc")
    bodies = [bytes([i]) * (CHUNK_SIZE + 1000 * i) for i in range(8)]
    barrier = threading.Barrier(len(bodies))

    def one(body: bytes) -> None:
        barrier.wait()
        put(cluster, ref, "hot", body)

    threads = [threading.Thread(target=one, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    data = get(cluster, ref, "hot")[1]
    assert data in bodies
    [entry] = cluster.stub.ListObjects(storage_pb2.ListObjectsRequest(bucket=ref, with_attrs=True),
                                       timeout=5).entries
    assert entry.size == len(data) and entry.checksum.value == compute("xxhash", data)


def test_listing_paging_prefix_delimiter_across_mountpaths(cluster: Cluster) -> None:
    ref = cluster.bucket("list")
    names = [f"d{i % 4}/sub{i % 3}/o{i:03d}" for i in range(60)] + [f"top{i}" for i in range(7)] + ["d1"]
    for n in names:
        put(cluster, ref, n, n.encode())
    want = sorted(names)
    full = list_all(cluster, ref, page=7)
    assert [e.name for e in full] == want
    assert all(e.size == len(e.name) and not e.version and not e.location for e in full)  # name+size only
    detailed = cluster.stub.ListObjects(storage_pb2.ListObjectsRequest(bucket=ref, page_size=1000, with_attrs=True),
                                        timeout=5).entries
    assert [e.name for e in detailed] == want and all(e.version == "1" for e in detailed)
    assert {e.location for e in detailed} == {f"t[{NODE}]:{mp}" for mp in cluster.node.mountpaths}
    assert [e.name for e in list_all(cluster, ref, prefix="d2/", page=4)] == [n for n in want if n.startswith("d2/")]
    rolled = list_all(cluster, ref, delimiter="/", page=2)
    assert [(e.name, e.is_dir) for e in rolled] == \
        [("d0/", True), ("d1", False), ("d1/", True), ("d2/", True), ("d3/", True)] + \
        [(f"top{i}", False) for i in range(7)]
    assert [e.name for e in list_all(cluster, ref, prefix="d1/", delimiter="/", page=1)] == \
        ["d1/sub0/", "d1/sub1/", "d1/sub2/"]
    resp = cluster.stub.ListObjects(storage_pb2.ListObjectsRequest(bucket=ref, page_size=len(names)), timeout=5)
    assert len(resp.entries) == len(names) and not resp.is_truncated


def test_object_not_found_text(cluster: Cluster) -> None:
    ref = cluster.bucket("nf")
    for call in (lambda: get(cluster, ref, "no/such"),
                 lambda: cluster.stub.HeadObject(storage_pb2.ObjectRequest(bucket=ref, name="no/such"), timeout=5),
                 lambda: cluster.stub.DeleteObject(storage_pb2.ObjectRequest(bucket=ref, name="no/such"), timeout=5)):
        with pytest.raises(grpc.RpcError) as e:
            call()
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        assert e.value.details() == f"t[{NODE}]: ais://{ref.bck.name}/no/such does not exist"
        assert isinstance(ais_error(e.value), errors.ObjectNotFound)


def test_bad_puts_store_nothing(cluster: Cluster) -> None:
    ref = cluster.bucket("bad")
    with pytest.raises(grpc.RpcError) as e:
        put(cluster, ref, "new", b"12345", size=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "5" in (e.value.details() or "") and "10" in (e.value.details() or "")
    put(cluster, ref, "old", b"old")
    with pytest.raises(grpc.RpcError) as e:
        put(cluster, ref, "old", b"new", expected=types_pb2.Checksum(type="md5", value="0" * 32))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "mismatch" in (e.value.details() or "")
    with pytest.raises(grpc.RpcError) as e:
        put(cluster, ref, "", b"x")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert get(cluster, ref, "old")[1] == b"old"
    assert [e.name for e in list_all(cluster, ref)] == ["old"]
    for mp in cluster.node.mountpaths:
        assert os.listdir(os.path.join(mp, ".aismesh", "work")) == []


def test_cancelled_put_keeps_the_old_object(cluster: Cluster) -> None:
    ref = cluster.bucket("cancel")
    put(cluster, ref, "k", b"old")
    sent, release = threading.Event(), threading.Event()

    def stream() -> Iterator[storage_pb2.PutObjectRequest]:
        yield storage_pb2.PutObjectRequest(header=storage_pb2.PutHeader(bucket=ref, name="k", size=-1))
        yield storage_pb2.PutObjectRequest(data=b"x" * CHUNK_SIZE)
        sent.set()
        release.wait(30)  # the body never ends: the client cancels instead

    fut = cluster.stub.PutObject.future(stream(), timeout=30)
    assert sent.wait(10)
    wait_for("work file appears", lambda: any(
        os.listdir(os.path.join(mp, ".aismesh", "work")) for mp in cluster.node.mountpaths), 5)
    fut.cancel()
    release.set()
    wait_for("work file removed", lambda: not any(
        os.listdir(os.path.join(mp, ".aismesh", "work")) for mp in cluster.node.mountpaths), 5)
    assert get(cluster, ref, "k")[1] == b"old"


def test_destroyed_bucket_data_is_removed(cluster: Cluster) -> None:
    ref = cluster.bucket("gone")
    for i in range(10):
        put(cluster, ref, f"o{i}", b"x")
    cluster.meta.DestroyBucket(metadata_pb2.BckRequest(bck=ref.bck), timeout=10)
    bdirs = [os.path.join(mp, "@ais", "@#", ref.bck.name) for mp in cluster.node.mountpaths]
    wait_for("bucket folders removed", lambda: not any(os.listdir(d) for d in bdirs if os.path.isdir(d)))
    with pytest.raises(grpc.RpcError) as e:
        get(cluster, ref, "o1")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_registers_again_after_removal(cluster: Cluster) -> None:
    wait_for("registered", lambda: any(n.id == NODE for n in cluster.meta.GetSmap(types_pb2.Empty()).nodes))
    cluster.meta.LeaveNode(metadata_pb2.NodeRequest(node_id=NODE), timeout=5)
    wait_for("node back in the Smap (heartbeat NOT_FOUND -> register)",
             lambda: any(n.id == NODE for n in cluster.meta.GetSmap(types_pb2.Empty()).nodes), 10)


def test_sigkill_restart_keeps_every_object_and_sigterm_is_quick(cluster: Cluster) -> None:
    node = cluster.node
    ref = cluster.bucket("crash")
    names = [f"k{i:02d}/{'x' * i}" for i in range(40)] + ["a", "a/b"]
    for n in names:
        put(cluster, ref, n, n.encode())
    node.signal(signal.SIGKILL)
    assert node.proc is not None and node.proc.wait(5) == -signal.SIGKILL
    for mp in node.mountpaths:  # as if the index had lost its last commits: only the xattrs remain
        assert not os.path.exists(os.path.join(mp, ".aismesh", "index.clean"))
        for suffix in ("", "-wal", "-shm"):
            path = os.path.join(mp, ".aismesh", "index.db" + suffix)
            if os.path.exists(path):
                os.unlink(path)
    node.start()
    assert [e.name for e in list_all(cluster, ref)] == sorted(names)
    for n in names:
        assert get(cluster, ref, n)[1] == n.encode()

    started = time.monotonic()
    node.signal(signal.SIGTERM)
    assert node.proc is not None and node.proc.wait(5) == 0
    assert time.monotonic() - started < 2.0
    assert all(os.path.exists(os.path.join(mp, ".aismesh", "index.clean")) for mp in node.mountpaths)
    node.start()
    assert [e.name for e in list_all(cluster, ref, page=5)] == sorted(names)


def test_a_stream_that_ends_without_eof_stores_nothing(cluster: Cluster) -> None:
    """A cut request stream can look like a clean end: only the eof message makes a body whole."""
    ref = cluster.bucket("noeof")
    put(cluster, ref, "k", b"old")

    def stream() -> Iterator[storage_pb2.PutObjectRequest]:
        yield storage_pb2.PutObjectRequest(header=storage_pb2.PutHeader(bucket=ref, name="k", size=-1))
        yield storage_pb2.PutObjectRequest(data=b"truncated")

    with pytest.raises(grpc.RpcError) as e:
        cluster.stub.PutObject(stream(), timeout=30)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "ended before the body did" in (e.value.details() or "")
    assert get(cluster, ref, "k")[1] == b"old"
