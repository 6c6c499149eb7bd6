"""S3 multipart upload: Create, UploadPart, Complete, Abort, ListParts, ListMultipartUploads."""

from __future__ import annotations

from collections.abc import Iterator
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from flask import Response, request

from services.gateway import body
from services.gateway import multipart as mpu
from services.gateway.cluster import Cluster
from services.gateway.metasync import BucketEntry
from services.gateway.s3 import params, xml
from services.gateway.s3.errors import S3Error

_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
_NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
MAX_PARTS = 1000  # ListParts page, S3's default and maximum
MAX_UPLOADS = 1000


def _xml(body: str) -> Response:
    return Response((_HEAD + body).encode(), content_type="application/xml")


def create(c: Cluster, entry: BucketEntry, key: str, content_type: str, custom: dict[str, str]) -> Response:
    info = mpu.create_upload(c, entry, key, content_type, custom)
    return _xml(f"<InitiateMultipartUploadResult {_NS}><Bucket>{escape(entry.bck.name)}</Bucket>"
                f"<Key>{escape(key)}</Key><UploadId>{info.upload_id}</UploadId></InitiateMultipartUploadResult>")


def upload_part(c: Cluster, entry: BucketEntry, key: str, chunks: Iterator[bytes], size: int,
                md5_hex: str) -> Response:
    number = params.part_number(request.args.get("partNumber", ""))
    part = mpu.put_part(c, entry, key, request.args["uploadId"], number, chunks, size, md5_hex)
    return Response(b"", headers={"ETag": f'"{part.etag}"'})


def parse_complete(body: bytes) -> list[tuple[int, str]]:
    """(part number, etag) pairs of a CompleteMultipartUpload body, in the order given."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as e:
        raise S3Error("MalformedXML", 400, f"malformed CompleteMultipartUpload XML: {e}") from None
    parts: list[tuple[int, str]] = []
    for el in root:
        if el.tag.rsplit("}", 1)[-1] != "Part":
            continue
        fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in el}
        if "PartNumber" not in fields:
            raise S3Error("MalformedXML", 400, "every Part needs a PartNumber")
        parts.append((params.part_number(fields["PartNumber"], "PartNumber"), fields.get("ETag", "").strip('"')))
    if not parts:
        raise S3Error("MalformedXML", 400, "CompleteMultipartUpload lists no parts")
    if [n for n, _ in parts] != sorted({n for n, _ in parts}):
        raise S3Error("InvalidPartOrder", 400, "The list of parts was not in ascending order.")
    return parts


def complete(c: Cluster, entry: BucketEntry, key: str) -> Response:
    parts = parse_complete(body.read_bounded(request.environ))
    attrs = mpu.complete_upload(c, entry, key, request.args["uploadId"], parts)
    return _xml(f"<CompleteMultipartUploadResult {_NS}><Location>/{escape(entry.bck.name)}/{escape(key)}"
                f"</Location><Bucket>{escape(entry.bck.name)}</Bucket><Key>{escape(key)}</Key>"
                f"<ETag>{escape(xml.etag_of(attrs))}</ETag></CompleteMultipartUploadResult>")


def abort(c: Cluster, entry: BucketEntry, key: str) -> Response:
    mpu.abort_upload(c, entry, key, request.args["uploadId"])
    return Response(status=204)


def list_parts(c: Cluster, entry: BucketEntry, key: str) -> Response:
    upload_id = request.args["uploadId"]
    max_parts = max(1, params.query_int("max-parts", MAX_PARTS, MAX_PARTS))
    marker = params.query_int("part-number-marker", 0, mpu.MAX_PART_NUMBER)
    after = [p for p in mpu.list_parts(c, entry, key, upload_id) if p.part_number > marker]
    parts, is_truncated = after[:max_parts], len(after) > max_parts
    items = "".join(
        f"<Part><PartNumber>{p.part_number}</PartNumber><LastModified>{xml.iso8601(p.mtime_ns)}</LastModified>"
        f"<ETag>\"{p.etag}\"</ETag><Size>{p.size}</Size></Part>" for p in parts
    )
    next_marker = f"<NextPartNumberMarker>{parts[-1].part_number}</NextPartNumberMarker>" if parts else ""
    return _xml(f"<ListPartsResult {_NS}><Bucket>{escape(entry.bck.name)}</Bucket><Key>{escape(key)}</Key>"
                f"<UploadId>{escape(upload_id)}</UploadId><PartNumberMarker>{marker}</PartNumberMarker>"
                f"{next_marker}<MaxParts>{max_parts}</MaxParts>"
                f"<IsTruncated>{'true' if is_truncated else 'false'}</IsTruncated>{xml.OWNER}{items}</ListPartsResult>")


def list_uploads(c: Cluster, entry: BucketEntry) -> Response:
    prefix = request.args.get("prefix", "")
    params.query_int("max-uploads", MAX_UPLOADS, MAX_UPLOADS)  # refused when malformed; all uploads are listed
    uploads = mpu.list_uploads(c, entry, prefix)
    items = "".join(
        f"<Upload><Key>{escape(u.name)}</Key><UploadId>{u.upload_id}</UploadId>{xml.OWNER}"
        f"<Initiated>{xml.iso8601(u.initiated_ns)}</Initiated><StorageClass>STANDARD</StorageClass></Upload>"
        for u in uploads
    )
    return _xml(f"<ListMultipartUploadsResult {_NS}><Bucket>{escape(entry.bck.name)}</Bucket>"
                f"<Prefix>{escape(prefix)}</Prefix><MaxUploads>{MAX_UPLOADS}</MaxUploads>"
                f"<IsTruncated>false</IsTruncated>{items}</ListMultipartUploadsResult>")
