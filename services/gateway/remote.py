"""Remote buckets at the gateway: first access (confirm through the adapter, add to the BMD
atomically, then serve), listing through the adapter with cached marks, evict and prefetch.

Three kinds of bucket reach a backend: cloud buckets (``s3://b``), buckets of an attached AIS
cluster (``ais://@remais/b``, also ``s3://@remais/b``: the remote cluster reaches the cloud),
and a local ``ais://`` bucket whose ``backend_bck`` names one of those (it fronts that bucket,
its cache lives under the local name). ``backend_of`` says which bucket the adapter is asked
about; ``Bck.adapter`` says which adapter.

The storage nodes do the object work (cold GET, write-through); this module only decides
which calls to make. Every adapter call has a deadline (aismesh.cmn.backends.CONTROL_S).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

from aismesh.cmn import errors, props
from aismesh.cmn.backends import CONTROL_S, Backends, adapter_error, flatten_extra, props_from_remote
from aismesh.cmn.names import Bck, identity_error
from aismesh.protos import backend_pb2, metadata_pb2, storage_pb2, types_pb2
from services.gateway.metasync import BucketEntry

if TYPE_CHECKING:
    from services.gateway.cluster import Cluster

# The most cached names one listing page looks up per node to mark entries cached.
CACHED_LOOKUP_MAX = 10_000


@dataclass(frozen=True)
class Access:
    """AIS's list flags for a remote bucket not in the BMD: skip the remote check, skip the add."""

    head_remote: bool = True
    add_to_bmd: bool = True
    present_only: bool = False  # LsBckPresent: a bucket not in the BMD is not found


# AIS's list-objects flags (apc.LsoMsg) that decide a first access.
LS_BCK_PRESENT = 1 << 6
LS_DONT_HEAD_REMOTE = 1 << 7
LS_DONT_ADD_REMOTE = 1 << 8


def list_access(flags: int) -> Access:
    """The first-access behaviour a list-objects request's flags ask for."""
    if flags & LS_BCK_PRESENT:
        return Access(head_remote=False, add_to_bmd=False, present_only=True)
    return Access(head_remote=not flags & LS_DONT_HEAD_REMOTE, add_to_bmd=not flags & LS_DONT_ADD_REMOTE)


# BucketRef.extra key: the uname of the bucket a local bucket fronts (its backend_bck).
BACKEND_BCK_KEY = "backend_bck"


def is_remote(bck: Bck) -> bool:
    return bck.is_remote


def backend_bck(props_doc: dict[str, Any]) -> Bck | None:
    """The bucket a local bucket's ``backend_bck`` names, or None."""
    b = props_doc.get("backend_bck") or {}
    if not b.get("name") or not b.get("provider"):
        return None
    ns = b.get("namespace") or {}
    return Bck(name=b["name"], provider=b["provider"], ns_uuid=ns.get("uuid") or "", ns_name=ns.get("name") or "")


def backend_of(entry: BucketEntry) -> Bck | None:
    """The bucket the adapter is asked about for ``entry``: itself when remote, its backend_bck
    when it fronts one, else None (an ais:// bucket of this cluster)."""
    if entry.bck.is_remote:
        return entry.bck
    return backend_bck(entry.props)


def fronts_remote(entry: BucketEntry) -> bool:
    """Whether objects of ``entry`` are read from (and written through to) a backend."""
    return backend_of(entry) is not None


def ref(entry: BucketEntry) -> types_pb2.BucketRef:
    """The bucket as nodes see it; remote buckets carry their backend settings, a bucket with a
    backend_bck also the backend's uname (the node caches under the local bucket)."""
    r = entry.ref()
    backend = backend_of(entry)
    if backend is not None:
        r.extra.update(flatten_extra(entry.props))
        if backend != entry.bck:
            r.extra[BACKEND_BCK_KEY] = backend.uname
    return r


