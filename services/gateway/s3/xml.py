"""S3 XML documents: rendering answers and parsing the few request bodies S3 clients send."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from aismesh.protos import storage_pb2, types_pb2

_NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
NS, HEAD = _NS, _HEAD
OWNER = "<Owner><ID>aismesh</ID><DisplayName>aismesh</DisplayName></Owner>"


def iso8601(ns: int) -> str:
    """S3's timestamp form in XML: 2026-11-22T10:00:00.000Z."""
    secs, rem = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{rem // 1_000_000:03d}Z"


def http_date(ns: int) -> str:
    """RFC 7231 date for Last-Modified."""
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(ns // 1_000_000_000))


def etag_of(attrs: types_pb2.ObjAttrs) -> str:
    """The quoted ETag S3 clients see: md5 when known, else the stored checksum."""
    tag = attrs.etag or attrs.remote_etag or attrs.checksum.value or "0"
    return f'"{tag}"'


def list_buckets(buckets: Iterable[tuple[str, int]], continuation_token: str = "", prefix: str = "") -> bytes:
    """ListAllMyBucketsResult; ``continuation_token`` (the next page's) and ``prefix`` only when set."""
    items = "".join(
        f"<Bucket><Name>{escape(name)}</Name><CreationDate>{iso8601(created)}</CreationDate>"
        f"<BucketRegion>us-east-1</BucketRegion></Bucket>"
        for name, created in buckets
    )
    tail = f"<ContinuationToken>{escape(continuation_token)}</ContinuationToken>" if continuation_token else ""
    tail += f"<Prefix>{escape(prefix)}</Prefix>" if prefix else ""
    return (f"{_HEAD}<ListAllMyBucketsResult {_NS}>{OWNER}<Buckets>{items}</Buckets>{tail}"
            f"</ListAllMyBucketsResult>").encode()


@dataclass
class ListingAnswer:
    """What ListObjects (V1 or V2) returns, before rendering."""

    bucket: str
    prefix: str
    delimiter: str
    max_keys: int
    entries: list[types_pb2.ObjAttrs]
    is_truncated: bool
    encoding_type: str = ""
    # V2
    continuation_token: str = ""
    next_continuation_token: str = ""
    start_after: str = ""
    fetch_owner: bool = False  # V2 shows Owner only when asked; V1 always
    # V1
    marker: str = ""
    next_marker: str = ""


def encode_key(value: str, encoding_type: str) -> str:
    """A key or prefix as listed: URL-encoded for ``encoding-type=url`` (botocore decodes it), else escaped."""
    if encoding_type == "url":
        return quote(value, safe="/")
    return escape(value)


def _contents(ans: ListingAnswer, owner: str) -> str:
    parts = []
    for e in ans.entries:
        if e.is_dir:
            parts.append(f"<CommonPrefixes><Prefix>{encode_key(e.name, ans.encoding_type)}</Prefix></CommonPrefixes>")
            continue
        parts.append(
            f"<Contents><Key>{encode_key(e.name, ans.encoding_type)}</Key>"
            f"<LastModified>{iso8601(e.mtime_ns or e.atime_ns)}</LastModified>"
            f"<ETag>{escape(etag_of(e))}</ETag><Size>{e.size}</Size>{owner}"
            f"<StorageClass>STANDARD</StorageClass></Contents>"
        )
    return "".join(parts)


def list_objects(ans: ListingAnswer, v2: bool) -> bytes:
    """ListBucketResult for ListObjectsV2 (KeyCount, tokens, StartAfter) or V1 (Marker, NextMarker),
    elements in the order S3 sends them; optional ones only when set."""
    et = ans.encoding_type

    def opt(tag: str, value: str, encode: bool = True) -> str:
        return f"<{tag}>{encode_key(value, et) if encode else escape(value)}</{tag}>" if value else ""

    if v2:
        third = f"<KeyCount>{len(ans.entries)}</KeyCount>"
        tail = (opt("ContinuationToken", ans.continuation_token, encode=False)
                + opt("NextContinuationToken", ans.next_continuation_token, encode=False)
                + opt("StartAfter", ans.start_after))
    else:
        third = f"<Marker>{encode_key(ans.marker, et)}</Marker>"
        tail = opt("NextMarker", ans.next_marker)
    body = (f"<Name>{escape(ans.bucket)}</Name><Prefix>{encode_key(ans.prefix, et)}</Prefix>{third}"
            f"<MaxKeys>{ans.max_keys}</MaxKeys>{opt('Delimiter', ans.delimiter)}"
            f"<IsTruncated>{'true' if ans.is_truncated else 'false'}</IsTruncated>{tail}"
            f"{opt('EncodingType', et, encode=False)}{_contents(ans, OWNER if ans.fetch_owner or not v2 else '')}")
    return f"{_HEAD}<ListBucketResult {_NS}>{body}</ListBucketResult>".encode()


def location(region: str = "") -> bytes:
    return f"{_HEAD}<LocationConstraint {_NS}>{escape(region)}</LocationConstraint>".encode()


def copy_result(attrs: types_pb2.ObjAttrs) -> bytes:
    return (f"{_HEAD}<CopyObjectResult {_NS}><LastModified>{iso8601(attrs.mtime_ns)}</LastModified>"
            f"<ETag>{escape(etag_of(attrs))}</ETag></CopyObjectResult>").encode()


@dataclass
class VersionsAnswer:
    """What ListObjectVersions returns, before rendering."""

    bucket: str
    prefix: str
    delimiter: str
    max_keys: int
    key_marker: str
    version_id_marker: str
    entries: list[storage_pb2.VersionEntry]
    is_truncated: bool
    next_key_marker: str = ""
    next_version_id_marker: str = ""
    encoding_type: str = ""


def list_versions(ans: VersionsAnswer) -> bytes:
    """ListVersionsResult: Version, DeleteMarker and CommonPrefixes in listing order."""
    et = ans.encoding_type
    parts = [f"<Name>{escape(ans.bucket)}</Name><Prefix>{encode_key(ans.prefix, et)}</Prefix>"
             f"<KeyMarker>{encode_key(ans.key_marker, et)}</KeyMarker>"
             f"<VersionIdMarker>{escape(ans.version_id_marker)}</VersionIdMarker>"]
    if ans.is_truncated:
        parts.append(f"<NextKeyMarker>{encode_key(ans.next_key_marker, et)}</NextKeyMarker>")
        if ans.next_version_id_marker:
            parts.append(f"<NextVersionIdMarker>{escape(ans.next_version_id_marker)}</NextVersionIdMarker>")
    parts.append(f"<MaxKeys>{ans.max_keys}</MaxKeys>")
    if ans.delimiter:
        parts.append(f"<Delimiter>{encode_key(ans.delimiter, et)}</Delimiter>")
    parts.append(f"<IsTruncated>{'true' if ans.is_truncated else 'false'}</IsTruncated>")
    if et:
        parts.append(f"<EncodingType>{escape(et)}</EncodingType>")
    for v in ans.entries:
        a = v.attrs
        if a.is_dir:
            parts.append(f"<CommonPrefixes><Prefix>{encode_key(a.name, et)}</Prefix></CommonPrefixes>")
            continue
        common = (f"<Key>{encode_key(a.name, et)}</Key><VersionId>{escape(v.version_id)}</VersionId>"
                  f"<IsLatest>{'true' if v.is_latest else 'false'}</IsLatest>"
                  f"<LastModified>{iso8601(a.mtime_ns or a.atime_ns)}</LastModified>")
        if v.is_delete_marker:
            parts.append(f"<DeleteMarker>{common}{OWNER}</DeleteMarker>")
        else:
            parts.append(f"<Version>{common}<ETag>{escape(etag_of(a))}</ETag><Size>{a.size}</Size>"
                         f"<StorageClass>STANDARD</StorageClass>{OWNER}</Version>")
    return f"{_HEAD}<ListVersionsResult {_NS}>{''.join(parts)}</ListVersionsResult>".encode()


def versioning_status(status: str) -> bytes:
    """GetBucketVersioning: no Status until versioning was set, as S3 answers for a new bucket."""
    shown = f"<Status>{escape(status)}</Status>" if status else ""
    return f"{_HEAD}<VersioningConfiguration {_NS}>{shown}</VersioningConfiguration>".encode()


def _name(el: ElementTree.Element) -> str:
    """An element's tag without its namespace."""
    return el.tag.rsplit("}", 1)[-1]


def _document(body: bytes, name: str, check_root: bool = True) -> ElementTree.Element:
    """The root of request body XML ``name``; ValueError if malformed or (``check_root``) of another kind."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as e:
        raise ValueError(f"malformed {name} XML: {e}") from None
    if check_root and _name(root) != name:
        raise ValueError(f"expected a {name} document, got <{_name(root)}>")
    return root


def parse_location_constraint(body: bytes) -> str:
    """The LocationConstraint of a CreateBucket body ("" when there is no body or none is
    given); raises ValueError if malformed."""
    if not body.strip():
        return ""
    for el in _document(body, "CreateBucketConfiguration"):
        if _name(el) == "LocationConstraint":
            return (el.text or "").strip()
    return ""


def parse_versioning(body: bytes) -> tuple[str, str]:
    """(Status, MfaDelete) of a PutBucketVersioning body; raises ValueError if malformed."""
    status = mfa = ""
    for el in _document(body, "VersioningConfiguration"):
        tag = _name(el)
        if tag == "Status":
            status = (el.text or "").strip()
        elif tag == "MfaDelete":
            mfa = (el.text or "").strip()
    return status, mfa


@dataclass(frozen=True)
class DeleteItem:
    """One <Object> of a multi-object Delete request."""

    key: str
    version_id: str = ""


@dataclass(frozen=True)
class DeleteDone:
    """One <Deleted> of a DeleteResult."""

    key: str
    version_id: str = ""
    delete_marker: bool = False
    delete_marker_version_id: str = ""


def parse_delete_objects(body: bytes) -> tuple[list[DeleteItem], bool]:
    """The objects (key, optional VersionId) of a multi-object Delete and its Quiet flag;
    raises ValueError if malformed."""
    items: list[DeleteItem] = []
    quiet = False
    for el in _document(body, "Delete", check_root=False):
        tag = _name(el)
        if tag == "Quiet":
            quiet = (el.text or "").strip().lower() == "true"
        elif tag == "Object":
            fields = {_name(c): c.text or "" for c in el}
            if "Key" not in fields:
                raise ValueError("an <Object> of the Delete request has no <Key>")
            items.append(DeleteItem(fields["Key"], fields.get("VersionId", "")))
    return items, quiet


def delete_objects_result(deleted: list[DeleteDone], failed: list[tuple[str, str, str, str]], quiet: bool) -> bytes:
    """DeleteResult with version ids and delete markers; ``failed``: (key, version id, code, message)."""
    parts = []
    if not quiet:
        for d in deleted:
            inner = f"<Key>{escape(d.key)}</Key>"
            inner += f"<VersionId>{escape(d.version_id)}</VersionId>" if d.version_id else ""
            if d.delete_marker:
                inner += "<DeleteMarker>true</DeleteMarker>"
                if d.delete_marker_version_id:
                    inner += f"<DeleteMarkerVersionId>{escape(d.delete_marker_version_id)}</DeleteMarkerVersionId>"
            parts.append(f"<Deleted>{inner}</Deleted>")
    for key, vid, code, msg in failed:
        shown = f"<VersionId>{escape(vid)}</VersionId>" if vid else ""
        parts.append(f"<Error><Key>{escape(key)}</Key>{shown}<Code>{code}</Code>"
                     f"<Message>{escape(msg)}</Message></Error>")
    return f"{_HEAD}<DeleteResult {_NS}>{''.join(parts)}</DeleteResult>".encode()
