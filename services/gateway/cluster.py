"""The gateway's one internal client layer: routing, fan-out and merging over gRPC.

Both front ends (S3 under /s3, native under /v1) call these methods and only translate
requests and answers; no storage logic lives in the front ends.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import grpc
from werkzeug.wsgi import wrap_file

from aismesh.cmn import errors, props
from aismesh.cmn.backends import Backends
from aismesh.cmn.names import Bck, check_object_name
from aismesh.cmn.ranges import ByteRange
from aismesh.cmn.rpc import ChannelPool, FailoverStub, check_health
from aismesh.protos import metadata_pb2, metadata_pb2_grpc, storage_pb2, storage_pb2_grpc, types_pb2
from services.gateway import remote
from services.gateway.guard import CONTROL_S, STALL_S, NodeGuard, Progress, Watchdog, commit_budget_s
from services.gateway.localread import LocalReader, NodeNotAnswering, OpenCache, is_local
from services.gateway.metasync import BucketEntry, MetaSync, NodeView

# Deadlines: control calls get CONTROL_S in all; data calls get STALL_S without progress
# (to the first byte and between pieces, see guard.py), never one bound for a whole object.
CONTROL_TIMEOUT_S = CONTROL_S
# The share of a worker's threads one storage node may hold waiting (see guard.NodeGuard).
MAX_INFLIGHT_SHARE = 0.5
# How long a bucket stays sealed on the nodes when the gateway that sealed it goes away.
SEAL_TTL_MS = 30_000
LIST_PAGE_MAX = 10_000
# Objects up to this size travel in one unary call each way (ReadObject / WriteObject): a
# gRPC stream cost about twice the client CPU of a unary call in a microbenchmark here.
INLINE_LIMIT = 1 << 20
# Same-host reads above this size leave by sendfile(2) from the node's file; below, one pread.
SENDFILE_MIN = 128 << 10
# Same-host writes up to this size go whole in one request (LocalRequest.write): no pipe, and
# one round trip instead of two. Must stay under cmn/localread.FIRST_READ with its header.
LOCAL_INLINE_LIMIT = 64 << 10


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

    def __init__(self, metadata_addrs: list[str], subscriber: str, threads: int = 0) -> None:
        # The WSGI server's threads per process (the gateway's __main__ exports it).
        threads = threads or int(os.environ.get("AISMESH_GATEWAY_THREADS", "8"))
        self.channels = ChannelPool()
        # Several metadata replicas (addresses or host names): one channel each, failing over.
        replicas = [metadata_pb2_grpc.MetadataStub(self.channels.get(a)) for a in metadata_addrs]
        self.metadata: metadata_pb2_grpc.MetadataStub = cast(Any, FailoverStub(replicas))
        self.meta = MetaSync(self.metadata, subscriber)
        self._stubs: dict[str, storage_pb2_grpc.StorageStub] = {}
        self._stubs_lock = threading.Lock()
        self._fanout = ThreadPoolExecutor(max_workers=16, thread_name_prefix="fanout")
        self.local = LocalReader(reopen=OpenCache())
        self.backends = Backends(channels=self.channels)
        self.watchdog = Watchdog()
        self.guard = NodeGuard(max_inflight=max(1, int(threads * MAX_INFLIGHT_SHARE)),
                               probe=lambda addr: check_health(addr, timeout=1.0))
        # The cluster's Streaming-Cold-GET feature, as the app's config holds it (see get_object).
        self.streaming_cold_get: Callable[[], bool] = lambda: False

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

    @contextlib.contextmanager
    def rpc(self, node: NodeView, progress: Progress | None = None) -> Iterator[None]:
        """One call to ``node``: admitted by the guard, its failure mapped to the mesh taxonomy;
        a call that ran out of time (or was cancelled by the watchdog) marks the node stalled."""
        with self.guard.call(node.id, node.grpc_addr):
            try:
                yield
            except grpc.RpcError as e:
                fired = progress is not None and progress.fired
                if fired or (progress is None and e.code() == grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise self.stalled(node) from None
                raise self.fail(e, node) from None

    def stalled(self, node: NodeView) -> errors.RemoteUnavailable:
        self.guard.stalled(node.id, node.grpc_addr)
        return errors.RemoteUnavailable(f"storage node t[{node.id}] did not answer within {STALL_S:g} s")

    def stream_in(self, node: NodeView, method: Any, first: Any, body: Iterable[bytes],
                  wrap: Callable[[bytes], Any], last: Any) -> Any:
        """A client-streaming call (``first``, ``wrap(chunk)`` per body chunk, then ``last``, the
        end-of-body marker the node waits for) under the watchdog. A failure of the body itself
        (the client's upload broke) is raised as is, not as the transport error it caused."""
        calls: list[Any] = []
        with self.watchdog.watch(lambda: calls[0].cancel()) as progress, self.rpc(node, progress):
            feed = _Feed(body, progress)
            calls.append(method.future(feed.requests(first, wrap, last)))
            try:
                return calls[0].result()
            except (grpc.RpcError, grpc.FutureCancelledError):
                if feed.error is not None:
                    raise feed.error from None
                if progress.fired:
                    raise self.stalled(node) from None
                raise

    def _meta_call(self, method: Any, request: Any) -> Any:
        try:
            return method(request, timeout=CONTROL_TIMEOUT_S)
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e, "metadata") from None

    # --- buckets ---------------------------------------------------------------------------

    def bucket(self, bck: Bck, access: remote.Access | None = None) -> BucketEntry:
        """The bucket's BMD entry. A remote bucket not in the BMD is confirmed through its
        adapter and added first (AIS's first access); ``access`` carries the list flags that skip
        the check or the add."""
        try:
            return self.meta.bucket(bck)
        except errors.BucketNotFound:
            if not remote.is_remote(bck) or (access is not None and access.present_only):
                raise
        return remote.first_access(self, bck, access or remote.Access())

    def bucket_now(self, bck: Bck) -> BucketEntry:
        """The bucket as the metadata service has it now, for answers that show its props: a
        change made through another gateway process (or worker) is seen at once, not when its
        BMD update reaches this one. One metadata call; data paths use ``bucket``."""
        try:
            info = self._meta_call(self.metadata.GetBucket, metadata_pb2.BckRequest(bck=bck.to_proto()))
        except errors.NotFound:
            if remote.is_remote(bck):
                return self.bucket(bck)  # not in the BMD: AIS's first access
            raise
        self._refresh_bmd(info.bmd_version)
        return self.meta.bucket(bck)

    def list_buckets(self, provider: str = "") -> list[BucketEntry]:
        bmd = self.meta.bmd
        return sorted((e for e in bmd.buckets.values() if not provider or e.bck.provider == provider),
                      key=lambda e: e.bck.uname)

    def create_bucket(self, bck: Bck, partial_props: dict[str, Any] | None = None) -> BucketEntry:
        if remote.is_remote(bck):
            return self._create_remote(bck, partial_props)
        req = metadata_pb2.CreateBucketRequest(
            bck=bck.to_proto(), props_json=json.dumps(partial_props) if partial_props else "",
        )
        info = self._meta_call(self.metadata.CreateBucket, req)
        self._refresh_bmd(info.bmd_version)
        return self.meta.bucket(bck)

    def _create_remote(self, bck: Bck, partial_props: dict[str, Any] | None) -> BucketEntry:
        """A remote bucket joins the BMD with its remote props (ht: its origin URL in
        extra.http.original_url); one that the provider does not have is created there first."""
        if bck.uname in self.meta.bmd.buckets:
            raise errors.AlreadyExists(f'bucket "{bck.display()}" already exists', bck=bck.to_proto())
        try:
            return remote.first_access(self, bck, remote.Access(), partial_props)
        except errors.BucketNotFound:
            if bck.provider == "ht":
                raise
        rb = remote.backend_pb2.RemoteBucket(bck=bck.to_proto(), extra=remote.flatten_extra(partial_props or {}))
        remote._call(self.backends, bck, "CreateBucket", remote.backend_pb2.BackendBucketRequest(bucket=rb))
        return remote.first_access(self, bck, remote.Access(), partial_props)

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
        """Remove the bucket from the BMD; the nodes drop its data when they see the new BMD.

        ``require_empty`` is one decision, not a check and then an act: every node seals the
        bucket first (no object can be committed into it from then on), and only when none of
        them holds an object does the bucket go; otherwise the seals are lifted."""
        if require_empty:
            self._seal(entry, True)
            try:
                bmd = self._meta_call(self.metadata.DestroyBucket, metadata_pb2.BckRequest(bck=entry.bck.to_proto()))
            except BaseException:
                with contextlib.suppress(errors.AisError):
                    self._seal(entry, False)
                raise
        else:
            bmd = self._meta_call(self.metadata.DestroyBucket, metadata_pb2.BckRequest(bck=entry.bck.to_proto()))
        self.meta.apply_bmd(bmd)

    def _seal(self, entry: BucketEntry, seal: bool) -> None:
        """Seal (or unseal) the bucket on every node; sealing raises BucketNotEmpty-style Conflict
        (after lifting the seals again) when any node holds an object of it."""
        req = storage_pb2.SealBucketRequest(bucket=entry.ref(), seal=seal, ttl_ms=SEAL_TTL_MS)

        def one(node_stub: tuple[NodeView, storage_pb2_grpc.StorageStub]) -> bool:
            node, stub = node_stub
            with self.rpc(node):
                resp: storage_pb2.SealBucketResponse = stub.SealBucket(req, timeout=CONTROL_TIMEOUT_S)
            return resp.has_objects

        futures = [self._fanout.submit(one, ns) for ns in self.online_nodes()]
        answers: list[bool] = []
        failure: BaseException | None = None
        for f in futures:
            try:
                answers.append(f.result())
            except BaseException as e:
                failure = failure or e
        if seal and (failure is not None or any(answers)):
            with contextlib.suppress(errors.AisError):
                self._seal(entry, False)
            if failure is not None:
                raise failure
            raise errors.Conflict(f"bucket {entry.bck.display()} is not empty", reason="bucket-not-empty",
                                  bck=entry.bck.to_proto())
        if failure is not None:
            raise failure

    # --- remote clusters ---------------------------------------------------------------------

    def remotes(self) -> metadata_pb2.RemoteList:
        resp: metadata_pb2.RemoteList = self._meta_call(self.metadata.ListRemotes, types_pb2.Empty())
        return resp

    def attach_remote(self, remote: metadata_pb2.RemoteCluster) -> metadata_pb2.RemoteList:
        """Attach (or refresh what is known of) a remote cluster; kept in etcd."""
        resp: metadata_pb2.RemoteList = self._meta_call(self.metadata.AttachRemote, remote)
        return resp

    def detach_remote(self, alias: str) -> metadata_pb2.RemoteList:
        resp: metadata_pb2.RemoteList = self._meta_call(self.metadata.DetachRemote,
                                                        metadata_pb2.DetachRemoteRequest(alias=alias))
        return resp

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
        if_absent: bool = False,
        if_match_etag: str = "",
        late_custom: Callable[[], dict[str, str]] | None = None,
    ) -> types_pb2.ObjAttrs:
        """Stream ``body`` to the owner node; the object appears whole or not at all.
        ``late_custom``, asked once the body has been read, is metadata known only then (an S3
        trailing checksum): it is stored with the object, in the same commit."""
        check_object_name(name)
        p = entry.props
        is_remote = remote.fronts_remote(entry)
        header = storage_pb2.PutHeader(
            bucket=remote.ref(entry), name=name, size=size, content_type=content_type,
            custom=custom or {}, checksum_type=props.checksum_type(p),
            versioning=props.is_versioned(p), compute_md5=compute_md5 or bool(md5_hex),
            if_absent=if_absent, if_match_etag=if_match_etag,  # S3 conditional writes: checked at commit
        )
        if md5_hex:
            header.expected.CopyFrom(types_pb2.Checksum(type="md5", value=md5_hex))

        node, stub = self.owner(entry, name)
        chunks = iter(body)
        head: list[bytes] = []
        is_whole = False
        if is_local(node) and not is_remote:  # remote buckets write through on the node
            if 0 <= size <= LOCAL_INLINE_LIMIT:
                head, is_whole = _take_up_to(chunks, LOCAL_INLINE_LIMIT)
            with self.guard.call(node.id, node.grpc_addr):
                try:
                    if is_whole:
                        if late_custom is not None:
                            header.custom.update(late_custom())
                            late_custom = None
                        return self.local.write(node, header, b"".join(head))
                    return self.local.put(node, header, _chain(head, chunks), late_custom)
                except (TimeoutError, NodeNotAnswering):
                    raise self.stalled(node) from None
                except (OSError, ConnectionError):
                    pass  # nothing reached the node: go through gRPC (with what was read: head)
        if not head and 0 <= size <= INLINE_LIMIT:
            head, is_whole = _take_up_to(chunks, INLINE_LIMIT)
        if is_whole:
            if late_custom is not None:
                header.custom.update(late_custom())
            req = storage_pb2.WriteObjectRequest(header=header, data=b"".join(head))
            # A remote bucket's node first writes through to the backend (its own deadline).
            budget = commit_budget_s(size) + (2 * STALL_S if is_remote else 0)
            with self.rpc(node):
                attrs: types_pb2.ObjAttrs = stub.WriteObject(req, timeout=budget)
            return attrs
        end: Any = storage_pb2.PutObjectRequest(eof=True)
        if late_custom is not None:  # the trailer ends the body too, carrying what came after it
            def end() -> storage_pb2.PutObjectRequest:
                return storage_pb2.PutObjectRequest(trailer=storage_pb2.PutTrailer(custom=late_custom()))
        return self.stream_in(node, stub.PutObject, storage_pb2.PutObjectRequest(header=header),
                              _chain(head, chunks), lambda c: storage_pb2.PutObjectRequest(data=c), end)

    def get_object(self, entry: BucketEntry, name: str, byte_range: ByteRange | None = None,
                   latest: bool = False) -> GetResult:
        """Start streaming the object; errors (missing, bad range) surface before any byte.
        Remote buckets always go through the owner node (cold GET, validation); ``latest``
        makes it check the remote version first."""
        check_object_name(name)
        req = storage_pb2.GetObjectRequest(bucket=remote.ref(entry), name=name)
        if byte_range is not None:
            req.range.CopyFrom(byte_range.to_proto())
        node, stub = self.owner(entry, name)
        if remote.fronts_remote(entry):
            req.remote.CopyFrom(remote.policy(entry))
            req.latest = latest
            # A warm GET that needs no validation takes the same-host fast path. A copy that is
            # not cached (NotFound there) is a cold GET: as AIStore does by default, the node
            # fetches it whole into its cache and it is served from there (sendfile, no second
            # gRPC stream); with the Streaming-Cold-GET feature, or for a range, it streams.
            if is_local(node) and not (latest or req.remote.validate_warm_get):
                with contextlib.suppress(errors.NotFound):
                    got = self._try_local(node, req)
                    if got is not None:
                        return got
                if byte_range is None and not self.streaming_cold_get():
                    got = self._cache_then_read(node, stub, req)
                    if got is not None:
                        return got
            return self._stream_get(node, stub, req, hold_last=True)
        if is_local(node):
            # A bucket that verifies every read (its props as this gateway knows them) never
            # reads from the open cache, even while the node has not seen the change yet.
            verifies = bool(entry.props.get("checksum", {}).get("validate_warm_get"))
            got = self._try_local(node, req, reuse=not verifies)
            if got is not None:
                return got
        return self._read_over_grpc(node, stub, req)

    def _cache_then_read(self, node: NodeView, stub: storage_pb2_grpc.StorageStub,
                         req: storage_pb2.GetObjectRequest) -> GetResult | None:
        """A cold GET that first has the node cache the whole object (its empty messages are
        progress for the watchdog), then reads the cached copy by the same-host fast path.
        None when that copy is not there to read (evicted at once, fast path unusable)."""
        fetch = storage_pb2.GetObjectRequest()
        fetch.CopyFrom(req)
        fetch.cache_first = True
        call = stub.GetObject(fetch)
        while self._next_piece(node, call) is not None:
            pass
        with contextlib.suppress(errors.NotFound):
            return self._try_local(node, fetch)  # cache_first: the node counts it with the cold GET
        return None

    def _read_over_grpc(self, node: NodeView, stub: storage_pb2_grpc.StorageStub,
                        req: storage_pb2.GetObjectRequest) -> GetResult:
        """A small object comes whole in one ReadObject answer; a larger one streams."""
        req.inline_limit = INLINE_LIMIT
        with self.rpc(node):
            first = stub.ReadObject(req, timeout=STALL_S)
        if first.inline:
            return GetResult(attrs=first.attrs, is_range=first.is_range, range_offset=first.range_offset,
                             range_length=first.range_length, chunks=iter((first.data,)), cancel=_no_op)
        req.inline_limit = 0
        return self._stream_get(node, stub, req)

    def _stream_get(self, node: NodeView, stub: storage_pb2_grpc.StorageStub,
                    req: storage_pb2.GetObjectRequest, hold_last: bool = False) -> GetResult:
        """``hold_last``: a remote bucket's GET may be a cold one, which the node commits into
        its cache after the last byte; holding the last piece until the stream ends means a
        client that has the whole object also finds it cached (and a copy that failed its
        checksum at commit reaches the client as a cut body, never as a whole one)."""
        name = req.name
        call = stub.GetObject(req)
        first = self._next_piece(node, call)
        if first is None:
            raise errors.Internal(f"t[{node.id}] sent an empty answer for {name}")

        def chunks() -> Iterator[bytes]:
            if not hold_last:
                if first.data:
                    yield first.data
                while (msg := self._next_piece(node, call)) is not None:
                    yield msg.data
                return
            held = first.data
            while (msg := self._next_piece(node, call)) is not None:
                if held:
                    yield held
                held = msg.data
            if held:
                yield held

        return GetResult(attrs=first.attrs, is_range=first.is_range, range_offset=first.range_offset,
                         range_length=first.range_length, chunks=chunks(), cancel=call.cancel)

    def _next_piece(self, node: NodeView, call: Any) -> Any:
        """The next message of a server stream, or None at its end; STALL_S without one cancels it."""
        with self.watchdog.watch(call.cancel) as progress, self.rpc(node, progress):
            return next(call, None)

    def _try_local(self, node: NodeView, req: storage_pb2.GetObjectRequest, reuse: bool = True) -> GetResult | None:
        """The same-host fast path, or None when it is unusable (node restarting, other
        namespace): the caller then uses gRPC. ``reuse``: the open cache may answer."""
        with self.guard.call(node.id, node.grpc_addr):
            try:
                return self._get_local(node, req, reuse)
            except TimeoutError:
                raise self.stalled(node) from None
            except (OSError, ConnectionError):
                return None

    def _get_local(self, node: NodeView, req: storage_pb2.GetObjectRequest, reuse: bool = True) -> GetResult:
        head, fd = self.local.open(node, req, reuse)
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
        with self.rpc(node):
            attrs: types_pb2.ObjAttrs = stub.HeadObject(
                storage_pb2.ObjectRequest(bucket=remote.ref(entry), name=name), timeout=CONTROL_TIMEOUT_S)
        return attrs

    def delete_object(self, entry: BucketEntry, name: str) -> None:
        check_object_name(name)
        node, stub = self.owner(entry, name)
        with self.rpc(node):
            stub.DeleteObject(storage_pb2.ObjectRequest(bucket=remote.ref(entry), name=name),
                              timeout=CONTROL_TIMEOUT_S)

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
        cached_only: bool = False,
    ) -> ListPage:
        """One sorted page merged from every node: names > start_after, at most page_size.
        A remote bucket lists through its adapter with each entry marked cached or not, unless
        ``cached_only`` asks for what this cluster holds."""
        page_size = max(1, min(page_size, LIST_PAGE_MAX))
        if remote.fronts_remote(entry) and not cached_only:
            entries, more = remote.list_remote(self, entry, prefix, start_after, page_size, delimiter)
            return ListPage(entries=entries, is_truncated=more)
        nodes = self.online_nodes()
        # One more than asked: a node may return a rolled-up prefix equal to start_after.
        req = storage_pb2.ListObjectsRequest(
            bucket=remote.ref(entry), prefix=prefix, start_after=start_after, page_size=page_size + 1,
            delimiter=delimiter, with_attrs=with_attrs,
        )

        def one(node_stub: tuple[NodeView, storage_pb2_grpc.StorageStub]) -> storage_pb2.ListObjectsResponse:
            node, stub = node_stub
            with self.rpc(node):
                resp: storage_pb2.ListObjectsResponse = stub.ListObjects(req, timeout=CONTROL_TIMEOUT_S)
            return resp

        pages = list(self._fanout.map(one, nodes))
        merged = merge_pages([p.entries for p in pages], start_after)
        truncated = any(p.is_truncated for p in pages) or len(merged) > page_size
        return ListPage(entries=merged[:page_size], is_truncated=truncated)

    # --- S3 object versions ------------------------------------------------------------------

    def set_bucket_props(self, entry: BucketEntry, partial: dict[str, Any]) -> BucketEntry:
        """Change some props; answers once every storage node acts on the new BMD (a write right
        after, e.g. after enabling versioning, is treated by the new props)."""
        req = metadata_pb2.SetBucketPropsRequest(bck=entry.bck.to_proto(), props_json=json.dumps(partial))
        info = self._meta_call(self.metadata.SetBucketProps, req)
        self._refresh_bmd(info.bmd_version)
        self.wait_nodes_bmd(info.bmd_version)
        return self.meta.bucket(entry.bck)

    def wait_nodes_bmd(self, version: int, timeout_s: float = CONTROL_TIMEOUT_S) -> None:
        """Wait (bounded) until every storage node has applied BMD ``version``."""
        deadline = time.monotonic() + timeout_s
        for node, stub in self.online_nodes():
            while True:
                with self.rpc(node):
                    info = stub.NodeInfo(types_pb2.Empty(), timeout=CONTROL_TIMEOUT_S)
                if info.bmd_version >= version:
                    break
                if time.monotonic() > deadline:
                    raise errors.RemoteUnavailable(f"storage node t[{node.id}] has not applied BMD v{version}")
                time.sleep(0.02)  # the node's watch stream delivers it within milliseconds

    def get_object_version(self, entry: BucketEntry, name: str, version_id: str,
                           byte_range: ByteRange | None = None) -> GetResult:
        """As get_object, for one S3 version of an ais bucket's object (always over gRPC)."""
        check_object_name(name)
        req = storage_pb2.GetObjectRequest(bucket=remote.ref(entry), name=name, version_id=version_id)
        if byte_range is not None:
            req.range.CopyFrom(byte_range.to_proto())
        node, stub = self.owner(entry, name)
        return self._read_over_grpc(node, stub, req)

    def head_object_version(self, entry: BucketEntry, name: str, version_id: str) -> types_pb2.ObjAttrs:
        check_object_name(name)
        node, stub = self.owner(entry, name)
        with self.rpc(node):
            attrs: types_pb2.ObjAttrs = stub.HeadObject(
                storage_pb2.ObjectRequest(bucket=remote.ref(entry), name=name, version_id=version_id),
                timeout=CONTROL_TIMEOUT_S)
        return attrs

    def delete_object_version(self, entry: BucketEntry, name: str,
                              version_id: str = "") -> storage_pb2.DeleteVersionResponse:
        """Delete one version for good, or (``version_id`` "") the latest: a delete marker on a
        bucket with S3 versioning, else the object."""
        check_object_name(name)
        node, stub = self.owner(entry, name)
        with self.rpc(node):
            resp: storage_pb2.DeleteVersionResponse = stub.DeleteVersion(
                storage_pb2.ObjectRequest(bucket=remote.ref(entry), name=name, version_id=version_id),
                timeout=CONTROL_TIMEOUT_S)
        return resp

    def list_versions(self, entry: BucketEntry, *, prefix: str = "", key_marker: str = "",
                      version_id_marker: str = "", page_size: int = 1000,
                      delimiter: str = "") -> tuple[list[storage_pb2.VersionEntry], bool]:
        """One page of every version (names ascending, each name's newest first) merged from
        every node; True when more follow."""
        page_size = max(1, min(page_size, LIST_PAGE_MAX))
        req = storage_pb2.ListVersionsRequest(bucket=remote.ref(entry), prefix=prefix, key_marker=key_marker,
                                              version_id_marker=version_id_marker, page_size=page_size,
                                              delimiter=delimiter)

        def one(node_stub: tuple[NodeView, storage_pb2_grpc.StorageStub]) -> storage_pb2.ListVersionsResponse:
            node, stub = node_stub
            with self.rpc(node):
                resp: storage_pb2.ListVersionsResponse = stub.ListVersions(req, timeout=CONTROL_TIMEOUT_S)
            return resp

        pages = list(self._fanout.map(one, self.online_nodes()))
        merged: list[storage_pb2.VersionEntry] = []
        for e in heapq.merge(*(p.entries for p in pages), key=_version_order):
            if e.attrs.is_dir and merged and merged[-1].attrs.is_dir and merged[-1].attrs.name == e.attrs.name:
                continue  # the same common prefix from several nodes
            merged.append(e)
        truncated = any(p.is_truncated for p in pages) or len(merged) > page_size
        return merged[:page_size], truncated


