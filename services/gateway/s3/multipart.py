"""S3 multipart upload: Create, UploadPart, Complete, Abort, ListParts, ListMultipartUploads."""

from __future__ import annotations

from collections.abc import Iterator
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from flask import Response, request

from aismesh.protos import storage_pb2
from services.gateway import body
from services.gateway import multipart as mpu
from services.gateway.cluster import Cluster
from services.gateway.metasync import BucketEntry
from services.gateway.s3 import checksums, params, versions, xml
from services.gateway.s3.conditions import NO_CONDITION, CommitCondition
from services.gateway.s3.errors import S3Error

_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
_NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
MAX_PARTS = 1000  # ListParts page, S3's default and maximum
MAX_UPLOADS = 1000


def _xml(body: str) -> Response:
    return Response((_HEAD + body).encode(), content_type="application/xml")


def create(c: Cluster, entry: BucketEntry, key: str, content_type: str, custom: dict[str, str]) -> Response:
    custom = {**custom, **checksums.upload_algorithm(request.headers)}
    info = mpu.create_upload(c, entry, key, content_type, custom)
    resp = _xml(f"<InitiateMultipartUploadResult {_NS}><Bucket>{escape(entry.bck.name)}</Bucket>"
                f"<Key>{escape(key)}</Key><UploadId>{info.upload_id}</UploadId></InitiateMultipartUploadResult>")
    resp.headers.update(checksums.creation_headers(custom))
    return resp


def upload_part(c: Cluster, entry: BucketEntry, key: str, chunks: Iterator[bytes], size: int,
                md5_hex: str) -> Response:
    number = params.part_number(request.args.get("partNumber", ""))
    payload = checksums.checked(chunks, size, request.headers, checksums.request_trailers(request.environ))
    part = mpu.put_part(c, entry, key, request.args["uploadId"], number, payload.chunks, size, md5_hex,
                        payload.part_checksum)
    return Response(b"", headers={"ETag": f'"{part.etag}"', **payload.response()})


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


def complete(c: Cluster, entry: BucketEntry, key: str, commit: CommitCondition = NO_CONDITION) -> Response:
    doc = body.read_bounded(request.environ)
    parts = parse_complete(doc)
    kept = {p.part_number: p for p in mpu.list_parts(c, entry, key, request.args["uploadId"])}
    alg, custom = checksums.completed_from_parts(checksums.part_checksums(doc),
                                                 [kept[n].s3_checksum if n in kept else "" for n, _ in parts])
    if custom and all(n in kept for n, _ in parts):
        custom[checksums.STORED_SIZE] = str(sum(kept[n].size for n, _ in parts))
    attrs = mpu.complete_upload(c, entry, key, request.args["uploadId"], parts,
                                if_absent=commit.if_absent, if_match_etag=commit.if_match_etag, custom=custom)
    shown = ""
    if custom:
        tag = checksums.XML_NAME[alg]
        shown = f"<{tag}>{custom[checksums.STORED + alg]}</{tag}><ChecksumType>COMPOSITE</ChecksumType>"
    resp = _xml(f"<CompleteMultipartUploadResult {_NS}><Location>/{escape(entry.bck.name)}/{escape(key)}"
                f"</Location><Bucket>{escape(entry.bck.name)}</Bucket><Key>{escape(key)}</Key>"
                f"<ETag>{escape(xml.etag_of(attrs))}</ETag>{shown}</CompleteMultipartUploadResult>")
    resp.headers.update(versions.version_headers(entry, attrs))
    return resp


def abort(c: Cluster, entry: BucketEntry, key: str) -> Response:
    mpu.abort_upload(c, entry, key, request.args["uploadId"])
    return Response(status=204)


def _part_checksum(kept: str) -> str:
    alg, _, value = kept.partition(":")
    tag = checksums.XML_NAME.get(alg)
    return f"<{tag}>{escape(value)}</{tag}>" if tag else ""


