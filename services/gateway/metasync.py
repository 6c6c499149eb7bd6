"""The gateway's view of cluster metadata: BMD and Smap kept current by watch streams.

One background thread per document subscribes to the metadata service's Watch stream and
swaps in every newer version; readers never block and never poll. A lookup that misses the
cache (a bucket created a moment ago through another gateway worker) asks the metadata
service once, so a client never sees its own fresh bucket as missing.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import grpc

from aismesh.cmn import errors, hrw
from aismesh.cmn.names import Bck
from aismesh.protos import metadata_pb2, metadata_pb2_grpc, types_pb2

log = logging.getLogger("gateway.metasync")


@dataclass(frozen=True)
class BucketEntry:
    """One bucket as the BMD has it; props are parsed once per BMD version."""

    bck: Bck
    bid: int
    props_json: str
    created_ns: int

    def ref(self) -> types_pb2.BucketRef:
        return types_pb2.BucketRef(bck=self.bck.to_proto(), bid=self.bid)

    @cached_property
    def props(self) -> dict[str, Any]:
        return json.loads(self.props_json) if self.props_json else {}


@dataclass(frozen=True)
class BMDView:
    version: int = 0
    uuid: str = ""
    buckets: dict[str, BucketEntry] = field(default_factory=dict)  # by uname
    by_name: dict[str, tuple[BucketEntry, ...]] = field(default_factory=dict)  # for S3 names


@dataclass(frozen=True)
class NodeView:
    id: str
    grpc_addr: str
    state: str
    digest: int
    local_socket: str = ""
    host_id: str = ""


@dataclass(frozen=True)
class SmapView:
    version: int = 0
    uuid: str = ""
    targets: tuple[NodeView, ...] = ()
    proxies: tuple[metadata_pb2.Node, ...] = ()

    def owner(self, uname: str) -> NodeView:
        """The storage node that owns ``uname`` (HRW over every target in the map)."""
        if not self.targets:
            raise errors.RemoteUnavailable("no storage nodes in the cluster map")
        node_id = hrw.pick(uname, [(t.id, t.digest) for t in self.targets])
        return next(t for t in self.targets if t.id == node_id)


def bucket_entry(info: metadata_pb2.BucketInfo) -> BucketEntry:
    return BucketEntry(bck=Bck.from_proto(info.bck), bid=info.bid, props_json=info.props_json,
                       created_ns=info.created_ns)


def bmd_view(msg: metadata_pb2.BMD) -> BMDView:
    entries = [bucket_entry(b) for b in msg.buckets]
    by_name: dict[str, tuple[BucketEntry, ...]] = {}
    for e in entries:
        by_name[e.bck.name] = (*by_name.get(e.bck.name, ()), e)
    return BMDView(version=msg.version, uuid=msg.uuid, buckets={e.bck.uname: e for e in entries},
                   by_name=by_name)


def smap_view(msg: metadata_pb2.Smap) -> SmapView:
    targets = tuple(
        NodeView(id=n.id, grpc_addr=n.grpc_addr, state=n.state, digest=n.id_digest or hrw.digest(n.id),
                 local_socket=n.local_socket, host_id=n.host_id)
        for n in sorted(msg.nodes, key=lambda n: n.id) if n.type == "target"
    )
    proxies = tuple(n for n in msg.nodes if n.type == "proxy")
    return SmapView(version=msg.version, uuid=msg.uuid, targets=targets, proxies=proxies)


class MetaSync:
    """Holds the latest BMD and Smap for this process, fed by two watch threads."""

    def __init__(self, stub: metadata_pb2_grpc.MetadataStub, subscriber: str) -> None:
        self.stub = stub
        self.subscriber = subscriber
        self.bmd = BMDView()
        self.smap = SmapView()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for name, watch in (("bmd", self._watch_bmd), ("smap", self._watch_smap)):
            t = threading.Thread(target=self._run, args=(name, watch), daemon=True,
                                 name=f"watch-{name}")
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()

    @property
    def is_ready(self) -> bool:
        return self.bmd.version > 0 and self.smap.version > 0

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.is_ready and time.monotonic() < deadline:
            self._ready.wait(0.05)
        return self.is_ready

    # --- lookups -------------------------------------------------------------------------

    def bucket(self, bck: Bck) -> BucketEntry:
        """The bucket's BMD entry; raises BucketNotFound (after asking the service once)."""
        entry = self.bmd.buckets.get(bck.uname)
        if entry is not None:
            return entry
        try:
            info = self.stub.GetBucket(metadata_pb2.BckRequest(bck=bck.to_proto()), timeout=10)
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e, "metadata") from None
        return bucket_entry(info)

    def apply_bmd(self, msg: metadata_pb2.BMD) -> None:
        """Adopt ``msg`` if it is newer (also used with the answers of our own writes)."""
        with self._lock:
            if msg.version > self.bmd.version:
                self.bmd = bmd_view(msg)
        self._ready.set()

    def apply_smap(self, msg: metadata_pb2.Smap) -> None:
        with self._lock:
            if msg.version > self.smap.version:
                self.smap = smap_view(msg)
        self._ready.set()

    # --- watch loops -----------------------------------------------------------------------

    def _watch_bmd(self) -> Iterator[None]:
        req = metadata_pb2.WatchRequest(after_version=self.bmd.version, subscriber=self.subscriber)
        for msg in self.stub.WatchBMD(req):
            self.apply_bmd(msg)
            yield None

    def _watch_smap(self) -> Iterator[None]:
        req = metadata_pb2.WatchRequest(after_version=self.smap.version, subscriber=self.subscriber)
        for msg in self.stub.WatchSmap(req):
            self.apply_smap(msg)
            yield None

    def _run(self, name: str, watch: Callable[[], Iterator[None]]) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                for _ in watch():
                    backoff = 0.1
                    if self._stop.is_set():
                        return
            except grpc.RpcError as e:
                log.info("watch %s interrupted: %s", name, e.code())
            except Exception:
                log.exception("watch %s failed", name)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 2.0)