def policy(entry: BucketEntry) -> storage_pb2.RemotePolicy:
    p = entry.props
    return storage_pb2.RemotePolicy(
        validate_cold_get=bool(p.get("checksum", {}).get("validate_cold_get", False)),
        validate_warm_get=bool(p.get("versioning", {}).get("validate_warm_get", False)),
        synchronize=bool(p.get("versioning", {}).get("synchronize", False)),
        checksum_type=props.checksum_type(p),
    )


def remote_bucket(entry: BucketEntry) -> backend_pb2.RemoteBucket:
    backend = backend_of(entry) or entry.bck
    return backend_pb2.RemoteBucket(bck=backend.to_proto(), extra=flatten_extra(entry.props))


def _call(backends: Backends, bck: Bck, method: str, request: Any) -> Any:
    try:
        return getattr(backends.stub(bck.adapter), method)(request, timeout=CONTROL_S)
    except grpc.RpcError as e:
        raise adapter_error(e, bck) from None


# --- remote AIS clusters -------------------------------------------------------------------


# The attachments as last read by this process: re-read when older than this, and on a miss.
ATTACHED_TTL_S = 1.0
_attached: dict[int, tuple[float, list[metadata_pb2.RemoteCluster]]] = {}


def _find(attached: list[metadata_pb2.RemoteCluster], key: str) -> metadata_pb2.RemoteCluster | None:
    return next((r for r in attached if r.alias == key), None) or next(
        (r for r in attached if r.uuid and r.uuid == key), None)


def attachment(c: Cluster, key: str) -> metadata_pb2.RemoteCluster:
    """The attached cluster ``key`` (alias or UUID) names; NotFound when none does."""
    at, attached = _attached.get(id(c), (0.0, []))
    found = _find(attached, key) if time.monotonic() - at < ATTACHED_TTL_S else None
    if found is None:
        attached = list(c.remotes().remotes)
        _attached[id(c)] = (time.monotonic(), attached)
        found = _find(attached, key)
    if found is None:
        raise errors.NotFound(f'remote cluster "{key}" is not attached (attach it with '
                              f'"ais cluster remote-attach {key}=URL")', reason="remote-cluster")
    return found


def canonical(c: Cluster, bck: Bck) -> Bck:
    """A remote cluster's bucket named by UUID is the same bucket as by alias: one BMD entry
    (and one cache), keyed by the alias users attach with."""
    if not bck.ns_uuid:
        return bck
    a = attachment(c, bck.ns_uuid)
    return Bck(name=bck.name, provider=bck.provider, ns_uuid=a.alias, ns_name=bck.ns_name)


def remote_cluster_headers(c: Cluster, entry: BucketEntry) -> dict[str, str]:
    """HEAD of a remote cluster's bucket: which cluster it is (AIS adds these to the props)."""
    if not entry.bck.ns_uuid:
        return {}
    try:
        a = attachment(c, entry.bck.ns_uuid)
    except errors.NotFound:
        return {}  # detached since: the bucket's props still answer
    return {"Ais-Remote-Ais-Uuid": a.uuid, "Ais-Remote-Ais-Alias": a.alias, "Ais-Remote-Ais-Url": a.url}


def list_remote_buckets(c: Cluster, provider: str, ns_uuid: str) -> list[Bck]:
    """The buckets of one attached cluster (``ns_uuid`` its alias or UUID), or of every one that
    answers now (``ns_uuid`` "@" or "")."""
    if ns_uuid not in ("", "@"):
        ns_uuid = attachment(c, ns_uuid).alias
    key = Bck(name="", provider="ais", ns_uuid=ns_uuid or "@")
    resp = _call(c.backends, key, "ListBuckets", backend_pb2.BackendListBucketsRequest(
        provider=provider or "ais", ns=types_pb2.Namespace(uuid=ns_uuid)))
    return sorted((Bck.from_proto(b) for b in resp.buckets), key=lambda b: b.uname)


