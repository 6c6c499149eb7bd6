"""The gateway's one internal client layer: routing, fan-out and merging over gRPC.

Both front ends (S3 under /s3, native under /v1) call these methods and only translate
requests and answers; no storage logic lives in the front ends.
"""

from __future__ import annotations

import heapq
import itertools
import json
import os
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc
from werkzeug.wsgi import wrap_file

from aismesh.cmn import errors, props
from aismesh.cmn.names import Bck, check_object_name
from aismesh.cmn.ranges import ByteRange
from aismesh.cmn.rpc import ChannelPool
from aismesh.protos import metadata_pb2, metadata_pb2_grpc, storage_pb2, storage_pb2_grpc, types_pb2
from services.gateway.localread import LocalReader, is_local
from services.gateway.metasync import BucketEntry, MetaSync, NodeView

# How long one data-path call may take; object bodies stream, so this bounds stalls, not size.
DATA_TIMEOUT_S = 3600.0
CONTROL_TIMEOUT_S = 30.0
LIST_PAGE_MAX = 10_000
# Objects up to this size travel in one unary call each way (ReadObject / WriteObject): a
# gRPC stream cost about twice the client CPU of a unary call in a microbenchmark here.
INLINE_LIMIT = 1 << 20
# Same-host reads above this size leave by sendfile(2) from the node's file; below, one pread.
SENDFILE_MIN = 128 << 10


@dataclass
class GetResult:
    """Attributes first, then the body as an iterator of chunks (already started)."""

    attrs: types_pb2.ObjAttrs
    is_range: bool
    range_offset: int
    range_length: int
    chunks: Iterator[bytes]
    cancel: Any  # call to abort the stream when the client goes away
    file: Any = None  # same-host fast path: an open file positioned at the range, for sendfile

    def wsgi_body(self, environ: dict[str, Any]) -> Any:
        """The response body: the server's sendfile wrapper for a same-host file, else chunks."""
        if self.file is not None:
            return wrap_file(environ, self.file, buffer_size=1 << 20)
        return self.chunks


@dataclass
class ListPage:
    entries: list[types_pb2.ObjAttrs]
    is_truncated: bool


