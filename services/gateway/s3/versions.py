"""S3 bucket versioning and object versions at the S3 edge: Get/PutBucketVersioning,
ListObjectVersions, reads and deletes by ``versionId``, delete markers, multi-object delete.

A bucket's S3 versioning status lives in its BMD props (``extra.s3.versioning``: "" until set,
then Enabled or Suspended); the storage nodes read the same BMD and keep the versions (see
services/storage/versions.py). Remote buckets keep no versions here: 501 naming the provider.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from flask import Response, request
from werkzeug.wrappers import Request

from aismesh.cmn import errors, props
from aismesh.cmn.ranges import ByteRange
from aismesh.cmn.s3versions import ENABLED, SUSPENDED, is_valid_vid, is_vid, vid_for
from aismesh.protos import types_pb2
from services.gateway import body, remote
from services.gateway.cluster import Cluster, GetResult
from services.gateway.metasync import BucketEntry
from services.gateway.s3 import params, xml
from services.gateway.s3.errors import S3Error, from_ais, render

MAX_KEYS = 1000
MAX_DELETE = 1000


def mode(entry: BucketEntry) -> str:
    """The bucket's S3 versioning status: "" (never set), Enabled or Suspended."""
    return "" if remote.is_remote(entry.bck) else props.s3_versioning(entry.props)


def _not_for_remote(entry: BucketEntry, what: str) -> None:
    if remote.is_remote(entry.bck):
        raise S3Error("NotImplemented", 501, f"{what} is not implemented for {entry.bck.provider}:// buckets "
                      f"(aismesh keeps object versions of its own ais:// buckets only)", f"/{entry.bck.name}")


def _invalid_vid(vid: str, name: str = "versionId") -> S3Error:
    return S3Error("InvalidArgument", 400, "Invalid version id specified",
                   extra=(("ArgumentName", name), ("ArgumentValue", vid[:64])))


# --- bucket ----------------------------------------------------------------------------------


def get_versioning(entry: BucketEntry) -> Response:
    return Response(xml.versioning_status(mode(entry)), content_type="application/xml")


def put_versioning(c: Cluster, entry: BucketEntry) -> Response:
    """PutBucketVersioning: Enabled or Suspended (S3 never goes back to "not set")."""
    _not_for_remote(entry, "PutBucketVersioning")
    try:
        status, mfa = xml.parse_versioning(body.read_bounded(request.environ))
    except ValueError as e:
        raise S3Error("MalformedXML", 400, str(e), f"/{entry.bck.name}") from None
    if status not in (ENABLED, SUSPENDED):
        raise S3Error("MalformedXML", 400, f'versioning Status must be Enabled or Suspended, got "{status}"',
                      f"/{entry.bck.name}")
    if mfa == "Enabled":
        raise S3Error("NotImplemented", 501, "MFA delete is not implemented by aismesh", f"/{entry.bck.name}")
    if status != mode(entry):
        c.set_bucket_props(entry, {"extra": {"s3": {"versioning": status}}})
    return Response(b"", status=200)


def list_object_versions(c: Cluster, entry: BucketEntry) -> Response:
    """ListObjectVersions: every version of every key, names ascending and newest first."""
    _not_for_remote(entry, "ListObjectVersions")
    args = request.args
    key_marker = args.get("key-marker", "")
    vid_marker = args.get("version-id-marker", "")
    if vid_marker and not key_marker:
        raise S3Error("InvalidArgument", 400, "A version-id marker cannot be specified without a key marker.",
                      extra=(("ArgumentName", "version-id-marker"), ("ArgumentValue", vid_marker[:64])))
    if vid_marker and not is_valid_vid(vid_marker):
        raise _invalid_vid(vid_marker, "version-id-marker")
    max_keys = params.query_int("max-keys", MAX_KEYS, MAX_KEYS)
    ans = xml.VersionsAnswer(bucket=entry.bck.name, prefix=args.get("prefix", ""),
                             delimiter=args.get("delimiter", ""), max_keys=max_keys,
                             key_marker=key_marker, version_id_marker=vid_marker, entries=[], is_truncated=False,
                             encoding_type=params.encoding_type())
    if ans.max_keys > 0:
        ans.entries, more = c.list_versions(entry, prefix=ans.prefix, key_marker=key_marker,
                                            version_id_marker=vid_marker, page_size=ans.max_keys,
                                            delimiter=ans.delimiter)
        ans.is_truncated = more and bool(ans.entries)
    if ans.is_truncated:
        last = ans.entries[-1]
        ans.next_key_marker = last.attrs.name
        ans.next_version_id_marker = "" if last.attrs.is_dir else last.version_id
    return Response(xml.list_versions(ans), content_type="application/xml")


