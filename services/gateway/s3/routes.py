"""The S3 front end under /s3: path-style requests parsed, answered through the Cluster layer.

Handlers per resource: service (ListBuckets), bucket (create/delete/head/list, versioning,
location, multi-delete) and object (put/get/head/delete). Every error leaves as S3 XML.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Blueprint, Response, current_app, g, request
from werkzeug.wrappers import Request

from aismesh.cmn import errors
from aismesh.cmn.names import Bck, s3_bucket_name_error
from aismesh.cmn.ranges import parse_range
from aismesh.protos import types_pb2
from services.gateway import body
from services.gateway.cluster import Cluster, GetResult
from services.gateway.metasync import BucketEntry
from services.gateway.s3 import auth, checksums, chunked, conditions, copy, headers, multipart, params, versions, xml
from services.gateway.s3.errors import S3Error, from_ais, render
from services.gateway.s3.tokens import decode_token, encode_token

bp = Blueprint("s3", __name__)
METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD"]
PREFIX = "/s3"
MAX_KEYS = 1000
# The request's id in its WSGI environ (set by whichever path serves it: app.py or hot.py).
REQUEST_ID = "aismesh.request_id"
MAX_BUCKETS = 10_000
# Sub-resources S3 clients may ask for that we do not serve (yet): answered 501, never ignored.
_UNSUPPORTED = (
    "acl", "policy", "cors", "lifecycle", "tagging", "website", "logging", "replication",
    "encryption", "notification", "object-lock", "retention", "legal-hold", "torrent", "restore",
    "select", "accelerate", "analytics", "inventory", "metrics", "ownershipControls",
    "publicAccessBlock", "requestPayment", "intelligent-tiering", "attributes",
)


def cluster() -> Cluster:
    c: Cluster = current_app.extensions["aismesh.cluster"]
    return c


def split_path(environ: dict[str, Any]) -> tuple[str, str]:
    """(bucket, key) from the raw request path, percent-decoded once, slashes kept as sent."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        path = raw.split("?", 1)[0]
        if "://" in path:  # absolute-form request target
            path = "/" + path.split("://", 1)[1].split("/", 1)[-1]
        decoded = unquote_to_bytes(path)
    else:
        decoded = environ.get("PATH_INFO", "").encode("latin-1")
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise S3Error("InvalidURI", 400, "the request path is not valid UTF-8") from None
    rest = text[len(PREFIX):].removeprefix("/") if text.startswith(PREFIX) else text.lstrip("/")
    bucket, _, key = rest.partition("/")
    return bucket, key


@bp.route(PREFIX, methods=METHODS, strict_slashes=False)
@bp.route(PREFIX + "/<path:_rest>", methods=METHODS)
def dispatch(_rest: str = "") -> Response:
    req: Request = request._get_current_object()  # type: ignore[attr-defined]
    bucket, key = split_path(req.environ)
    g.s3_bucket, g.s3_key = bucket, key
    try:
        for sub in _UNSUPPORTED:
            if sub in req.args:
                raise S3Error("NotImplemented", 501,
                              f"the ?{sub} sub-resource is not implemented by aismesh",
                              f"/{bucket}/{key}" if key else f"/{bucket}")
        if not bucket:
            if request.method == "GET":
                return list_buckets()
            raise S3Error("MethodNotAllowed", 405, f"{request.method} is not allowed on the service", "/")
        if not key:
            return bucket_request(bucket)
        return object_request(cluster(), req, bucket, key)
    except errors.AisError as e:
        raise from_ais(e, bucket, key) from None


def error_response(err: S3Error, req: Request | None = None) -> Response:
    """The S3 XML error (no body for HEAD) of ``req``, by default the request being served."""
    if req is None:
        req = request._get_current_object()  # type: ignore[attr-defined]
    body = b"" if req.method == "HEAD" else render(err, req.environ.get(REQUEST_ID, ""))
    resp = Response(body, status=err.status, content_type="application/xml")
    if req.method == "HEAD":
        resp.headers["Content-Length"] = "0"
    return resp


# --- service -------------------------------------------------------------------------------