class Cluster:
    """Routes every object call to its owner node and fans listings out to all of them."""

    def __init__(self, metadata_addrs: list[str], subscriber: str) -> None:
        self.channels = ChannelPool()
        # Several metadata replicas: one channel over all of them (any replica serves any call).
        target = metadata_addrs[0] if len(metadata_addrs) == 1 else "ipv4:" + ",".join(metadata_addrs)
        self.metadata = metadata_pb2_grpc.MetadataStub(self.channels.get(target))
        self.meta = MetaSync(self.metadata, subscriber)
        self._stubs: dict[str, storage_pb2_grpc.StorageStub] = {}
        self._stubs_lock = threading.Lock()
        self._fanout = ThreadPoolExecutor(max_workers=16, thread_name_prefix="fanout")
        self.local = LocalReader()

    def start(self) -> None:
        self.meta.start()

    def close(self) -> None:
        self.meta.stop()
        self._fanout.shutdown(wait=False, cancel_futures=True)
        self.channels.close()

    # --- helpers ---------------------------------------------------------------------------

    def _storage(self, node: NodeView) -> storage_pb2_grpc.StorageStub:
        stub = self._stubs.get(node.grpc_addr)
        if stub is None:
            with self._stubs_lock:
                stub = self._stubs.get(node.grpc_addr)
                if stub is None:
                    stub = storage_pb2_grpc.StorageStub(self.channels.get(node.grpc_addr))
                    self._stubs[node.grpc_addr] = stub
        return stub

    def owner(self, entry: BucketEntry, name: str) -> tuple[NodeView, storage_pb2_grpc.StorageStub]:
        node = self.meta.smap.owner(entry.bck.object_uname(name))
        if node.state == "offline":
            raise errors.RemoteUnavailable(
                f"storage node t[{node.id}] that holds {entry.bck.display()}/{name} is offline"
            )
        return node, self._storage(node)

    def online_nodes(self) -> list[tuple[NodeView, storage_pb2_grpc.StorageStub]]:
        """Every storage node, refusing when one is offline (its answer would be missing)."""
        targets = self.meta.smap.targets
        if not targets:
            raise errors.RemoteUnavailable("no storage nodes in the cluster map")
        offline = [t.id for t in targets if t.state == "offline"]
        if offline:
            raise errors.RemoteUnavailable(f"storage node(s) {', '.join(offline)} offline")
        return [(t, self._storage(t)) for t in targets]

    @staticmethod
    def fail(e: grpc.RpcError, node: NodeView) -> errors.AisError:
        return errors.from_rpc_error(e, f"t[{node.id}]")

    def _meta_call(self, method: Any, request: Any) -> Any:
        try:
            return method(request, timeout=CONTROL_TIMEOUT_S)
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e, "metadata") from None

    # --- buckets ---------------------------------------------------------------------------

    def bucket(self, bck: Bck) -> BucketEntry:
        return self.meta.bucket(bck)

    def list_buckets(self, provider: str = "") -> list[BucketEntry]:
        bmd = self.meta.bmd
        return sorted((e for e in bmd.buckets.values() if not provider or e.bck.provider == provider),
                      key=lambda e: e.bck.uname)

    def create_bucket(self, bck: Bck, partial_props: dict[str, Any] | None = None) -> BucketEntry:
        req = metadata_pb2.CreateBucketRequest(
            bck=bck.to_proto(), props_json=json.dumps(partial_props) if partial_props else "",
        )
        info = self._meta_call(self.metadata.CreateBucket, req)
        self._refresh_bmd(info.bmd_version)
        return self.meta.bucket(bck)

    def bucket_by_name(self, name: str) -> BucketEntry:
        """S3 names carry no provider: the one BMD bucket with that name, ais:// when unsure."""
        found = self.meta.bmd.by_name.get(name, ())
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            unames = ", ".join(e.bck.display() for e in found)
            raise errors.Conflict(f'bucket name "{name}" is ambiguous: {unames}', reason="ambiguous")
        return self.meta.bucket(Bck(name=name))

    def destroy_bucket(self, entry: BucketEntry, require_empty: bool = False) -> None:
        """Remove the bucket from the BMD; the nodes drop its data when they see the new BMD."""
        if require_empty and self.list_objects(entry, page_size=1, with_attrs=False).entries:
            raise errors.Conflict(f"bucket {entry.bck.display()} is not empty", reason="bucket-not-empty",
                                  bck=entry.bck.to_proto())
        bmd = self._meta_call(self.metadata.DestroyBucket,
                              metadata_pb2.BckRequest(bck=entry.bck.to_proto()))
        self.meta.apply_bmd(bmd)

    def _refresh_bmd(self, version: int) -> None:
        """Make this process see at least BMD ``version`` (our own write) before answering."""
        if self.meta.bmd.version < version:
            self.meta.apply_bmd(self._meta_call(self.metadata.GetBMD, types_pb2.Empty()))

    # --- objects ---------------------------------------------------------------------------

    def put_object(
        self,
        entry: BucketEntry,
        name: str,
        body: Iterable[bytes],
        *,
        size: int = -1,
        content_type: str = "",
        custom: dict[str, str] | None = None,
        md5_hex: str = "",
        compute_md5: bool = False,
    ) -> types_pb2.ObjAttrs:
        """Stream ``body`` to the owner node; the object appears whole or not at all."""
        check_object_name(name)
        p = entry.props
        header = storage_pb2.PutHeader(
            bucket=entry.ref(), name=name, size=size, content_type=content_type,
            custom=custom or {}, checksum_type=props.checksum_type(p),
            versioning=props.is_versioned(p), compute_md5=compute_md5 or bool(md5_hex),
        )
        if md5_hex:
            header.expected.CopyFrom(types_pb2.Checksum(type="md5", value=md5_hex))

        node, stub = self.owner(entry, name)
        chunks = iter(body)
        if is_local(node):
            try:
                return self.local.put(node, header, chunks)
            except (OSError, ConnectionError):
                pass  # nothing of the body was consumed yet: go through gRPC
        head, is_whole = _take_up_to(chunks, INLINE_LIMIT) if 0 <= size <= INLINE_LIMIT else ([], False)
        try:
            if is_whole:
                req = storage_pb2.WriteObjectRequest(header=header, data=b"".join(head))
                attrs: types_pb2.ObjAttrs = stub.WriteObject(req, timeout=DATA_TIMEOUT_S)
                return attrs

            def requests() -> Iterator[storage_pb2.PutObjectRequest]:
                yield storage_pb2.PutObjectRequest(header=header)
                for chunk in itertools.chain(head, chunks):
                    if chunk:
                        yield storage_pb2.PutObjectRequest(data=chunk)

            attrs = stub.PutObject(requests(), timeout=DATA_TIMEOUT_S)
            return attrs
        except grpc.RpcError as e:
            raise self.fail(e, node) from None

    def get_object(self, entry: BucketEntry, name: str, byte_range: ByteRange | None = None) -> GetResult:
        """Start streaming the object; errors (missing, bad range) surface before any byte."""
        check_object_name(name)
        req = storage_pb2.GetObjectRequest(bucket=entry.ref(), name=name)
        if byte_range is not None:
            req.range.CopyFrom(byte_range.to_proto())
        node, stub = self.owner(entry, name)
        if is_local(node):
            try:
                return self._get_local(node, req)
            except (OSError, ConnectionError):
                pass  # the fast path is unusable (node restarting, other namespace): use gRPC
        req.inline_limit = INLINE_LIMIT
        try:
            first = stub.ReadObject(req, timeout=DATA_TIMEOUT_S)
        except grpc.RpcError as e:
            raise self.fail(e, node) from None
        if first.inline:
            return GetResult(attrs=first.attrs, is_range=first.is_range, range_offset=first.range_offset,
                             range_length=first.range_length, chunks=iter((first.data,)), cancel=_no_op)
        req.inline_limit = 0
        call = stub.GetObject(req, timeout=DATA_TIMEOUT_S)
        try:
            first = next(call)
        except grpc.RpcError as e:
            raise self.fail(e, node) from None
        except StopIteration:
            raise errors.Internal(f"t[{node.id}] sent an empty answer for {name}") from None

        def chunks() -> Iterator[bytes]:
            if first.data:
                yield first.data
            try:
                for msg in call:
                    yield msg.data
            except grpc.RpcError as e:
                raise self.fail(e, node) from None

        return GetResult(attrs=first.attrs, is_range=first.is_range, range_offset=first.range_offset,
                         range_length=first.range_length, chunks=chunks(), cancel=call.cancel)

    def _get_local(self, node: NodeView, req: storage_pb2.GetObjectRequest) -> GetResult:
        head, fd = self.local.open(node, req)
        offset, length = head.range_offset, head.range_length
        if length <= SENDFILE_MIN:
            try:
                data = os.pread(fd, length, offset) if length else b""
            finally:
                os.close(fd)
            return GetResult(attrs=head.attrs, is_range=head.is_range, range_offset=offset, range_length=length,
                             chunks=iter((data,)), cancel=_no_op)
        f = os.fdopen(fd, "rb", buffering=0)
        f.seek(offset)
        return GetResult(attrs=head.attrs, is_range=head.is_range, range_offset=offset, range_length=length,
                         chunks=_read_file(f, length), cancel=f.close, file=f)

    def head_object(self, entry: BucketEntry, name: str) -> types_pb2.ObjAttrs:
        check_object_name(name)
        node, stub = self.owner(entry, name)
        try:
            attrs: types_pb2.ObjAttrs = stub.HeadObject(
                storage_pb2.ObjectRequest(bucket=entry.ref(), name=name), timeout=CONTROL_TIMEOUT_S)
            return attrs
        except grpc.RpcError as e:
            raise self.fail(e, node) from None

    def delete_object(self, entry: BucketEntry, name: str) -> None:
        check_object_name(name)
        node, stub = self.owner(entry, name)
        try:
            stub.DeleteObject(storage_pb2.ObjectRequest(bucket=entry.ref(), name=name),
                              timeout=CONTROL_TIMEOUT_S)
        except grpc.RpcError as e:
            raise self.fail(e, node) from None

    # --- listing ---------------------------------------------------------------------------

    def list_objects(
        self,
        entry: BucketEntry,
        *,
        prefix: str = "",
        start_after: str = "",
        page_size: int = 1000,
        delimiter: str = "",
        with_attrs: bool = True,
    ) -> ListPage:
        """One sorted page merged from every node: names > start_after, at most page_size."""
        page_size = max(1, min(page_size, LIST_PAGE_MAX))
        nodes = self.online_nodes()
        # One more than asked: a node may return a rolled-up prefix equal to start_after.
        req = storage_pb2.ListObjectsRequest(
            bucket=entry.ref(), prefix=prefix, start_after=start_after, page_size=page_size + 1,
            delimiter=delimiter, with_attrs=with_attrs,
        )

        def one(node_stub: tuple[NodeView, storage_pb2_grpc.StorageStub]) -> storage_pb2.ListObjectsResponse:
            node, stub = node_stub
            try:
                resp: storage_pb2.ListObjectsResponse = stub.ListObjects(req, timeout=CONTROL_TIMEOUT_S)
                return resp
            except grpc.RpcError as e:
                raise self.fail(e, node) from None

        pages = list(self._fanout.map(one, nodes))
        merged = merge_pages([p.entries for p in pages], start_after)
        truncated = any(p.is_truncated for p in pages) or len(merged) > page_size
        return ListPage(entries=merged[:page_size], is_truncated=truncated)


