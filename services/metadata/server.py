"""The Metadata gRPC servicer: the only writer of /ais/* in etcd, and its watch streams."""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from aismesh.cmn import errors
from aismesh.cmn.log import event
from aismesh.cmn.names import Bck, normalize_provider
from aismesh.cmn.rpc import ChannelPool
from aismesh.protos import metadata_pb2, metadata_pb2_grpc, types_pb2
from services.metadata import convert, docs
from services.metadata.etcdstore import EtcdStore, Watcher
from services.metadata.hub import Hub
from services.metadata.jobs import JobsServicer  # the job registry (PutJob/GetJob/ListJobs)

log = logging.getLogger("metadata")
Doc = dict[str, Any]

BMD_KEY = "/ais/bmd"
SMAP_KEY = "/ais/smap"
CONFIG_KEY = "/ais/config"
REMOTES_KEY = "/ais/remotes"
NODES_PREFIX = "/ais/nodes/"
ELECTION_KEY = "/ais/election/metadata"
CLUSTER_KEY = "/ais/cluster"


def _partial(text: str) -> Doc:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as e:
        raise errors.InvalidArgument(f"invalid props JSON: {e}") from None
    if not isinstance(value, dict):
        raise errors.InvalidArgument("props must be a JSON object")
    return value


# A write forwarded by a replica to the primary carries this metadata key; the receiver runs it
# itself even if it has just lost the role (etcd's CAS keeps that safe), so nothing loops.
FORWARDED_KEY = "aismesh-forwarded"
# How long a replica waits for a primary to exist (an election after the old one died).
PRIMARY_WAIT_S = 15.0
FORWARD_TIMEOUT_S = 10.0


