"""AIS native API: buckets (/v1/buckets): list, create, destroy, head, list objects."""

from __future__ import annotations

import json
import time
import uuid as uuidlib
from typing import Any

import msgpack
from flask import Blueprint, Response, request

from aismesh.cmn import errors
from aismesh.cmn.names import Bck, ais_bucket_name_error, normalize_provider, parse_namespace
from aismesh.cmn.ranges import MAX_INT64
from aismesh.protos import types_pb2
from services.gateway import remote
from services.gateway.native import archive, bucket_ops
from services.gateway.native import errors as nerr
from services.gateway.native.common import action_msg, bck_from_query, cluster, flag, int_field, msg_value, str_field

bp = Blueprint("native_buckets", __name__)
METHODS = ["GET", "POST", "DELETE", "HEAD", "PATCH", "PUT"]
DEFAULT_PAGE = 10_000

# Listing entry flags (LsoEnt.Flags): bit 6 = present in the cluster.
ENTRY_IS_CACHED = 1 << 6
ENTRY_IS_DIR = 1 << 8
FLAG_CACHED = 1 << 0
FLAG_ARCH_DIR = 1 << 3
FLAG_NAME_ONLY = 1 << 4
FLAG_NAME_SIZE = 1 << 5
FLAG_NOT_CACHED = 1 << 9
FLAG_NO_RECURSION = 1 << 11
FLAG_DIFF = 1 << 12
FLAG_NO_DIRS = 1 << 13
_LSO = "list-objects message"


@bp.route("/v1/buckets", methods=METHODS, strict_slashes=False)
def buckets_root() -> Response:
    action = str_field(action_msg(), "action", "ActMsg")
    if request.method == "GET" and action in ("list", ""):
        provider = request.args.get("provider", "")
        provider = normalize_provider(provider) if provider else ""
        ns_uuid, _ = parse_namespace(request.args.get("namespace", ""))
        if ns_uuid:  # @@# (any remote cluster) or @alias#: ask the remote clusters
            bcks = remote.list_remote_buckets(cluster(), provider, ns_uuid)
        else:
            bcks = [e.bck for e in cluster().list_buckets(provider)]
            bcks = _with_outside(provider, request.args.get("presence", ""), bcks)
        out = [{"name": b.name, "provider": b.provider, "namespace": {"uuid": b.ns_uuid, "name": b.ns_name}}
               for b in bcks]
        return Response(json.dumps(out), content_type="application/json")
    # /v1/buckets/ with an action: the bucket name is empty.
    if action == "create-bck":
        return nerr.response(400, "bucket name is empty")
    return nerr.response(400, f'invalid request: {request.method} /v1/buckets with action "{action}"')


# AIStore's presence filter (apc.Flt*): 0 exists (in the cluster or only at the backend),
# 1 present (in the BMD: the default), 4 exists outside (at the backend, not in the BMD).
_FLT_EXISTS, _FLT_PRESENT, _FLT_OUTSIDE = "0", "1", "4"


def _with_outside(provider: str, presence: str, present: list[Bck]) -> list[Bck]:
    """The cloud provider's own buckets join the listing when the presence filter asks for
    buckets outside the cluster (``ais ls s3: --all``): the adapter lists the account."""
    if presence in ("", _FLT_PRESENT, "2", "3"):
        return present
    if presence not in (_FLT_EXISTS, _FLT_OUTSIDE):
        raise errors.InvalidArgument(f'invalid presence filter "{presence}": expected 0 (exists), '
                                     "1 (present) or 4 (exists outside the cluster)")
    if not provider or provider == "ais":
        raise errors.InvalidArgument("listing buckets outside the cluster needs a cloud provider "
                                     "(e.g. provider=aws)")
    listed = remote.list_provider_buckets(cluster(), provider)
    names = {b.name for b in present}
    outside = [b for b in listed if b.name not in names]
    return outside if presence == _FLT_OUTSIDE else sorted([*present, *outside], key=lambda b: b.uname)


@bp.route("/v1/buckets/<path:name>", methods=METHODS)
def bucket(name: str) -> Response:
    msg = action_msg()
    action = str_field(msg, "action", "ActMsg")
    m = request.method
    if "/" in name:
        if m == "HEAD" and flag("bsumm_remote"):
            # info(prefix=...) sends /v1/buckets/<b>/<prefix>
            name, _, prefix = name.partition("/")
            return bucket_ops.head(cluster().bucket_now(bck_from_query(name)), prefix)
        return nerr.response(400, f'invalid bucket name "{name}": unexpected path segments')
    bck = bck_from_query(name)
    c = cluster()
    if m == "POST" and action == "create-bck":
        if bck.provider == "ais" and not bck.ns_uuid:
            problem = ais_bucket_name_error(name)
            if problem:
                return nerr.response(400, problem)
        value = msg_value(msg, "create-bck message")
        c.create_bucket(bck, value or None)
        return Response(b"", status=200)
    # A remote bucket not in the BMD is added on first access; list flags may skip that.
    access = None
    if m == "GET" and action in ("list", "") and bck.is_remote:
        access = remote.list_access(int_field(msg_value(msg, _LSO), "flags", _LSO, quoted=True))
    # HEAD shows props: as they are now, whichever gateway process changed them
    entry = c.bucket_now(bck) if m == "HEAD" else c.bucket(bck, access)
    if m == "DELETE" and action in ("destroy-bck", ""):
        if entry.bck.ns_uuid:  # a remote cluster's bucket: destroyed there, then forgotten here
            remote.destroy_remote(c, entry)
        c.destroy_bucket(entry)
        return Response(b"", status=200)
    if m == "HEAD":
        return bucket_ops.head(entry, "")
    if m == "GET" and action in ("list", ""):
        return list_objects(entry, msg_value(msg, _LSO))
    handler = bucket_ops.ACTIONS.get((m, action))
    if handler is not None:
        return handler(entry, msg)
    raise errors.InvalidArgument(f'{m} {bck.display()} with action "{action}" is not supported by aismesh yet')