# --- objects ---------------------------------------------------------------------------------


def _shown(status: str, is_remote: bool, attrs: types_pb2.ObjAttrs) -> str:
    """An object's x-amz-version-id: its issued id; ``null`` on a bucket with a status; none on
    a bucket that never had S3 versioning (as S3 answers). The id itself is trusted over the
    status this gateway process has seen, which may lag the node's by a BMD update."""
    if is_remote:
        return ""
    if is_vid(attrs.version):
        return attrs.version
    return vid_for(attrs.version) if status else ""


def shown_vid(entry: BucketEntry, attrs: types_pb2.ObjAttrs) -> str:
    """The x-amz-version-id of the object a read of ``entry`` answers with (see ``_shown``)."""
    return _shown(mode(entry), remote.is_remote(entry.bck), attrs)


def version_headers(entry: BucketEntry, attrs: types_pb2.ObjAttrs) -> dict[str, str]:
    """The version header of a write (PUT, copy, multipart completion)."""
    vid = _shown(mode(entry), remote.is_remote(entry.bck), attrs)
    return {"x-amz-version-id": vid} if vid else {}


def requested_vid(entry: BucketEntry, for_read: bool, req: Request | None = None) -> str:
    """The ``versionId`` a request names, checked. A read of a bucket that never had versioning
    ignores it and serves the object, as AIStore does (TensorFlow reads with ``versionId=1``;
    a documented difference from AWS)."""
    vid = (req or request).args.get("versionId")
    if vid is None:
        return ""
    if for_read and not mode(entry):
        return ""
    if not is_valid_vid(vid):
        raise _invalid_vid(vid)
    _not_for_remote(entry, "Object versions")
    return vid


def head(c: Cluster, entry: BucketEntry, key: str, vid: str) -> types_pb2.ObjAttrs:
    return c.head_object_version(entry, key, vid) if vid else c.head_object(entry, key)


def get(c: Cluster, entry: BucketEntry, key: str, rng: ByteRange | None, vid: str) -> GetResult:
    return c.get_object_version(entry, key, vid, rng) if vid else c.get_object(entry, key, rng)


def _marker_answer(req: Request, entry: BucketEntry, status: int, code: str, message: str, key: str, vid: str,
                   extra: dict[str, str] | None = None) -> Response:
    err = S3Error(code, status, message, f"/{entry.bck.name}/{key}", (("Key", key),))
    is_head = req.method == "HEAD"
    resp = Response(b"" if is_head else render(err, req.environ.get("aismesh.request_id", "")), status=status,
                    content_type="application/xml")
    resp.headers["x-amz-delete-marker"] = "true"
    if vid:
        resp.headers["x-amz-version-id"] = vid
    if is_head:
        resp.headers["Content-Length"] = "0"
    resp.headers.update(extra or {})
    return resp


Reader = Callable[[BucketEntry, str, bool, str], Response]


def read(req: Request, entry: BucketEntry, key: str, is_head: bool, answer: Reader) -> Response:
    """GET or HEAD, of the latest or of ``versionId``: ``answer`` does the read; here the cases
    of versions (a delete marker on top: 404 with x-amz-delete-marker; a marker by id: 405)."""
    vid = requested_vid(entry, for_read=True, req=req)
    try:
        return answer(entry, key, is_head, vid)
    except errors.NotFound as e:
        if e.reason.startswith("delete-marker:"):
            return _marker_answer(req, entry, 404, "NoSuchKey", "The specified key does not exist.", key,
                                  e.reason.partition(":")[2])
        if e.reason == "version-is-delete-marker":
            return _marker_answer(req, entry, 405, "MethodNotAllowed",
                                  "The specified method is not allowed against this resource.", key, vid,
                                  {"Allow": "DELETE"})
        if e.reason == "no-such-version":
            raise S3Error("NoSuchVersion", 404, "The specified version does not exist.",
                          f"/{entry.bck.name}/{key}", (("Key", key), ("VersionId", vid))) from None
        raise