def _read_file(f: Any, length: int) -> Iterator[bytes]:
    """The body of a fast-path read for servers without sendfile: bounded chunks."""
    try:
        while length > 0:
            data = f.read(min(1 << 20, length))
            if not data:
                return
            length -= len(data)
            yield data
    finally:
        f.close()


def _no_op() -> None:
    pass


def _take_up_to(chunks: Iterator[bytes], limit: int) -> tuple[list[bytes], bool]:
    """Read chunks until the end or past ``limit`` bytes: (what was read, whether it is all)."""
    head: list[bytes] = []
    total = 0
    for chunk in chunks:
        head.append(chunk)
        total += len(chunk)
        if total > limit:
            return head, False
    return head, True


def merge_pages(pages: list[Any], start_after: str) -> list[types_pb2.ObjAttrs]:
    """Merge sorted per-node pages into one sorted list: common prefixes once, nothing <= start_after.

    Python orders str by code point, which is the same order as their UTF-8 bytes (S3's order).
    """
    out: list[types_pb2.ObjAttrs] = []
    last = None
    for e in heapq.merge(*pages, key=lambda e: e.name):
        if start_after and e.name <= start_after:
            continue
        if last is not None and e.name == last:
            continue  # the same common prefix from several nodes
        out.append(e)
        last = e.name
    return out