def list_buckets() -> Response:
    """ListBuckets, paged by ``max-buckets`` / ``continuation-token`` and filtered by ``prefix``."""
    prefix = request.args.get("prefix", "")
    max_buckets = params.query_int("max-buckets", 0, MAX_BUCKETS)
    if "max-buckets" in request.args and max_buckets < 1:
        raise S3Error("InvalidArgument", 400, f"max-buckets must be between 1 and {MAX_BUCKETS}",
                      extra=(("ArgumentName", "max-buckets"),))
    token = request.args.get("continuation-token", "")
    after = decode_token(token) if token else ""
    names: dict[str, int] = {}
    for e in cluster().list_buckets():  # several providers may hold a name: S3 shows it once
        if e.bck.name.startswith(prefix) and e.bck.name > after:
            names.setdefault(e.bck.name, e.created_ns)
    listed = sorted(names.items())
    next_token = ""
    if max_buckets and len(listed) > max_buckets:
        listed = listed[:max_buckets]
        next_token = encode_token(listed[-1][0])
    body = xml.list_buckets(listed, next_token, prefix)
    return Response(body, content_type="application/xml")


# --- buckets -------------------------------------------------------------------------------


def bucket_request(bucket: str) -> Response:
    m = request.method
    if m == "PUT" and "versioning" in request.args:
        return versions.put_versioning(cluster(), cluster().bucket_by_name(bucket))
    if m == "PUT":
        return create_bucket(bucket)
    entry = cluster().bucket_by_name(bucket)
    if m == "HEAD":
        return Response(b"", headers={"x-amz-bucket-region": "us-east-1"})
    if m == "DELETE":
        cluster().destroy_bucket(entry, require_empty=True)
        return Response(status=204)
    if m == "POST" and "delete" in request.args:
        return versions.delete_objects(cluster(), entry)
    if m == "GET":
        if "uploads" in request.args:
            return multipart.list_uploads(cluster(), entry)
        if "location" in request.args:
            return Response(xml.location(), content_type="application/xml")
        if "versioning" in request.args:  # the status as it is now, whichever gateway process set it
            return versions.get_versioning(cluster().bucket_now(entry.bck))
        if "versions" in request.args:
            return versions.list_object_versions(cluster(), entry)
        return list_objects(entry)
    raise S3Error("MethodNotAllowed", 405, f"{m} is not allowed on a bucket", f"/{bucket}")


def create_bucket(bucket: str) -> Response:
    problem = s3_bucket_name_error(bucket)
    if problem:
        raise S3Error("InvalidBucketName", 400, f"The specified bucket is not valid: {problem}",
                      f"/{bucket}", (("BucketName", bucket),))
    try:
        region = xml.parse_location_constraint(body.read_bounded(request.environ))
    except ValueError as e:
        raise S3Error("MalformedXML", 400, str(e), f"/{bucket}") from None
    try:
        cluster().create_bucket(Bck(name=bucket))
    except errors.AlreadyExists:
        # us-east-1's legacy rule (AWS's CreateBucket): re-creating a bucket you own there
        # answers 200 and changes nothing; with another region it is BucketAlreadyOwnedByYou.
        if region not in ("", "us-east-1"):
            raise
    return Response(b"", headers={"Location": f"/{bucket}"})


def list_objects(entry: BucketEntry) -> Response:
    args = request.args
    is_v2 = args.get("list-type") == "2"
    delimiter = args.get("delimiter", "")
    encoding = params.encoding_type()
    max_keys = params.query_int("max-keys", MAX_KEYS, MAX_KEYS)
    prefix = args.get("prefix", "")
    ans = xml.ListingAnswer(bucket=entry.bck.name, prefix=prefix, delimiter=delimiter, max_keys=max_keys,
                            entries=[], is_truncated=False, encoding_type=encoding,
                            fetch_owner=args.get("fetch-owner", "").lower() == "true")
    if is_v2:
        ans.continuation_token = args.get("continuation-token", "")
        ans.start_after = args.get("start-after", "")
        after = decode_token(ans.continuation_token) if ans.continuation_token else ans.start_after
    else:
        ans.marker = args.get("marker", "")
        after = ans.marker
    if max_keys > 0:
        page = cluster().list_objects(entry, prefix=prefix, start_after=after, page_size=max_keys,
                                      delimiter=delimiter)
        ans.entries, ans.is_truncated = page.entries, page.is_truncated and bool(page.entries)
    if ans.is_truncated:
        last = ans.entries[-1].name
        if is_v2:
            ans.next_continuation_token = encode_token(last)
        else:
            ans.next_marker = last
    body = xml.list_objects(ans, v2=is_v2)
    return Response(body, content_type="application/xml")


