"""AIS native API: objects (/v1/objects/<bucket>/<name>): PUT, GET (ranges), HEAD, DELETE; copy and
custom metadata (PATCH) in object_ops."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from flask import Blueprint, Response, request
from werkzeug.http import http_date

from aismesh.cmn import errors
from aismesh.cmn.ranges import parse_range
from aismesh.protos import types_pb2
from services.gateway import body
from services.gateway.native import errors as nerr
from services.gateway.native import object_mpt, object_ops, promote
from services.gateway.native.common import bck_from_query, cluster, flag

bp = Blueprint("native_objects", __name__)
PREFIX = "/v1/objects/"
HEAD_PROPS = {"name", "size", "checksum", "atime", "version", "custom", "location", "copies", "ec",
              "chunked", "last-modified", "etag"}


def _bucket_and_name() -> tuple[str, str]:
    """Percent-decode the raw path once: everything after the bucket segment is the name."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path
    try:
        path = unquote_to_bytes(raw.split("?", 1)[0]).decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        raise errors.InvalidArgument(f"invalid object name: the request path is not valid UTF-8 ({e.reason} "
                                     f"at byte {e.start} of the decoded path)") from None
    rest = path[len(PREFIX):] if path.startswith(PREFIX) else ""
    bucket, _, name = rest.partition("/")
    return bucket, name


def attr_headers(a: types_pb2.ObjAttrs, props: set[str] | None = None) -> dict[str, str]:
    """AIS object attribute headers; ``props`` None means all of them (GET)."""
    want = HEAD_PROPS if props is None else props
    h: dict[str, str] = {"Ais-Present": "true" if a.is_cached else "false"}  # a remote object not cached: false
    if "checksum" in want and a.checksum.type:
        h["Ais-Checksum-Type"] = a.checksum.type
        h["Ais-Checksum-Value"] = a.checksum.value
    if "atime" in want:
        h["Ais-Atime"] = str(a.atime_ns or a.mtime_ns)
    if "version" in want and a.version:
        h["Ais-Version"] = a.version
    if "custom" in want and a.custom:
        h["Ais-Custom-Md"] = ",".join(f"{k}={v}" for k, v in sorted(a.custom.items()))
    if "location" in want and a.location:
        h["Ais-Location"] = a.location
    if "last-modified" in want or props is None:
        h["Last-Modified"] = http_date((a.mtime_ns or a.atime_ns) // 1_000_000_000)
    if ("etag" in want or props is None) and (a.etag or a.checksum.value):
        h["ETag"] = f'"{a.etag or a.checksum.value}"'
    return h


@bp.route("/v1/objects/<path:_rest>", methods=["GET", "PUT", "HEAD", "DELETE", "PATCH", "POST"])
def obj(_rest: str) -> Response:
    bucket, name = _bucket_and_name()
    if not name and request.method == "POST":
        return promote.bucket_action(bucket)
    if not name:
        raise errors.InvalidArgument(f'object name is missing in "{request.path}"')
    c = cluster()
    entry = c.bucket(bck_from_query(bucket))
    m = request.method
    if m == "POST":
        return object_mpt.start(entry, name)
    if request.args.get("uploadId"):
        if m == "PUT":
            return object_mpt.put_part(entry, name)
        if m == "DELETE":
            return object_mpt.abort(entry, name)
    if m == "PUT" and request.args.get("object_to"):
        return object_ops.copy_object(entry, name, request.args["object_to"])
    if m == "PATCH":
        return object_ops.set_custom(entry, name)
    if m == "PUT" and "archpath" in request.args:
        return object_ops.put_apnd_arch(entry, name)
    if m == "PUT" and request.args.get("append_type"):
        return object_ops.append(entry, name, request.args["append_type"])
    if m == "PUT":
        chunks, length = body.request_body(request.environ)
        # Every SDK request says Content-Type: application/json, object PUTs included: not ours to keep.
        attrs = c.put_object(entry, name, chunks, size=length)
        return Response(b"", status=200, headers=attr_headers(attrs))
    if m == "DELETE":
        c.delete_object(entry, name)
        return Response(b"", status=200)
    if m == "HEAD":
        props = {p.strip() for p in request.args.get("props", "").split(",") if p.strip()}
        bad = sorted(props - HEAD_PROPS)
        if bad:
            raise errors.InvalidArgument(f'invalid property "{bad[0]}" in props list')
        attrs = c.head_object(entry, name)
        # No props list (the 1.x SDK, the v1 HEAD): every attribute, as AIStore answers it.
        resp = Response(b"", status=200, headers=attr_headers(attrs, props if "props" in request.args else None))
        resp.headers["Content-Length"] = str(attrs.size)
        return resp
    if request.args.get("archpath") or request.args.get("archregx"):
        return object_ops.get_from_archive(entry, name)
    rng = parse_range(request.headers.get("Range", ""))
    try:
        result = c.get_object(entry, name, rng, latest=flag("latest-ver"))  # remote buckets: check the remote first
    except errors.RangeNotSatisfiable as e:
        resp = nerr.response(416, e.message)
        resp.headers["Content-Range"] = f"bytes */{e.object_size}"
        return resp
    headers = attr_headers(result.attrs)
    headers["Content-Type"] = "application/octet-stream"
    status, length = 200, result.attrs.size
    if result.is_range:
        status, length = 206, result.range_length
        end = result.range_offset + result.range_length - 1
        headers["Content-Range"] = f"bytes {result.range_offset}-{end}/{result.attrs.size}"
        headers["Accept-Ranges"] = "bytes"
    headers["Content-Length"] = str(length)
    resp = Response(result.wsgi_body(request.environ), status=status, headers=headers,
                    direct_passthrough=True)
    resp.call_on_close(result.cancel)
    return resp
