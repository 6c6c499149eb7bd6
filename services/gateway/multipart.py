"""Multipart uploads through the Cluster layer: every call for one upload goes to the node
that owns the object name, where the parts are staged."""

from __future__ import annotations

from collections.abc import Iterable

import grpc

from aismesh.cmn import errors, props
from aismesh.cmn.names import check_object_name
from aismesh.protos import storage_pb2, types_pb2
from services.gateway import remote
from services.gateway.cluster import CONTROL_TIMEOUT_S, Cluster
from services.gateway.guard import commit_budget_s
from services.gateway.metasync import BucketEntry

MAX_PART_NUMBER = 10_000
# Completing joins the parts on the node (copy_file_range, one hash pass): the gateway does not
# know their total size, so it allows the work of an upload of this size.
COMPLETE_BUDGET_BYTES = 50 << 30


def create_upload(c: Cluster, entry: BucketEntry, name: str, content_type: str,
                  custom: dict[str, str]) -> storage_pb2.UploadInfo:
    check_object_name(name)
    node, stub = c.owner(entry, name)
    req = storage_pb2.CreateUploadRequest(
        bucket=entry.ref(), name=name, content_type=content_type, custom=custom,
        checksum_type=props.checksum_type(entry.props), versioning=props.is_versioned(entry.props),
    )
    try:
        info: storage_pb2.UploadInfo = stub.CreateUpload(req, timeout=CONTROL_TIMEOUT_S)
        return info
    except grpc.RpcError as e:
        raise c.fail(e, node) from None


def put_part(c: Cluster, entry: BucketEntry, name: str, upload_id: str, part_number: int,
             body: Iterable[bytes], size: int, md5_hex: str = "", s3_checksum: str = "") -> storage_pb2.PartInfo:
    if not 1 <= part_number <= MAX_PART_NUMBER:
        raise errors.InvalidArgument(
            f"part number must be an integer between 1 and {MAX_PART_NUMBER}, got {part_number}")
    header = storage_pb2.PartHeader(bucket=entry.ref(), name=name, upload_id=upload_id,
                                    part_number=part_number, size=size, s3_checksum=s3_checksum)
    if md5_hex:
        header.expected.CopyFrom(types_pb2.Checksum(type="md5", value=md5_hex))

    node, stub = c.owner(entry, name)
    part: storage_pb2.PartInfo = c.stream_in(node, stub.PutPart, storage_pb2.PutPartRequest(header=header), body,
                                             lambda chunk: storage_pb2.PutPartRequest(data=chunk),
                                             storage_pb2.PutPartRequest(eof=True))
    return part


def complete_upload(c: Cluster, entry: BucketEntry, name: str, upload_id: str,
                    parts: list[tuple[int, str]], *, if_absent: bool = False,
                    if_match_etag: str = "", custom: dict[str, str] | None = None) -> types_pb2.ObjAttrs:
    """Join the parts into the object; ``if_absent``/``if_match_etag`` are checked by the node at commit;
    ``custom`` is added to the metadata given at creation (S3: the composite checksum)."""
    req = storage_pb2.CompleteUploadRequest(
        bucket=remote.ref(entry), name=name, upload_id=upload_id,  # remote buckets: write through on completion
        parts=[storage_pb2.PartInfo(part_number=n, etag=etag) for n, etag in parts],
        if_absent=if_absent, if_match_etag=if_match_etag, custom=custom or {},
    )
    node, stub = c.owner(entry, name)
    with c.rpc(node):
        attrs: types_pb2.ObjAttrs = stub.CompleteUpload(req, timeout=commit_budget_s(COMPLETE_BUDGET_BYTES))
    return attrs


def abort_upload(c: Cluster, entry: BucketEntry, name: str, upload_id: str) -> None:
    node, stub = c.owner(entry, name)
    try:
        stub.AbortUpload(storage_pb2.UploadRequest(bucket=entry.ref(), name=name, upload_id=upload_id),
                         timeout=CONTROL_TIMEOUT_S)
    except grpc.RpcError as e:
        raise c.fail(e, node) from None


def list_parts(c: Cluster, entry: BucketEntry, name: str, upload_id: str) -> list[storage_pb2.PartInfo]:
    node, stub = c.owner(entry, name)
    try:
        resp = stub.ListParts(storage_pb2.UploadRequest(bucket=entry.ref(), name=name, upload_id=upload_id),
                              timeout=CONTROL_TIMEOUT_S)
        return list(resp.parts)
    except grpc.RpcError as e:
        raise c.fail(e, node) from None


def list_uploads(c: Cluster, entry: BucketEntry, prefix: str) -> list[storage_pb2.UploadInfo]:
    """Uploads in progress on every node, sorted by (name, initiation time)."""
    req = storage_pb2.ListUploadsRequest(bucket=entry.ref(), prefix=prefix)
    uploads: list[storage_pb2.UploadInfo] = []
    for node, stub in c.online_nodes():
        try:
            uploads.extend(stub.ListUploads(req, timeout=CONTROL_TIMEOUT_S).uploads)
        except grpc.RpcError as e:
            raise c.fail(e, node) from None
    return sorted(uploads, key=lambda u: (u.name, u.initiated_ns))