def primary_only(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A write: run it on the primary. A replica that is not primary forwards the request."""

    @functools.wraps(fn)
    def wrapper(self: MetadataServicer, request: Any, context: Any) -> Any:
        forwarded = any(k == FORWARDED_KEY for k, _ in context.invocation_metadata() or ())
        if self.is_primary or forwarded:
            return fn(self, request, context)
        return self.forward(fn.__name__, request, lambda: fn(self, request, context))

    return wrapper


def _bck(b: types_pb2.Bck) -> Bck:
    return Bck(name=b.name, provider=normalize_provider(b.provider), ns_uuid=b.ns.uuid, ns_name=b.ns.name)


class MetadataServicer(JobsServicer, metadata_pb2_grpc.MetadataServicer):
    def __init__(self, store: EtcdStore, service_id: str, advertise: str, node_ttl: int) -> None:
        self.store = store
        self.id = service_id
        self.advertise = advertise
        self.node_ttl = node_ttl
        self.bmd_hub = Hub()
        self.smap_hub = Hub()
        self.config_hub = Hub()
        self.stopping = threading.Event()
        self.is_primary = False
        self._watchers: list[Watcher] = []
        self._channels = ChannelPool()
        self.instance = uuidlib.uuid4().hex[:12]  # this process: a restarted replica is another one
        # What this start asks of the cluster config (S3 keys, S3-API-via-Root): see docs.start_config.
        self.start_config: dict[str, Any] = {}

    # --- lifecycle -------------------------------------------------------------------------

    def init_documents(self) -> None:
        """Create the cluster uuid and empty documents once; later starts find them in etcd."""
        self.store.create_if_absent(CLUSTER_KEY, {"uuid": uuidlib.uuid4().hex[:10], "created": docs.now_ns()})
        cluster, _ = self.store.read(CLUSTER_KEY)
        assert cluster is not None
        uuid = cluster["uuid"]
        for key, doc in ((BMD_KEY, docs.seal(docs.new_bmd(uuid))), (SMAP_KEY, docs.seal(docs.new_smap(uuid))),
                         (CONFIG_KEY, docs.seal(docs.new_config())), (REMOTES_KEY, docs.seal(docs.new_remotes()))):
            self.store.create_if_absent(key, doc)
        self.store.update(CONFIG_KEY, lambda d: docs.start_config(d, **self.start_config))
        for key, hub in ((BMD_KEY, self.bmd_hub), (SMAP_KEY, self.smap_hub), (CONFIG_KEY, self.config_hub)):
            current, rev = self.store.read(key)
            assert current is not None
            hub.publish(current)
            w = Watcher(self.store, key, self._doc_handler(hub), start_revision=rev + 1)
            w.start()
            self._watchers.append(w)
        threading.Thread(target=self._campaign, daemon=True, name="election").start()

    def stop(self) -> None:
        self.stopping.set()
        self._channels.close()
        for w in self._watchers:
            w.stop()
        self.bmd_hub.close()
        self.smap_hub.close()
        self.config_hub.close()

    @staticmethod
    def _doc_handler(hub: Hub) -> Callable[[Any], None]:
        def on_event(ev: Any) -> None:
            if ev.value:
                hub.publish(json.loads(ev.value))

        return on_event

    # --- primary election and node liveness ------------------------------------------------

    def _campaign(self) -> None:
        """Hold /ais/election/metadata on a lease; the holder marks nodes offline when theirs lapse."""
        ttl = 5
        while not self.stopping.is_set():
            try:
                lease = self.store.grant_lease(ttl)
                me = json.dumps({"id": self.id, "addr": self.advertise, "instance": self.instance})
                if self.store.acquire(ELECTION_KEY, me, lease):
                    self._lead(lease, ttl)
                # Lost the race or the role: the lease is no use any more (one lapsing by itself
                # per attempt would pile up in etcd while another replica leads).
                self.store.revoke_lease(lease)
            except errors.AisError as e:
                log.info("election: %s", e.message)
            except Exception:
                log.exception("election failed; campaigning again")
            self.is_primary = False
            self.stopping.wait(ttl / 3)

    def primary(self) -> dict[str, str] | None:
        """The current primary's {"id", "addr"} from etcd, or None during an election."""
        doc, _ = self.store.read(ELECTION_KEY)
        return doc

    def forward(self, method: str, request: Any, run_here: Callable[[], Any]) -> Any:
        """Send a write to the primary and return its answer; waits out an election, and follows
        the role when the primary dies before it answered (the write is then retried there:
        every write is one CAS on its document, so a retry never applies it twice)."""
        deadline = time.monotonic() + PRIMARY_WAIT_S
        while True:
            if self.is_primary:
                return run_here()
            primary = self.primary()
            if primary is not None and primary.get("id") != self.id:
                stub = metadata_pb2_grpc.MetadataStub(self._channels.get(primary["addr"]))
                try:
                    return getattr(stub, method)(request, timeout=FORWARD_TIMEOUT_S,
                                                 metadata=((FORWARDED_KEY, self.id),))
                except grpc.RpcError as e:
                    err = errors.from_rpc_error(e, f"primary metadata service {primary['id']}")
                    if not isinstance(err, errors.RemoteUnavailable):
                        raise err from None
                    log.info("primary %s did not answer %s: %s", primary["id"], method, err.message)
            if time.monotonic() > deadline:
                raise errors.RemoteUnavailable(
                    f"no primary metadata service answered within {PRIMARY_WAIT_S:.0f} s ({method})")
            self.stopping.wait(0.2)

    def _lead(self, lease: int, ttl: int) -> None:
        self.is_primary = True
        event(log, "primary", id=self.id)
        _, rev = self.store.read(SMAP_KEY)
        nodes_watch = Watcher(self.store, NODES_PREFIX, self._on_node_key, start_revision=rev + 1, prefix=True)
        nodes_watch.start()
        try:
            self._reconcile_liveness()
            while not self.stopping.wait(ttl / 3):
                if self.store.refresh_lease(lease) <= 0:
                    log.warning("lost the primary lease")
                    return
        finally:
            nodes_watch.stop()

    def _on_node_key(self, ev: Any) -> None:
        # A replayed delete may be older than the node's re-registration: trust only absence now.
        if type(ev).__name__ == "DeleteEvent" and not self.store.exists(ev.key.decode()):
            node_id = ev.key.decode()[len(NODES_PREFIX):]
            self._mark(node_id, "offline")

    def _reconcile_liveness(self) -> None:
        alive = {k[len(NODES_PREFIX):] for k in self.store.keys_with_prefix(NODES_PREFIX)}
        smap, _ = self.store.read(SMAP_KEY)
        for node_id, node in (smap or {}).get("nodes", {}).items():
            if node["state"] == "online" and node_id not in alive:
                self._mark(node_id, "offline")

    def _mark(self, node_id: str, state: str) -> None:
        try:
            smap = self.store.update(SMAP_KEY, lambda d: docs.set_node_state(d, node_id, state))
            self.smap_hub.publish(smap)
            event(log, "node state", node=node_id, state=state, smap_version=smap["version"])
        except errors.NotFound:
            pass

    # --- buckets ---------------------------------------------------------------------------

    def _config(self) -> Doc:
        doc, _ = self.store.read(CONFIG_KEY)
        return doc or docs.new_config()

    def _write_bmd(self, change: Callable[[Doc], Doc]) -> Doc:
        bmd = self.store.update(BMD_KEY, change)
        self.bmd_hub.publish(bmd)
        return bmd

    def _read_bmd(self) -> Doc:
        doc, _ = self.store.read(BMD_KEY)
        assert doc is not None
        return doc

    @errors.servicer_guard
    @primary_only
    def CreateBucket(self, request: metadata_pb2.CreateBucketRequest, context: Any) -> metadata_pb2.BucketInfo:
        bck = _bck(request.bck)
        partial = _partial(request.props_json)
        defaults = self._config().get("bucket_defaults") or {}
        try:
            bmd = self._write_bmd(lambda d: docs.create_bucket(d, bck, partial, defaults, docs.now_ns()))
        except errors.AlreadyExists:
            if not request.exist_ok:
                raise
            bmd = self._read_bmd()
        else:
            event(log, "bucket created", bucket=bck.display(), bmd_version=bmd["version"])
        return convert.bucket_info(bck.uname, bmd["buckets"][bck.uname], int(bmd["version"]))

    @errors.servicer_guard
    @primary_only
    def DestroyBucket(self, request: metadata_pb2.BckRequest, context: Any) -> metadata_pb2.BMD:
        bck = _bck(request.bck)
        bmd = self._write_bmd(lambda d: docs.destroy_bucket(d, bck))
        event(log, "bucket destroyed", bucket=bck.display(), bmd_version=bmd["version"])
        return convert.bmd(bmd)

    @errors.servicer_guard
    def GetBucket(self, request: metadata_pb2.BckRequest, context: Any) -> metadata_pb2.BucketInfo:
        bck = _bck(request.bck)
        bmd = self._read_bmd()
        entry = bmd["buckets"].get(bck.uname)
        if entry is None:
            raise docs.not_found(bck)
        return convert.bucket_info(bck.uname, entry, int(bmd["version"]))

    @errors.servicer_guard
    @primary_only
    def SetBucketProps(self, request: metadata_pb2.SetBucketPropsRequest, context: Any) -> metadata_pb2.BucketInfo:
        bck = _bck(request.bck)
        partial = _partial(request.props_json)
        defaults = self._config().get("bucket_defaults") or {}
        bmd = self._write_bmd(lambda d: docs.set_bucket_props(d, bck, partial, request.reset, defaults))
        return convert.bucket_info(bck.uname, bmd["buckets"][bck.uname], int(bmd["version"]))

    @errors.servicer_guard
    def ListBuckets(self, request: metadata_pb2.ListBucketsRequest, context: Any) -> metadata_pb2.ListBucketsResponse:
        bmd = self._read_bmd()
        provider = normalize_provider(request.provider) if request.provider else ""
        out = []
        for uname, entry in sorted(bmd["buckets"].items()):
            b = Bck.from_uname(uname)
            if provider and b.provider != provider:
                continue
            if request.HasField("ns") and (b.ns_uuid, b.ns_name) != (request.ns.uuid, request.ns.name):
                continue
            out.append(convert.bucket_info(uname, entry, int(bmd["version"])))
        return metadata_pb2.ListBucketsResponse(buckets=out, bmd_version=int(bmd["version"]))

    @errors.servicer_guard
    def GetBMD(self, request: types_pb2.Empty, context: Any) -> metadata_pb2.BMD:
        return convert.bmd(self._read_bmd())

    def _stream(self, hub: Hub, after: int, context: grpc.ServicerContext) -> Iterator[Doc]:
        version = after
        while context.is_active() and not self.stopping.is_set() and not hub.closed:
            doc = hub.wait_newer(version, timeout=1.0)
            if doc is not None:
                version = int(doc["version"])
                yield doc

    def WatchBMD(self, request: metadata_pb2.WatchRequest, context: Any) -> Iterator[metadata_pb2.BMD]:
        for doc in self._stream(self.bmd_hub, request.after_version, context):
            yield convert.bmd(doc)

    def WatchSmap(self, request: metadata_pb2.WatchRequest, context: Any) -> Iterator[metadata_pb2.Smap]:
        for doc in self._stream(self.smap_hub, request.after_version, context):
            yield convert.smap(doc)

    def WatchConfig(self, request: metadata_pb2.WatchRequest, context: Any) -> Iterator[metadata_pb2.Config]:
        for doc in self._stream(self.config_hub, request.after_version, context):
            yield metadata_pb2.Config(version=int(doc["version"]), json=docs.encode(doc))

    # --- nodes -----------------------------------------------------------------------------

    def _write_smap(self, change: Callable[[Doc], Doc]) -> Doc:
        smap = self.store.update(SMAP_KEY, change)
        self.smap_hub.publish(smap)
        return smap

    @errors.servicer_guard
    @primary_only
    def RegisterNode(
        self, request: metadata_pb2.RegisterNodeRequest, context: Any
    ) -> metadata_pb2.RegisterNodeResponse:
        node = convert.node_doc(request.node)
        key = NODES_PREFIX + node["id"]
        previous = self.store.lease_of(key)
        lease = self.store.grant_lease(self.node_ttl)
        self.store.put(key, json.dumps({"addr": node["grpc_addr"] or node["public_url"],
                                        "registered": docs.now_ns()}), lease)
        if previous and previous != lease:
            # The key is bound to the new lease now: revoking the old one leaks nothing and
            # removes nothing (a lease left alone would live on in etcd until it lapsed).
            self.store.revoke_lease(previous)
        smap = self._write_smap(lambda d: docs.upsert_node(d, node, docs.now_ns()))
        event(log, "node registered", node=node["id"], addr=node["grpc_addr"], smap_version=smap["version"])
        return metadata_pb2.RegisterNodeResponse(smap=convert.smap(smap), lease_id=lease, lease_ttl_s=self.node_ttl)

    @errors.servicer_guard
    @primary_only
    def Heartbeat(self, request: metadata_pb2.HeartbeatRequest, context: Any) -> metadata_pb2.HeartbeatResponse:
        ttl = self.store.refresh_lease(request.lease_id)
        if ttl <= 0:
            raise errors.NotFound(f'node "{request.node_id}": lease expired; register again')
        smap = self.smap_hub.latest or {}
        node = smap.get("nodes", {}).get(request.node_id)
        if node is None:
            raise errors.NotFound(f'node "{request.node_id}" is not in the cluster map; register again')
        if node["state"] == "offline":
            smap = self._write_smap(lambda d: docs.set_node_state(d, request.node_id, "online"))
        return metadata_pb2.HeartbeatResponse(smap_version=int(smap["version"]), ttl_s=ttl)

    @errors.servicer_guard
    @primary_only
    def LeaveNode(self, request: metadata_pb2.NodeRequest, context: Any) -> metadata_pb2.Smap:
        smap = self._write_smap(lambda d: docs.remove_node(d, request.node_id))
        self.store.delete(NODES_PREFIX + request.node_id)
        return convert.smap(smap)

    @errors.servicer_guard
    def GetSmap(self, request: types_pb2.Empty, context: Any) -> metadata_pb2.Smap:
        doc, _ = self.store.read(SMAP_KEY)
        assert doc is not None
        return convert.smap(doc)

    # --- remotes and config ----------------------------------------------------------------

    @errors.servicer_guard
    @primary_only
    def AttachRemote(self, request: metadata_pb2.RemoteCluster, context: Any) -> metadata_pb2.RemoteList:
        return convert.remotes(self.store.update(
            REMOTES_KEY, lambda d: docs.attach_remote(d, request.alias, request.url, request.uuid,
                                                      request.smap_json, request.seen_ns)))

    @errors.servicer_guard
    @primary_only
    def DetachRemote(self, request: metadata_pb2.DetachRemoteRequest, context: Any) -> metadata_pb2.RemoteList:
        return convert.remotes(self.store.update(REMOTES_KEY, lambda d: docs.detach_remote(d, request.alias)))

    @errors.servicer_guard
    def ListRemotes(self, request: types_pb2.Empty, context: Any) -> metadata_pb2.RemoteList:
        doc, _ = self.store.read(REMOTES_KEY)
        return convert.remotes(doc or docs.new_remotes())

    @errors.servicer_guard
    def GetConfig(self, request: types_pb2.Empty, context: Any) -> metadata_pb2.Config:
        doc = self._config()
        return metadata_pb2.Config(version=int(doc["version"]), json=docs.encode(doc))

    @errors.servicer_guard
    @primary_only
    def SetConfig(self, request: metadata_pb2.SetConfigRequest, context: Any) -> metadata_pb2.Config:
        partial = _partial(request.json)
        doc = self.store.update(CONFIG_KEY, lambda d: docs.set_config(d, partial))
        self.config_hub.publish(doc)
        return metadata_pb2.Config(version=int(doc["version"]), json=docs.encode(doc))