def check_backend_bck(c: Cluster, partial: dict[str, Any]) -> None:
    """A set-bprops that names a backend_bck: the backend must exist and answer (AIS checks it
    too), so a typo is an error now rather than on every later read."""
    section = partial.get("backend_bck")
    if not isinstance(section, dict):
        return
    problem = props.backend_bck_error(section)
    if problem:
        raise errors.InvalidArgument(problem)
    backend = backend_bck(partial)
    if backend is None:
        return  # backend_bck=none: disconnect
    problem = identity_error(backend)
    if problem:
        raise errors.InvalidArgument(f"invalid backend_bck: {problem}")
    _call(c.backends, backend, "HeadBucket", backend_pb2.BackendBucketRequest(
        bucket=backend_pb2.RemoteBucket(bck=backend.to_proto())))


def list_provider_buckets(c: Cluster, provider: str) -> list[Bck]:
    """Every bucket the cloud provider's adapter can see with its default credentials."""
    key = Bck(name="", provider=provider)
    resp = _call(c.backends, key, "ListBuckets", backend_pb2.BackendListBucketsRequest(provider=provider))
    return sorted((Bck.from_proto(b) for b in resp.buckets), key=lambda b: b.uname)


def destroy_remote(c: Cluster, entry: BucketEntry) -> None:
    """Destroy a remote cluster's bucket there (its BMD entry and cache here go next)."""
    _call(c.backends, entry.bck, "DestroyBucket", backend_pb2.BackendBucketRequest(bucket=remote_bucket(entry)))


def first_access(c: Cluster, bck: Bck, access: Access = Access(), partial: dict[str, Any] | None = None
                 ) -> BucketEntry:
    """A remote bucket that is not in the BMD: confirm it through its adapter, add it to the BMD
    (one etcd transaction; a concurrent first access finds it there), then hand it back.
    ``partial`` props (e.g. extra.http.original_url, extra.aws.endpoint) go into the check and
    the BMD entry. Without add_to_bmd the answer is a transient entry (bid 0) good for listing."""
    problem = identity_error(bck)  # before any adapter sees the name
    if problem:
        raise errors.InvalidArgument(problem, bck=bck.to_proto())
    if bck.ns_uuid:
        named = bck
        bck = canonical(c, bck)
        if bck != named:
            with contextlib.suppress(errors.BucketNotFound):
                return c.meta.bucket(bck)
    given = partial or {}
    extra = flatten_extra(given)
    remote: dict[str, Any] = {}
    if access.head_remote:
        resp = _call(c.backends, bck, "HeadBucket", backend_pb2.BackendBucketRequest(
            bucket=backend_pb2.RemoteBucket(bck=bck.to_proto(), extra=extra)))
        remote = props_from_remote(dict(resp.props))
    doc = props.merge(remote, given, allow_read_only=False) if given else remote
    if not access.add_to_bmd:
        full = props.merge(props.default_props(bck.provider), doc, allow_read_only=True)
        return BucketEntry(bck=bck, bid=0, props_json=json.dumps(full), created_ns=0)
    req = metadata_pb2.CreateBucketRequest(bck=bck.to_proto(), props_json=json.dumps(doc) if doc else "",
                                           exist_ok=True)
    info = c._meta_call(c.metadata.CreateBucket, req)
    c._refresh_bmd(info.bmd_version)
    return c.meta.bucket(bck)


def _remote_entry(a: backend_pb2.BackendObjAttrs) -> types_pb2.ObjAttrs:
    return types_pb2.ObjAttrs(name=a.name, size=max(a.size, 0), etag=a.etag, version=a.version, mtime_ns=a.mtime_ns,
                              is_dir=a.is_dir, remote_etag=a.etag, remote_version=a.version,
                              remote_mtime_ns=a.mtime_ns, content_type=a.content_type)