# --- objects -------------------------------------------------------------------------------


def object_request(c: Cluster, req: Request, bucket: str, key: str) -> Response:
    m = req.method
    args = req.args
    entry = c.bucket_by_name(bucket)
    if "uploadId" in args:
        if m == "PUT":
            if "x-amz-copy-source" in req.headers:
                return copy.upload_part_copy(c, entry, key)
            chunks, size = _body(req)
            return multipart.upload_part(c, entry, key, chunks, size, _content_md5(req))
        if m == "POST":
            return multipart.complete(c, entry, key, _require_write(c, req, entry, key))
        if m == "DELETE":
            return multipart.abort(c, entry, key)
        if m == "GET":
            return multipart.list_parts(c, entry, key)
    if m == "POST" and "uploads" in args:
        return multipart.create(c, entry, key, req.headers.get("Content-Type", ""),
                                headers.stored_custom(req.headers))
    if m == "PUT" and "x-amz-copy-source" in req.headers:
        return copy.copy_object(c, entry, key, _require_write(c, req, entry, key))
    if m in ("GET", "HEAD", "PUT"):
        return plain_object(c, req, entry, key)
    if m == "DELETE":
        return versions.delete(c, entry, key)  # S3: deleting a missing key answers 204 all the same
    raise S3Error("MethodNotAllowed", 405, f"{m} is not allowed on an object", f"/{bucket}/{key}")


def plain_object(c: Cluster, req: Request, entry: BucketEntry, key: str) -> Response:
    """GetObject, HeadObject and PutObject (not a copy): everything they read comes from ``req``,
    so the hot path (hot.py) serves them with exactly this code, without Flask's request context."""
    if req.method == "PUT":
        return put_object(c, req, entry, key, _require_write(c, req, entry, key))

    def answer(entry: BucketEntry, key: str, head: bool, vid: str) -> Response:
        return get_object(c, req, entry, key, head, vid)

    return versions.read(req, entry, key, req.method == "HEAD", answer)


def _require_write(c: Cluster, req: Request, entry: BucketEntry, key: str) -> conditions.CommitCondition:
    """A write's If-Match / If-None-Match: * checked against the key as it is now, before the body
    moves (a quick 412, or 404 for If-Match on a missing key); the returned condition is checked
    again by the owner node at commit, under the object's lock, so racing writers cannot both win."""
    cond = conditions.from_headers(req.headers)
    if cond.if_match is None and cond.if_none_match is None:
        return conditions.NO_CONDITION
    try:
        current: str | None = xml.etag_of(c.head_object(entry, key))
    except errors.ObjectNotFound:
        current = None
    conditions.require_write(cond, current, f"/{entry.bck.name}/{key}")
    return conditions.commit_condition(cond)


def _body(req: Request) -> tuple[Iterator[bytes], int]:
    """The request payload as a chunk iterator and its size (-1 when unknown)."""
    env = req.environ
    if body.content_length(env) is None and not body.is_chunked(env):
        raise S3Error("MissingContentLength", 411, "You must provide the Content-Length HTTP header.")
    encoding = req.headers.get("Content-Encoding", "")
    sha = req.headers.get("x-amz-content-sha256", "")
    if "aws-chunked" in encoding or sha.startswith("STREAMING-"):
        size = params.length_header("x-amz-decoded-content-length", req.headers)
        decoded = chunked.aws_chunked_body(body.input_reader(env), body.BODY_CHUNK, auth.chunk_signer(env),
                                           checksums.request_trailers(env))
        return decoded, -1 if size is None else size
    return body.request_body(env)


def _content_md5(req: Request) -> str:
    value = req.headers.get("Content-MD5", "")
    if not value:
        return ""
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:  # binascii.Error, or a value that is not ASCII
        raw = b""
    if len(raw) != 16:
        raise S3Error("InvalidDigest", 400, "The Content-MD5 you specified is not valid.")
    return raw.hex()