def list_parts(c: Cluster, entry: BucketEntry, key: str) -> Response:
    upload_id = request.args["uploadId"]
    max_parts = max(1, params.query_int("max-parts", MAX_PARTS, MAX_PARTS))
    marker = params.query_int("part-number-marker", 0, mpu.MAX_PART_NUMBER)
    after = [p for p in mpu.list_parts(c, entry, key, upload_id) if p.part_number > marker]
    parts, is_truncated = after[:max_parts], len(after) > max_parts
    items = "".join(
        f"<Part><PartNumber>{p.part_number}</PartNumber><LastModified>{xml.iso8601(p.mtime_ns)}</LastModified>"
        f"<ETag>\"{p.etag}\"</ETag><Size>{p.size}</Size>{_part_checksum(p.s3_checksum)}</Part>" for p in parts
    )
    next_marker = f"<NextPartNumberMarker>{parts[-1].part_number}</NextPartNumberMarker>" if parts else ""
    return _xml(f"<ListPartsResult {_NS}><Bucket>{escape(entry.bck.name)}</Bucket><Key>{escape(key)}</Key>"
                f"<UploadId>{escape(upload_id)}</UploadId><PartNumberMarker>{marker}</PartNumberMarker>"
                f"{next_marker}<MaxParts>{max_parts}</MaxParts>"
                f"<IsTruncated>{'true' if is_truncated else 'false'}</IsTruncated>{xml.OWNER}{items}</ListPartsResult>")


def page_uploads(uploads: list[storage_pb2.UploadInfo], key_marker: str, upload_id_marker: str,
                 max_uploads: int) -> tuple[list[storage_pb2.UploadInfo], bool]:
    """One page of uploads sorted by (name, initiation): after ``key_marker`` (and, for that key,
    after the upload ``upload_id_marker``), at most ``max_uploads``; and whether more follow."""
    start = 0
    if key_marker:
        start = next((i for i, u in enumerate(uploads) if u.name > key_marker), len(uploads))
        if upload_id_marker:
            same = [i for i, u in enumerate(uploads) if u.name == key_marker and u.upload_id == upload_id_marker]
            if same:
                start = same[0] + 1
    rest = uploads[start:]
    return rest[:max_uploads], len(rest) > max_uploads


def list_uploads(c: Cluster, entry: BucketEntry) -> Response:
    args = request.args
    prefix = args.get("prefix", "")
    et = params.encoding_type()
    max_uploads = max(1, params.query_int("max-uploads", MAX_UPLOADS, MAX_UPLOADS))
    key_marker, id_marker = args.get("key-marker", ""), args.get("upload-id-marker", "")
    uploads, is_truncated = page_uploads(mpu.list_uploads(c, entry, prefix), key_marker, id_marker, max_uploads)
    items = "".join(
        f"<Upload><Key>{xml.encode_key(u.name, et)}</Key><UploadId>{u.upload_id}</UploadId>{xml.OWNER}"
        f"<Initiated>{xml.iso8601(u.initiated_ns)}</Initiated><StorageClass>STANDARD</StorageClass></Upload>"
        for u in uploads
    )
    nxt = ""
    if is_truncated and uploads:
        nxt = (f"<NextKeyMarker>{xml.encode_key(uploads[-1].name, et)}</NextKeyMarker>"
               f"<NextUploadIdMarker>{escape(uploads[-1].upload_id)}</NextUploadIdMarker>")
    return _xml(f"<ListMultipartUploadsResult {_NS}><Bucket>{escape(entry.bck.name)}</Bucket>"
                f"<KeyMarker>{xml.encode_key(key_marker, et)}</KeyMarker>"
                f"<UploadIdMarker>{escape(id_marker)}</UploadIdMarker>{nxt}"
                f"<Prefix>{xml.encode_key(prefix, et)}</Prefix><MaxUploads>{max_uploads}</MaxUploads>"
                f"<IsTruncated>{'true' if is_truncated else 'false'}</IsTruncated>"
                f"{f'<EncodingType>{et}</EncodingType>' if et else ''}"
                f"{items}</ListMultipartUploadsResult>")