def _version_order(e: storage_pb2.VersionEntry) -> tuple[str, str]:
    """Names ascending, then each name's versions newest first (seq is fixed-width lowercase hex)."""
    return e.attrs.name, e.seq.translate(_INVERT_HEX)


_INVERT_HEX = str.maketrans("0123456789abcdef", "fedcba9876543210")


class _Feed:
    """The requests of a client-streaming call: the watchdog is paused while the HTTP client is
    slow to send (its pace is not the node's fault), and a failing body is kept to be re-raised."""

    def __init__(self, body: Iterable[bytes], progress: Progress) -> None:
        self.body = iter(body)
        self.progress = progress
        self.error: BaseException | None = None
        self.sent = 0

    def requests(self, first: Any, wrap: Callable[[bytes], Any], last: Any) -> Iterator[Any]:
        yield first
        while True:
            self.progress.paused = True
            try:
                chunk = next(self.body)
            except StopIteration:
                break
            except BaseException as e:
                self.error = e
                raise
            finally:
                self.progress.paused = False
                self.progress.beat()
            if chunk:
                self.sent += len(chunk)
                yield wrap(chunk)
        # The node still has to fsync and rename: give it time in proportion to the size.
        self.progress.beat(commit_budget_s(self.sent) - STALL_S)
        yield last() if callable(last) else last  # a callable: the end marker is known only now


def _chain(head: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    yield from head
    yield from rest


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