ENTRY_IN_ARCH = 1 << 7
ENTRY_IS_ARCHIVE = 1 << 9


def _with_archived_files(entry: Any, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ARCH_DIR: each tar/tgz/zip object followed by its files (``<object>/<file>``, flag InArch)."""
    out: list[dict[str, Any]] = []
    for e in entries:
        out.append(e)
        fmt = archive.format_of(e["n"])
        if not fmt or e["f"] & ENTRY_IS_DIR:
            continue
        try:
            with archive.spool(cluster(), entry, e["n"]) as f:
                files = archive.members(f, fmt)
        except errors.InvalidArgument:
            continue  # named like an archive but not one: listed as a plain object
        e["f"] |= ENTRY_IS_ARCHIVE
        out.extend({"n": f"{e['n']}/{m.name}", "s": m.size, "f": ENTRY_IS_CACHED | ENTRY_IN_ARCH} for m in files)
    return out


def _atime(ns: int) -> str:
    # Go's RFC822 layout, AIS's default time format in listings.
    return time.strftime("%d %b %y %H:%M UTC", time.gmtime(ns // 1_000_000_000)) if ns else ""


def _entry(e: types_pb2.ObjAttrs, props: set[str], name_only: bool) -> dict[str, Any]:
    # Remote buckets list through their adapter: only what this cluster holds is "cached".
    cached = ENTRY_IS_CACHED if e.is_cached or e.is_dir else 0
    out: dict[str, Any] = {"n": e.name, "f": cached | (ENTRY_IS_DIR if e.is_dir else 0)}
    if name_only:
        return out
    out["s"] = e.size
    if "checksum" in props and e.checksum.value:
        out["cs"] = e.checksum.value
    if "atime" in props:
        out["a"] = _atime(e.atime_ns or e.mtime_ns)
    if "version" in props and e.version:
        out["v"] = e.version
    if "location" in props and e.location:
        out["t"] = e.location
    if "custom" in props and e.custom:
        out["m"] = ",".join(f"{k}={v}" for k, v in sorted(e.custom.items()))
    return out


def list_objects(entry: Any, value: dict[str, Any]) -> Response:
    """One page (LsoMsg in, LsoRes out): msgpack for the SDK, JSON for anyone else."""
    flags = int_field(value, "flags", _LSO, quoted=True)
    page_size = int_field(value, "pagesize", _LSO, hi=MAX_INT64) or DEFAULT_PAGE
    props = {p.strip() for p in str_field(value, "props", _LSO).split(",") if p.strip()}
    name_only = bool(flags & FLAG_NAME_ONLY) or props == {"name"}
    if flags & FLAG_NAME_SIZE or props == {"name", "size"}:
        props = {"name", "size"}
    if flags & FLAG_DIFF and not entry.bck.is_remote:
        raise errors.InvalidArgument(f"invalid list-objects flags: DIFF compares with a remote backend; "
                                     f"{entry.bck.display()} is an ais:// bucket")
    if flags & FLAG_NOT_CACHED and not entry.bck.is_remote:
        raise errors.InvalidArgument(f"invalid list-objects flags: {entry.bck.display()} is an ais:// bucket, "
                                     "every object is present (NOT_CACHED applies to remote buckets)")
    after = str_field(value, "continuation_token", _LSO) or str_field(value, "start_after", _LSO)
    page = cluster().list_objects(entry, prefix=str_field(value, "prefix", _LSO), start_after=after,
                                  page_size=page_size, with_attrs=not name_only,
                                  delimiter="/" if flags & FLAG_NO_RECURSION else "",
                                  cached_only=bool(flags & FLAG_CACHED))
    listed = [e for e in page.entries if not (e.is_dir and flags & FLAG_NO_DIRS)
              and not (flags & FLAG_NOT_CACHED and e.is_cached)]
    entries = [_entry(e, props, name_only) for e in listed]
    if flags & FLAG_ARCH_DIR:
        entries = _with_archived_files(entry, entries)
    next_token = page.entries[-1].name if page.is_truncated and page.entries else ""
    res = {"UUID": str_field(value, "uuid", _LSO) or uuidlib.uuid4().hex[:10], "ContinuationToken": next_token,
           "Entries": entries, "Flags": 0}
    if "application/msgpack" in request.headers.get("Accept", ""):
        return Response(msgpack.packb(res, use_bin_type=True), content_type="application/msgpack")
    long_names = {"n": "name", "s": "size", "cs": "checksum", "a": "atime", "v": "version",
                  "t": "location", "m": "custom-md", "f": "flags"}
    doc = {"uuid": res["UUID"], "continuation_token": next_token, "flags": 0,
           "entries": [{long_names[k]: v for k, v in e.items()} for e in entries]}
    return Response(json.dumps(doc), content_type="application/json")