def delete(c: Cluster, entry: BucketEntry, key: str) -> Response:
    """DeleteObject: a version for good (``versionId``), else the latest: a delete marker on a
    bucket with versioning, the object otherwise. Deleting what is not there succeeds (204)."""
    vid = requested_vid(entry, for_read=False)
    if not vid and not mode(entry):
        with contextlib.suppress(errors.ObjectNotFound):
            c.delete_object(entry, key)
        return Response(status=204)
    done = c.delete_object_version(entry, key, vid)
    resp = Response(status=204)
    if done.version_id:
        resp.headers["x-amz-version-id"] = done.version_id
    if done.is_delete_marker:
        resp.headers["x-amz-delete-marker"] = "true"
    return resp


def delete_objects(c: Cluster, entry: BucketEntry) -> Response:
    """DeleteObjects: each <Object> as DeleteObject would, with its VersionId when given."""
    try:
        items, quiet = xml.parse_delete_objects(body.read_bounded(request.environ))
    except ValueError as e:
        raise S3Error("MalformedXML", 400, str(e)) from None
    if len(items) > MAX_DELETE:
        raise S3Error("MalformedXML", 400, f"at most {MAX_DELETE} keys per Delete request, got {len(items)}")
    versioned = bool(mode(entry))
    deleted: list[xml.DeleteDone] = []
    failed: list[tuple[str, str, str, str]] = []
    for it in items:
        try:
            if it.version_id and not is_valid_vid(it.version_id):
                raise _invalid_vid(it.version_id)
            if it.version_id:
                _not_for_remote(entry, "Object versions")
            if not it.version_id and not versioned:
                with contextlib.suppress(errors.ObjectNotFound):  # S3: deleting a missing key succeeds
                    c.delete_object(entry, it.key)
                deleted.append(xml.DeleteDone(it.key))
                continue
            done = c.delete_object_version(entry, it.key, it.version_id)
            marker_vid = done.version_id if done.is_delete_marker else ""
            deleted.append(xml.DeleteDone(it.key, it.version_id, done.is_delete_marker, marker_vid))
        except S3Error as refused:
            failed.append((it.key, it.version_id, refused.code, refused.message))
        except errors.AisError as e:
            mapped = from_ais(e, entry.bck.name, it.key)
            failed.append((it.key, it.version_id, mapped.code, mapped.message))
    return Response(xml.delete_objects_result(deleted, failed, quiet), content_type="application/xml")


# --- copies ----------------------------------------------------------------------------------


def _copy_source_vid(src: BucketEntry, copy_source: str) -> str:
    """The ``?versionId=`` of an ``x-amz-copy-source``; ignored, as on reads, when the source
    bucket never had versioning."""
    _, sep, query = copy_source.partition("?versionId=")
    if not sep or not mode(src):
        return ""
    vid = query.split("&", 1)[0]
    if not is_valid_vid(vid):
        raise _invalid_vid(vid, "x-amz-copy-source")
    return vid


def get_copy_source(c: Cluster, src: BucketEntry, key: str, rng: ByteRange | None, copy_source: str) -> GetResult:
    """Start reading a copy source (its latest, or the version it names)."""
    vid = _copy_source_vid(src, copy_source)
    try:
        return get(c, src, key, rng, vid)
    except errors.NotFound as e:
        if e.reason == "no-such-version":
            raise S3Error("NoSuchVersion", 404, "The specified version does not exist.", f"/{src.bck.name}/{key}",
                          (("Key", key), ("VersionId", vid))) from None
        if e.reason == "version-is-delete-marker":
            raise S3Error("InvalidRequest", 400, "The source of a copy request may not specifically refer to a "
                          "delete marker by version id.") from None
        raise


def copy_headers(entry: BucketEntry, attrs: types_pb2.ObjAttrs, src: BucketEntry,
                 src_attrs: types_pb2.ObjAttrs) -> dict[str, str]:
    """CopyObject's version headers: the new object's, and the source's."""
    out = version_headers(entry, attrs)
    src_vid = _shown(mode(src), remote.is_remote(src.bck), src_attrs)
    if src_vid:
        out["x-amz-copy-source-version-id"] = src_vid
    return out