def list_remote(c: Cluster, entry: BucketEntry, prefix: str, start_after: str, page_size: int, delimiter: str
                ) -> tuple[list[types_pb2.ObjAttrs], bool]:
    """One page of the remote's listing, each entry marked cached or not."""
    resp = _call(c.backends, backend_of(entry) or entry.bck, "ListObjects", backend_pb2.BackendListObjectsRequest(
        bucket=remote_bucket(entry), prefix=prefix, start_after=start_after, page_size=page_size,
        delimiter=delimiter))
    out = [_remote_entry(a) for a in resp.entries if not start_after or a.name > start_after]
    files = [e for e in out if not e.is_dir]
    if files and entry.bid:
        cached = _cached_names(c, entry, prefix, start_after, files[-1].name)
        for e in files:
            e.is_cached = e.name in cached
    return out, bool(resp.next_token)


def _cached_names(c: Cluster, entry: BucketEntry, prefix: str, start_after: str, last: str) -> set[str]:
    """Names this cluster holds in (start_after, last], from every node."""
    req = storage_pb2.ListObjectsRequest(bucket=ref(entry), prefix=prefix, start_after=start_after,
                                         page_size=CACHED_LOOKUP_MAX, with_attrs=False)

    def one(node_stub: Any) -> list[str]:
        node, stub = node_stub
        with c.rpc(node):
            resp = stub.ListObjects(req, timeout=CONTROL_S)
        return [e.name for e in resp.entries if e.name <= last]

    names: set[str] = set()
    for part in c._fanout.map(one, c.online_nodes()):
        names.update(part)
    return names


def list_cached(c: Cluster, entry: BucketEntry, prefix: str) -> Iterable[str]:
    """Every cached name under ``prefix`` (paged through the nodes)."""
    after = ""
    while True:
        page = c.list_objects(entry, prefix=prefix, start_after=after, page_size=1000, with_attrs=False,
                              cached_only=True)
        for e in page.entries:
            yield e.name
        if not page.is_truncated or not page.entries:
            return
        after = page.entries[-1].name


def list_all_remote(c: Cluster, entry: BucketEntry, prefix: str) -> Iterable[str]:
    token = ""
    while True:
        resp = _call(c.backends, backend_of(entry) or entry.bck, "ListObjects", backend_pb2.BackendListObjectsRequest(
            bucket=remote_bucket(entry), prefix=prefix, continuation_token=token, page_size=1000))
        for a in resp.entries:
            if not a.is_dir:
                yield a.name
        token = resp.next_token
        if not token:
            return


def evict_objects(c: Cluster, entry: BucketEntry, names: Iterable[str]) -> int:
    """Drop the cached copies (the remote keeps its objects); answers how many were dropped."""
    def one(name: str) -> int:
        node, stub = c.owner(entry, name)
        try:
            with c.rpc(node):
                stub.EvictObject(storage_pb2.ObjectRequest(bucket=ref(entry), name=name), timeout=CONTROL_S)
        except errors.NotFound:
            return 0
        return 1

    return sum(c._fanout.map(one, list(names)))


def evict_bucket(c: Cluster, entry: BucketEntry, keep_md: bool) -> None:
    """Drop every cached object of the bucket; without keep_md its BMD entry goes too."""
    req = storage_pb2.BucketRequest(bucket=ref(entry))

    def one(node_stub: Any) -> None:
        node, stub = node_stub
        with c.rpc(node):
            stub.EvictBucket(req, timeout=CONTROL_S)

    list(c._fanout.map(one, c.online_nodes()))
    if not keep_md:
        c.destroy_bucket(entry)


def prefetch(c: Cluster, entry: BucketEntry, names: Iterable[str], latest: bool = False) -> int:
    """Make the objects cached (each by its owner node, in parallel); answers how many."""
    pol = policy(entry)

    def one(name: str) -> int:
        node, stub = c.owner(entry, name)
        with c.rpc(node):
            stub.PrefetchObject(storage_pb2.GetObjectRequest(bucket=ref(entry), name=name, remote=pol, latest=latest),
                                timeout=CONTROL_S + 600)
        return 1

    return sum(c._fanout.map(one, list(names)))
