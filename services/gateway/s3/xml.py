"""S3 XML documents: rendering answers and parsing the few request bodies S3 clients send."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from aismesh.protos import types_pb2

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


def versioning(enabled: bool) -> bytes:
    status = "<Status>Enabled</Status>" if enabled else ""
    return f"{_HEAD}<VersioningConfiguration {_NS}>{status}</VersioningConfiguration>".encode()


def delete_result(deleted: list[str], failed: list[tuple[str, str, str]], quiet: bool) -> bytes:
    parts = [] if quiet else [f"<Deleted><Key>{escape(k)}</Key></Deleted>" for k in deleted]
    parts += [
        f"<Error><Key>{escape(k)}</Key><Code>{code}</Code><Message>{escape(msg)}</Message></Error>"
        for k, code, msg in failed
    ]
    return f"{_HEAD}<DeleteResult {_NS}>{''.join(parts)}</DeleteResult>".encode()


def parse_delete(body: bytes) -> tuple[list[str], bool]:
    """The keys of a multi-object Delete request and its Quiet flag; raises ValueError if malformed."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as e:
        raise ValueError(f"malformed Delete XML: {e}") from None
    keys: list[str] = []
    quiet = False
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1]
        if tag == "Key":
            keys.append(el.text or "")
        elif tag == "Quiet":
            quiet = (el.text or "").strip().lower() == "true"
    return keys, quiet


def copy_result(attrs: types_pb2.ObjAttrs) -> bytes:
    return (f"{_HEAD}<CopyObjectResult {_NS}><LastModified>{iso8601(attrs.mtime_ns)}</LastModified>"
            f"<ETag>{escape(etag_of(attrs))}</ETag></CopyObjectResult>").encode()