def put_object(c: Cluster, req: Request, entry: BucketEntry, key: str,
               commit: conditions.CommitCondition) -> Response:
    chunks, size = _body(req)
    payload = checksums.checked(chunks, size, req.headers, checksums.request_trailers(req.environ),
                                stream_trailer=True)
    attrs = c.put_object(
        entry, key, payload.chunks, size=size, content_type=req.headers.get("Content-Type", ""),
        custom={**headers.stored_custom(req.headers), **payload.custom}, md5_hex=_content_md5(req),
        compute_md5=True, if_absent=commit.if_absent, if_match_etag=commit.if_match_etag,
        late_custom=payload.late,
    )
    return Response(b"", headers={"ETag": xml.etag_of(attrs), **versions.version_headers(entry, attrs),
                                  **payload.response()})


def _object_headers(req: Request, entry: BucketEntry, attrs: types_pb2.ObjAttrs) -> dict[str, str]:
    h = {
        "ETag": xml.etag_of(attrs),
        "Last-Modified": xml.http_date(attrs.mtime_ns or attrs.atime_ns),
        "Accept-Ranges": "bytes",
        "Content-Type": attrs.content_type or "application/octet-stream",
    }
    vid = versions.shown_vid(entry, attrs)
    if vid:
        h["x-amz-version-id"] = vid
    h.update(headers.response_headers(attrs.custom))
    if req.method in ("GET", "HEAD"):
        if req.args:
            h.update(headers.overrides(req.args))
        h.update(checksums.response_headers(attrs.custom, req.headers, attrs.size))
    return h


def _read_verdict(req: Request, attrs: types_pb2.ObjAttrs) -> conditions.Verdict:
    cond = conditions.from_headers(req.headers)
    if cond.is_empty:
        return conditions.Verdict.PROCEED
    mtime_s = (attrs.mtime_ns or attrs.atime_ns) // 1_000_000_000
    return conditions.evaluate(cond, xml.etag_of(attrs), mtime_s)


def _not_modified(req: Request, entry: BucketEntry, attrs: types_pb2.ObjAttrs) -> Response:
    """304: no body; the validators and the stored headers, as S3 sends them."""
    resp = Response(b"", status=304, headers=_object_headers(req, entry, attrs))
    resp.headers.pop("Content-Type", None)
    resp.headers.pop("Content-Length", None)
    for name in checksums.response_headers(attrs.custom, req.headers, attrs.size):
        resp.headers.pop(name, None)  # no body to check: botocore would try (and fail) on a 304
    return resp


def get_object(c: Cluster, req: Request, entry: BucketEntry, key: str, head: bool,
               version_id: str = "") -> Response:
    if head:
        attrs = versions.head(c, entry, key, version_id)
        verdict = _read_verdict(req, attrs)
        if verdict is conditions.Verdict.FAILED:
            raise conditions.precondition_failed(f"/{entry.bck.name}/{key}")
        if verdict is conditions.Verdict.NOT_MODIFIED:
            return _not_modified(req, entry, attrs)
        resp = Response(b"", status=200, headers=_object_headers(req, entry, attrs))
        resp.headers["Content-Length"] = str(attrs.size)
        return resp
    rng = parse_range(req.headers.get("Range", ""))
    try:
        result = versions.get(c, entry, key, rng, version_id)
    except errors.RangeNotSatisfiable:
        # Preconditions come before the range (RFC 9110 §13.2.2): 304/412 win over 416.
        attrs = versions.head(c, entry, key, version_id)
        if _read_verdict(req, attrs) is conditions.Verdict.PROCEED:
            raise
        result = GetResult(attrs=attrs, is_range=False, range_offset=0, range_length=0, chunks=iter(()),
                           cancel=lambda: None)
    verdict = _read_verdict(req, result.attrs)
    if verdict is not conditions.Verdict.PROCEED:
        result.cancel()
        if verdict is conditions.Verdict.FAILED:
            raise conditions.precondition_failed(f"/{entry.bck.name}/{key}")
        return _not_modified(req, entry, result.attrs)
    hdrs = _object_headers(req, entry, result.attrs)
    length = result.attrs.size
    status = 200
    if result.is_range:
        status = 206
        length = result.range_length
        end = result.range_offset + result.range_length - 1
        hdrs["Content-Range"] = f"bytes {result.range_offset}-{end}/{result.attrs.size}"
    hdrs["Content-Length"] = str(length)
    resp = Response(result.wsgi_body(req.environ), status=status, headers=hdrs, direct_passthrough=True)
    resp.call_on_close(result.cancel)
    return resp
